"""Query ids and assignment tags, computed exactly as `QueryMarket` computes them.

    queryId = keccak256(abi.encode(uint256 chainId, address market, address user, bytes32 salt))
    tag_a   = uint256(keccak256(abi.encode(string "zkai/v2/assignment", uint256 chainId,
                      address market, bytes32 queryId, uint256 part, address node))) mod r

The user picks the salt, so the id is known before the request is mined (the round-1
commitments of the first part, which the request carries, depend on it through the tags). The
contract computes every tag itself; no caller ever supplies one.
"""

from __future__ import annotations

import secrets

from eth_abi.abi import encode
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from zkai.crypto.field import BN254_R

__all__ = ["ASSIGNMENT_DOMAIN", "assignment_tag", "new_salt", "query_id"]

ASSIGNMENT_DOMAIN = "zkai/v2/assignment"


def new_salt() -> bytes:
    """A fresh 32-byte request salt (the query id is derived from it)."""
    return secrets.token_bytes(32)


def query_id(chain_id: int, market: str, user: str, salt: bytes) -> bytes:
    """keccak256(abi.encode(chainId, market, user, salt)) as 32 bytes."""
    if len(salt) != 32:
        raise ValueError(f"a request salt is 32 bytes, got {len(salt)}")
    return keccak(
        encode(
            ["uint256", "address", "address", "bytes32"],
            [chain_id, to_checksum_address(market), to_checksum_address(user), salt],
        )
    )


def assignment_tag(chain_id: int, market: str, query: bytes, part: int, node: str) -> int:
    """tag_a for the assignment (query, part, node), a BN254 field element."""
    if len(query) != 32:
        raise ValueError(f"a query id is 32 bytes, got {len(query)}")
    digest = keccak(
        encode(
            ["string", "uint256", "address", "bytes32", "uint256", "address"],
            [
                ASSIGNMENT_DOMAIN,
                chain_id,
                to_checksum_address(market),
                query,
                part,
                to_checksum_address(node),
            ],
        )
    )
    return int.from_bytes(digest, "big") % BN254_R
