"""Sealed boxes: round trip, and authenticated failure on any tampering or wrong key."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkai.crypto.encryption import (
    SEAL_OVERHEAD,
    generate_keypair,
    open_sealed,
    public_key_of,
    seal,
)
from zkai.errors import DecryptionError

KEYS = generate_keypair()


@given(st.binary(max_size=600))
def test_seal_round_trips(plaintext: bytes) -> None:
    ciphertext = seal(KEYS.public_key, plaintext)
    assert len(ciphertext) == len(plaintext) + SEAL_OVERHEAD
    assert open_sealed(KEYS.private_key, ciphertext) == plaintext


@settings(max_examples=60)
@given(st.binary(min_size=1, max_size=200), st.data())
def test_any_tampering_fails_authentication(plaintext: bytes, data: st.DataObject) -> None:
    ciphertext = bytearray(seal(KEYS.public_key, plaintext))
    index = data.draw(st.integers(min_value=0, max_value=len(ciphertext) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    ciphertext[index] ^= flip
    with pytest.raises(DecryptionError, match="failed authentication"):
        open_sealed(KEYS.private_key, bytes(ciphertext))


def test_truncated_ciphertext_fails_cleanly() -> None:
    ciphertext = seal(KEYS.public_key, b"share")
    with pytest.raises(DecryptionError):
        open_sealed(KEYS.private_key, ciphertext[:-1])
    with pytest.raises(DecryptionError, match="shorter than"):
        open_sealed(KEYS.private_key, ciphertext[:10])


def test_another_nodes_key_cannot_open() -> None:
    other = generate_keypair()
    with pytest.raises(DecryptionError):
        open_sealed(other.private_key, seal(KEYS.public_key, b"share"))


def test_public_key_of_matches_and_bad_keys_are_refused() -> None:
    assert public_key_of(KEYS.private_key) == KEYS.public_key
    with pytest.raises(DecryptionError, match="32 bytes"):
        seal(b"short", b"x")
