"""ERC-2612 permits, so a query pays its fee in the same transaction that posts it."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from web3.contract import Contract


@dataclass(frozen=True)
class Permit:
    value: int
    deadline: int
    v: int
    r: bytes
    s: bytes

    def as_tuple(self) -> tuple[int, int, int, bytes, bytes]:
        """The `IQueryMarket.Permit` struct as web3 encodes it."""
        return (self.value, self.deadline, self.v, self.r, self.s)


def sign_permit(
    account: LocalAccount,
    token: Contract,
    spender: str,
    value: int,
    deadline: int,
    chain_id: int,
) -> Permit:
    """Sign `permit(owner, spender, value, deadline)` for `token` with the owner's key."""
    owner = account.address
    nonce = int(token.functions.nonces(owner).call())
    name = str(token.functions.name().call())
    # OpenZeppelin's ERC20Permit reports its EIP-712 domain (EIP-5267).
    domain = token.functions.eip712Domain().call()
    message = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": name,
            "version": str(domain[2]),
            "chainId": chain_id,
            "verifyingContract": token.address,
        },
        "message": {
            "owner": owner,
            "spender": spender,
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    }
    signed = account.sign_message(encode_typed_data(full_message=message))
    return Permit(
        value,
        deadline,
        int(signed.v),
        int(signed.r).to_bytes(32, "big"),
        int(signed.s).to_bytes(32, "big"),
    )
