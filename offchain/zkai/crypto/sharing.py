"""Additive secret sharing over F_r, output masks, salts, commitments and the share payload.

A secret vector x in F_r^n is split into k shares with s_1 + ... + s_k = x (mod r). Shares
s_1..s_{k-1} are uniform and independent of x; s_k = x - (s_1 + ... + s_{k-1}). Any k-1 of the
shares are therefore jointly uniform whatever x is (a one-time pad), which is what lets a node
compute on its share without learning anything. Each node j also gets an output mask m_j in
F_r^m (so its masked output W s_j + m_j reveals nothing either) and a salt, and the user posts
the commitment c_j = hash_vector(s_j || m_j || salt_j) (see `zkai.crypto.poseidon`).

Payload format (what is sealed to node j; version 1)
---------------------------------------------------
Calldata costs 16 gas per byte, so every share but one is sent as a 32-byte seed:

    offset  size    field
    0       1       version = 0x01
    1       1       kind: 0x00 = seeded share, 0x01 = explicit share
    2       2       n, the share length (big-endian)
    4       2       m, the mask length (big-endian)
    6       32      seed
    38      32*n    kind 0x01 only: s_j as n big-endian field elements (< r)

From the seed, `expand_seed(seed, label, count)` derives field elements as
SHAKE-256("zkai/share-payload/v1/" || label || seed), read 64 bytes per element and reduced
mod r (a 512-bit uniform integer mod a 254-bit prime is within 2^-258 of uniform). Labels:
"share" (s_j, kind 0x00 only), "mask" (m_j) and "salt" (salt_j, one element). A seeded payload
is 38 bytes, the explicit one 38 + 32n. Seeds are fresh `secrets.token_bytes(32)`, so a seeded
share is as good as a uniform one to anyone without the seed.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from zkai.crypto.field import BN254_R, is_field_element
from zkai.crypto.poseidon import hash_vector
from zkai.errors import ShareError

__all__ = [
    "PAYLOAD_VERSION",
    "SEED_BYTES",
    "ShareOpening",
    "SharePayload",
    "commit",
    "deal",
    "expand_seed",
    "random_field_element",
    "random_vector",
    "reconstruct",
    "split",
]

PAYLOAD_VERSION = 1
SEED_BYTES = 32
KIND_SEEDED = 0
KIND_EXPLICIT = 1
_HEADER = struct.Struct(">BBHH")
_DOMAIN = b"zkai/share-payload/v1/"
_MAX_LENGTH = 0xFFFF


def random_field_element() -> int:
    """A uniform element of F_r from the OS's CSPRNG."""
    return secrets.randbelow(BN254_R)


def random_vector(length: int) -> list[int]:
    """`length` independent uniform elements of F_r."""
    return [random_field_element() for _ in range(length)]


def _require_vector(values: Sequence[int], what: str, length: int | None = None) -> None:
    if length is not None and len(values) != length:
        raise ShareError(f"{what} has {len(values)} elements, expected {length}")
    for i, v in enumerate(values):
        if not is_field_element(v):
            raise ShareError(f"{what}[{i}] = {v!r} is not a field element in [0, r)")


def split(secret: Sequence[int], k: int) -> list[list[int]]:
    """k explicit additive shares of `secret` (k-1 uniform ones and the difference)."""
    if k < 1:
        raise ShareError(f"cannot split into {k} shares; k must be at least 1")
    _require_vector(secret, "secret")
    shares = [random_vector(len(secret)) for _ in range(k - 1)]
    last = [(x - sum(share[i] for share in shares)) % BN254_R for i, x in enumerate(secret)]
    return [*shares, last]


def reconstruct(shares: Sequence[Sequence[int]]) -> list[int]:
    """The element-wise sum of all shares mod r; every share must have the same length."""
    if not shares:
        raise ShareError("cannot reconstruct from zero shares")
    length = len(shares[0])
    for j, share in enumerate(shares):
        _require_vector(share, f"share {j}", length)
    return [sum(share[i] for share in shares) % BN254_R for i in range(length)]


def expand_seed(seed: bytes, label: str, count: int) -> list[int]:
    """`count` pseudo-random field elements from a 32-byte seed (see the module docstring)."""
    if len(seed) != SEED_BYTES:
        raise ShareError(f"a seed is {SEED_BYTES} bytes, got {len(seed)}")
    stream = hashlib.shake_256(_DOMAIN + label.encode() + b"/" + seed).digest(64 * count)
    return [int.from_bytes(stream[64 * i : 64 * (i + 1)], "big") % BN254_R for i in range(count)]


