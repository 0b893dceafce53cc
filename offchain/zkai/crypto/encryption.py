"""Sealing share payloads to a node's X25519 public key (libsodium sealed boxes via PyNaCl).

A sealed box encrypts to a public key with a fresh ephemeral key pair (X25519 + XSalsa20-
Poly1305); only the holder of the matching private key can open it, and any change to the
ciphertext makes opening fail authentication. Overhead: 48 bytes (32-byte ephemeral public key
and a 16-byte tag). Keys are raw 32-byte strings, the form nodes register on-chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from zkai.errors import DecryptionError

__all__ = [
    "KEY_BYTES",
    "SEAL_OVERHEAD",
    "NodeKeyPair",
    "generate_keypair",
    "open_sealed",
    "public_key_of",
    "seal",
]

KEY_BYTES = 32
SEAL_OVERHEAD = 48


@dataclass(frozen=True)
class NodeKeyPair:
    """A node's encryption key pair (raw X25519 keys)."""

    private_key: bytes
    public_key: bytes


def generate_keypair() -> NodeKeyPair:
    """A fresh X25519 key pair."""
    private = PrivateKey.generate()
    return NodeKeyPair(bytes(private), bytes(private.public_key))


def public_key_of(private_key: bytes) -> bytes:
    """The public key belonging to a raw private key."""
    _require_key(private_key, "private key")
    return bytes(PrivateKey(private_key).public_key)


def _require_key(key: bytes, what: str) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        size = len(key) if isinstance(key, bytes | bytearray) else type(key).__name__
        raise DecryptionError(f"an X25519 {what} is {KEY_BYTES} bytes, got {size}")


def seal(public_key: bytes, plaintext: bytes) -> bytes:
    """Encrypt `plaintext` so that only the holder of `public_key`'s private key can read it."""
    _require_key(public_key, "public key")
    return bytes(SealedBox(PublicKey(bytes(public_key))).encrypt(plaintext))


def open_sealed(private_key: bytes, ciphertext: bytes) -> bytes:
    """Decrypt a sealed box; `DecryptionError` if it was tampered with or sealed to another key."""
    _require_key(private_key, "private key")
    if len(ciphertext) < SEAL_OVERHEAD:
        raise DecryptionError(
            f"ciphertext is {len(ciphertext)} bytes, shorter than the {SEAL_OVERHEAD}-byte "
            "sealed-box overhead"
        )
    try:
        return bytes(SealedBox(PrivateKey(bytes(private_key))).decrypt(bytes(ciphertext)))
    except CryptoError as exc:
        raise DecryptionError(
            "sealed box failed authentication: the ciphertext was modified or is not sealed to "
            "this node's key"
        ) from exc
