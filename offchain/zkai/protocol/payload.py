"""The sealed payload of one round (protocol version 2) and how the user deals one round.

What the user seals to node j for round i of assignment a = (query, part, node): a header that
repeats everything the round is bound to, then the node's share, mask and salt. Like version 1's
payload, every share but one is a 32-byte seed; the last share of a round is explicit:

    offset  size    field
    0       1       version = 0x02
    1       1       kind: 0x00 = seeded share, 0x01 = explicit share
    2       32      chain id                (big-endian)
    34      20      market address
    54      32      query id
    86      4       part                    (big-endian)
    90      20      node address
    110     4       round i                 (big-endian, from 1)
    114     4       block b = block_p(i)    (big-endian)
    118     2       n, the share length     (big-endian)
    120     2       m, the mask length      (big-endian)
    122     32      seed
    154     32*n    kind 0x01 only: s as n big-endian field elements (each < r)

From the seed: field elements SHAKE-256("zkai/round-payload/v2/" || label || "/" || seed), 64
bytes per element reduced mod r, with labels "share" (kind 0x00 only), "mask" and "salt". Seeds
are fresh for every (assignment, round), so no share, mask or salt serves two rounds.

The node refuses a payload unless the header equals the signed Round and the recorded
assignment, the sizes are block b's and every explicit value is below r (`open_round_payload`
raises `ShareError` with the reason); only then does it check the commitment.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.address import to_canonical_address, to_checksum_address

from zkai.crypto.field import BN254_R, is_field_element
from zkai.crypto.transcript import round_commitment
from zkai.errors import ShareError

__all__ = [
    "PAYLOAD_VERSION",
    "RoundHeader",
    "RoundOpening",
    "RoundPayload",
    "deal_round",
    "expand_round_seed",
]

PAYLOAD_VERSION = 2
SEED_BYTES = 32
KIND_SEEDED = 0
KIND_EXPLICIT = 1
_HEAD = struct.Struct(">BB32s20s32sI20sIIHH")
_DOMAIN = b"zkai/round-payload/v2/"
_MAX_LENGTH = 0xFFFF


def expand_round_seed(seed: bytes, label: str, count: int) -> list[int]:
    """`count` pseudo-random field elements from a 32-byte seed (module docstring)."""
    if len(seed) != SEED_BYTES:
        raise ShareError(f"a seed is {SEED_BYTES} bytes, got {len(seed)}")
    stream = hashlib.shake_256(_DOMAIN + label.encode() + b"/" + seed).digest(64 * count)
    return [int.from_bytes(stream[64 * i : 64 * (i + 1)], "big") % BN254_R for i in range(count)]


@dataclass(frozen=True)
class RoundHeader:
    """What a round is bound to: chain, market, assignment, round, block and sizes."""

    chain_id: int
    market: str
    query_id: bytes
    part: int
    node: str
    round: int
    block: int
    input_size: int
    output_size: int

    def __post_init__(self) -> None:
        if len(self.query_id) != 32:
            raise ShareError(f"a query id is 32 bytes, got {len(self.query_id)}")
        if self.round < 1:
            raise ShareError(f"rounds are numbered from 1, got {self.round}")
        for what, size in (("share", self.input_size), ("mask", self.output_size)):
            if not 1 <= size <= _MAX_LENGTH:
                raise ShareError(f"{what} length must be in 1..{_MAX_LENGTH}, got {size}")
        object.__setattr__(self, "market", to_checksum_address(self.market))
        object.__setattr__(self, "node", to_checksum_address(self.node))


@dataclass(frozen=True)
class RoundOpening:
    """What the node computes and proves for one round: its share, mask and salt."""

    share: tuple[int, ...]
    mask: tuple[int, ...]
    salt: int

    def commitment(self, tag: int, header: RoundHeader) -> int:
        return round_commitment(tag, header.round, header.block, self.share, self.mask, self.salt)


@dataclass(frozen=True)
class RoundPayload:
    """The plaintext sealed to one node for one round (module docstring)."""

    header: RoundHeader
    seed: bytes
    explicit_share: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.seed) != SEED_BYTES:
            raise ShareError(f"a seed is {SEED_BYTES} bytes, got {len(self.seed)}")
        if self.explicit_share is not None:
            if len(self.explicit_share) != self.header.input_size:
                raise ShareError(
                    f"explicit share has {len(self.explicit_share)} values, "
                    f"the header says {self.header.input_size}"
                )
            if not all(is_field_element(v) for v in self.explicit_share):
                raise ShareError("an explicit share value is not below the field order r")

    def opening(self) -> RoundOpening:
        h = self.header
        share = (
            self.explicit_share
            if self.explicit_share is not None
            else tuple(expand_round_seed(self.seed, "share", h.input_size))
        )
        return RoundOpening(
            share=tuple(share),
            mask=tuple(expand_round_seed(self.seed, "mask", h.output_size)),
            salt=expand_round_seed(self.seed, "salt", 1)[0],
        )

    def to_bytes(self) -> bytes:
        h = self.header
        kind = KIND_SEEDED if self.explicit_share is None else KIND_EXPLICIT
        head = _HEAD.pack(
            PAYLOAD_VERSION,
            kind,
            h.chain_id.to_bytes(32, "big"),
            to_canonical_address(h.market),
            h.query_id,
            h.part,
            to_canonical_address(h.node),
            h.round,
            h.block,
            h.input_size,
            h.output_size,
        )
        body = b"" if self.explicit_share is None else _pack(self.explicit_share)
        return head + self.seed + body

    @classmethod
    def from_bytes(cls, data: bytes) -> RoundPayload:
        """Parse a payload (`ShareError` with the reason if it is malformed)."""
        fixed = _HEAD.size + SEED_BYTES
        if len(data) < fixed:
            raise ShareError(f"round payload is {len(data)} bytes, shorter than {fixed}")
        version, kind, chain, market, query, part, node, i, block, n, m = _HEAD.unpack_from(data)
        if version != PAYLOAD_VERSION:
            raise ShareError(f"round payload version {version} is not supported (expected 2)")
        if kind not in (KIND_SEEDED, KIND_EXPLICIT):
            raise ShareError(f"unknown round payload kind {kind}")
        header = RoundHeader(
            chain_id=int.from_bytes(chain, "big"),
            market=to_checksum_address(market),
            query_id=query,
            part=part,
            node=to_checksum_address(node),
            round=i,
            block=block,
            input_size=n,
            output_size=m,
        )
        seed = data[_HEAD.size : fixed]
        expected = fixed if kind == KIND_SEEDED else fixed + 32 * n
        if len(data) != expected:
            raise ShareError(f"round payload must be {expected} bytes, got {len(data)}")
        if kind == KIND_SEEDED:
            return cls(header, seed)
        body = data[fixed:]
        share = tuple(int.from_bytes(body[32 * j : 32 * (j + 1)], "big") for j in range(n))
        return cls(header, seed, share)


def _pack(values: Sequence[int]) -> bytes:
    return b"".join(v.to_bytes(32, "big") for v in values)


def deal_round(secret: Sequence[int], headers: Sequence[RoundHeader]) -> list[RoundPayload]:
    """One round's payloads for the k nodes of a part: the shares sum to `secret` (mod r).

    `headers` are the k nodes' headers (same block, sizes and round number for a one-block round;
    each with its own node). Every payload gets a fresh seed; the last one carries its share
    explicitly so that the shares sum to the secret.
    """
    if not headers:
        raise ShareError("a round needs at least one node")
    n = len(secret)
    if not all(is_field_element(v) for v in secret):
        raise ShareError("a secret value is not below the field order r")
    for h in headers:
        if h.input_size != n:
            raise ShareError(f"header for {h.node} is for {h.input_size} inputs, secret has {n}")
    seeded = [RoundPayload(h, secrets.token_bytes(SEED_BYTES)) for h in headers[:-1]]
    partial = [0] * n
    for payload in seeded:
        share = expand_round_seed(payload.seed, "share", n)
        partial = [(a + b) % BN254_R for a, b in zip(partial, share, strict=True)]
    last = tuple((x - p) % BN254_R for x, p in zip(secret, partial, strict=True))
    return [*seeded, RoundPayload(headers[-1], secrets.token_bytes(SEED_BYTES), last)]