@dataclass(frozen=True)
class ShareOpening:
    """What node j needs to compute and prove: its share, its output mask and its salt."""

    share: tuple[int, ...]
    mask: tuple[int, ...]
    salt: int

    def __post_init__(self) -> None:
        _require_vector(self.share, "share")
        _require_vector(self.mask, "mask")
        _require_vector([self.salt], "salt")

    @property
    def commitment(self) -> int:
        """c_j = hash_vector(share || mask || salt)."""
        return commit(self.share, self.mask, self.salt)


def commit(share: Sequence[int], mask: Sequence[int], salt: int) -> int:
    """The commitment to one share: hash_vector(share || mask || salt)."""
    return hash_vector([*share, *mask, salt])


@dataclass(frozen=True)
class SharePayload:
    """The versioned plaintext sealed to one node: a seed, plus the share itself if explicit."""

    input_size: int
    output_size: int
    seed: bytes
    explicit_share: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.input_size <= _MAX_LENGTH or not 1 <= self.output_size <= _MAX_LENGTH:
            raise ShareError(
                f"share sizes must be in 1..{_MAX_LENGTH}, got n={self.input_size}, "
                f"m={self.output_size}"
            )
        if len(self.seed) != SEED_BYTES:
            raise ShareError(f"a seed is {SEED_BYTES} bytes, got {len(self.seed)}")
        if self.explicit_share is not None:
            _require_vector(self.explicit_share, "explicit share", self.input_size)

    def opening(self) -> ShareOpening:
        """Expand the seed into the share (unless explicit), the mask and the salt."""
        share = (
            self.explicit_share
            if self.explicit_share is not None
            else tuple(expand_seed(self.seed, "share", self.input_size))
        )
        return ShareOpening(
            share=tuple(share),
            mask=tuple(expand_seed(self.seed, "mask", self.output_size)),
            salt=expand_seed(self.seed, "salt", 1)[0],
        )

    def to_bytes(self) -> bytes:
        """The payload's wire format (module docstring)."""
        kind = KIND_SEEDED if self.explicit_share is None else KIND_EXPLICIT
        head = _HEADER.pack(PAYLOAD_VERSION, kind, self.input_size, self.output_size) + self.seed
        if self.explicit_share is None:
            return head
        return head + b"".join(v.to_bytes(32, "big") for v in self.explicit_share)

    @classmethod
    def from_bytes(
        cls, data: bytes, *, input_size: int | None = None, output_size: int | None = None
    ) -> SharePayload:
        """Parse a payload; `input_size` / `output_size`, when given, must match the header."""
        fixed = _HEADER.size + SEED_BYTES
        if len(data) < fixed:
            raise ShareError(f"share payload is {len(data)} bytes, shorter than {fixed}")
        version, kind, n, m = _HEADER.unpack_from(data)
        if version != PAYLOAD_VERSION:
            raise ShareError(f"share payload version {version} is not supported (expected 1)")
        if input_size is not None and n != input_size:
            raise ShareError(f"share payload is for {n} inputs, the model has {input_size}")
        if output_size is not None and m != output_size:
            raise ShareError(f"share payload is for {m} outputs, the model has {output_size}")
        seed = data[_HEADER.size : fixed]
        if kind == KIND_SEEDED:
            if len(data) != fixed:
                raise ShareError(f"seeded share payload must be {fixed} bytes, got {len(data)}")
            return cls(n, m, seed)
        if kind != KIND_EXPLICIT:
            raise ShareError(f"unknown share payload kind {kind}")
        if len(data) != fixed + 32 * n:
            raise ShareError(
                f"explicit share payload for n={n} must be {fixed + 32 * n} bytes, got {len(data)}"
            )
        body = data[fixed:]
        share = tuple(int.from_bytes(body[32 * i : 32 * (i + 1)], "big") for i in range(n))
        return cls(n, m, seed, share)


def deal(secret: Sequence[int], k: int, output_size: int) -> list[SharePayload]:
    """Payloads for k nodes: k-1 seeded shares and one explicit share that completes `secret`.

    Reconstructing the openings' shares gives `secret` back exactly.
    """
    if k < 1:
        raise ShareError(f"cannot deal {k} shares; k must be at least 1")
    _require_vector(secret, "secret")
    n = len(secret)
    seeded = [SharePayload(n, output_size, secrets.token_bytes(SEED_BYTES)) for _ in range(k - 1)]
    partial = [0] * n
    for payload in seeded:
        share = expand_seed(payload.seed, "share", n)
        partial = [(a + b) % BN254_R for a, b in zip(partial, share, strict=True)]
    last = tuple((x - p) % BN254_R for x, p in zip(secret, partial, strict=True))
    explicit = SharePayload(n, output_size, secrets.token_bytes(SEED_BYTES), last)
    return [*seeded, explicit]
