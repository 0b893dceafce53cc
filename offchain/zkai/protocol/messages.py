"""The two signed messages of protocol version 2, as EIP-712 typed data.

Domain: {name "ZKAI QueryMarket", version "2", chainId, verifyingContract = the market}. Types:

    Round(bytes32 queryId,uint256 part,address node,uint256 round,uint256 commitment,
          uint256 inputTranscript,uint256 prevOutputTranscript)
        signed by the query's session key: "serve round `round` of this assignment, whose
        commitment is c_i, transcript T_i, after the outputs you acknowledged up to O_{i-1}".
        The one for the last round is the node's authorisation to be paid for rounds 1..n.

    Ack(bytes32 queryId,uint256 part,address node,uint256 round,uint256 inputTranscript,
        uint256 outputTranscript)
        signed by the node's ack signer: "I served round i of T_i and answered O_i". Slash evidence
        against a node that then does not prove it.

Signatures are 65 bytes r || s || v with v in {27, 28} and s in the lower half of the curve order
(what OpenZeppelin's ECDSA accepts; eth-account produces exactly these). `recover_*` applies the
same rules as the contract, so a signature accepted here is accepted on-chain and vice versa.
Nothing is ever deduplicated by signature bytes: state is keyed by (query, part, node, round).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from zkai.errors import SignatureError

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "SIGNATURE_BYTES",
    "AckMessage",
    "Domain",
    "RoundMessage",
]

DOMAIN_NAME = "ZKAI QueryMarket"
DOMAIN_VERSION = "2"
SIGNATURE_BYTES = 65
_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0

_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_ROUND_TYPE = [
    {"name": "queryId", "type": "bytes32"},
    {"name": "part", "type": "uint256"},
    {"name": "node", "type": "address"},
    {"name": "round", "type": "uint256"},
    {"name": "commitment", "type": "uint256"},
    {"name": "inputTranscript", "type": "uint256"},
    {"name": "prevOutputTranscript", "type": "uint256"},
]
_ACK_TYPE = [
    {"name": "queryId", "type": "bytes32"},
    {"name": "part", "type": "uint256"},
    {"name": "node", "type": "address"},
    {"name": "round", "type": "uint256"},
    {"name": "inputTranscript", "type": "uint256"},
    {"name": "outputTranscript", "type": "uint256"},
]


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain of one market deployment."""

    chain_id: int
    market: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.market),
        }


def _require_signature(signature: bytes) -> None:
    if len(signature) != SIGNATURE_BYTES:
        raise SignatureError(f"a signature is {SIGNATURE_BYTES} bytes, got {len(signature)}")
    s = int.from_bytes(signature[32:64], "big")
    if s > _SECP256K1_HALF_N:
        raise SignatureError("signature has a high s value (malleable form), refused")
    if signature[64] not in (27, 28):
        raise SignatureError(f"signature v must be 27 or 28, got {signature[64]}")


def _sign(account: LocalAccount, message: SignableMessage) -> bytes:
    signed = account.sign_message(message)
    return bytes(signed.signature)


def _recover(message: SignableMessage, signature: bytes) -> str:
    _require_signature(signature)
    try:
        return str(Account.recover_message(message, signature=signature))
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"signature does not recover: {exc}") from exc


@dataclass(frozen=True)
class RoundMessage:
    """Round(queryId, part, node, round, commitment, inputTranscript, prevOutputTranscript)."""

    query_id: bytes
    part: int
    node: str
    round: int
    commitment: int
    input_transcript: int
    prev_output_transcript: int

    def typed_data(self, domain: Domain) -> dict[str, Any]:
        return {
            "types": {"EIP712Domain": _DOMAIN_TYPE, "Round": _ROUND_TYPE},
            "primaryType": "Round",
            "domain": domain.as_dict(),
            "message": {
                "queryId": self.query_id,
                "part": self.part,
                "node": to_checksum_address(self.node),
                "round": self.round,
                "commitment": self.commitment,
                "inputTranscript": self.input_transcript,
                "prevOutputTranscript": self.prev_output_transcript,
            },
        }

    def signable(self, domain: Domain) -> SignableMessage:
        return encode_typed_data(full_message=self.typed_data(domain))

    def sign(self, domain: Domain, session_key: LocalAccount) -> bytes:
        return _sign(session_key, self.signable(domain))

    def signer(self, domain: Domain, signature: bytes) -> str:
        """The address that signed this message (SignatureError if the signature is malformed)."""
        return _recover(self.signable(domain), signature)


@dataclass(frozen=True)
class AckMessage:
    """Ack(queryId, part, node, round, inputTranscript, outputTranscript)."""

    query_id: bytes
    part: int
    node: str
    round: int
    input_transcript: int
    output_transcript: int

    def typed_data(self, domain: Domain) -> dict[str, Any]:
        return {
            "types": {"EIP712Domain": _DOMAIN_TYPE, "Ack": _ACK_TYPE},
            "primaryType": "Ack",
            "domain": domain.as_dict(),
            "message": {
                "queryId": self.query_id,
                "part": self.part,
                "node": to_checksum_address(self.node),
                "round": self.round,
                "inputTranscript": self.input_transcript,
                "outputTranscript": self.output_transcript,
            },
        }

    def signable(self, domain: Domain) -> SignableMessage:
        return encode_typed_data(full_message=self.typed_data(domain))

    def sign(self, domain: Domain, ack_signer: LocalAccount) -> bytes:
        return _sign(ack_signer, self.signable(domain))

    def signer(self, domain: Domain, signature: bytes) -> str:
        return _recover(self.signable(domain), signature)
