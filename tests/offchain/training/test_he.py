"""CKKS encryption, the streaming sum and the key holder (`zkai.training.he`)."""

from __future__ import annotations

import numpy as np
import pytest
import tenseal as ts
from hypothesis import given, settings
from hypothesis import strategies as st

from zkai.errors import TrainingError, UpdateRejectedError
from zkai.training.he import (
    ERROR_BOUND,
    KIND_UPDATE,
    MAX_UPDATE_ABS,
    CkksParameters,
    EncryptedSum,
    Envelope,
    KeyHolder,
    encrypt_update,
    load_public_context,
    measure_error,
    sum_updates,
)

DIGITS_P = 650


@settings(max_examples=5, deadline=None)
@given(
    updates=st.integers(3, 10),
    magnitude=st.sampled_from([1e-3, 1.0, 500.0, MAX_UPDATE_ABS]),
    seed=st.integers(0, 2**32 - 1),
)
def test_decrypt_sum_matches_plaintext_within_bound(
    key_holder: KeyHolder, updates: int, magnitude: float, seed: int
) -> None:
    values = np.random.default_rng(seed).uniform(-magnitude, magnitude, (updates, DIGITS_P))
    public = key_holder.public_context()
    total = sum_updates(public, DIGITS_P, (encrypt_update(public, v) for v in values))
    decrypted = key_holder.decrypt_sum(total)
    assert decrypted.shape == (DIGITS_P,)
    assert np.max(np.abs(decrypted - values.sum(axis=0))) <= ERROR_BOUND


def test_measure_error_for_digits_within_bound() -> None:
    rows = measure_error(DIGITS_P, range(3, 11))
    assert [row["updates"] for row in rows] == list(range(3, 11))
    assert all(row["max_abs_error"] <= ERROR_BOUND for row in rows)
    assert all(row["update_bytes"] < 70_000 for row in rows)


def test_encrypt_update_chunks_a_long_vector(key_holder: KeyHolder) -> None:
    size = 2 * CkksParameters.default().slots + 5
    values = np.random.default_rng(1).normal(size=(3, size))
    public = key_holder.public_context()
    encrypted = [encrypt_update(public, v) for v in values]
    assert len(Envelope.from_bytes(encrypted[0]).chunks) == 3
    decrypted = key_holder.decrypt_sum(sum_updates(public, size, encrypted))
    assert np.max(np.abs(decrypted - values.sum(axis=0))) <= ERROR_BOUND


def test_public_context_has_no_secret_key_and_cannot_decrypt(key_holder: KeyHolder) -> None:
    public = ts.context_from(key_holder.public_context())
    assert not public.has_secret_key()
    assert not public.is_private()
    assert public.is_public()
    vector = ts.ckks_vector_from(
        public, Envelope.from_bytes(encrypt_update(key_holder.public_context(), [1.0])).chunks[0]
    )
    with pytest.raises(ValueError, match="secret"):
        vector.decrypt()
    with pytest.raises(ValueError, match="public"):
        public.secret_key()


def test_aggregator_refuses_a_context_with_secret_key(key_holder: KeyHolder) -> None:
    with pytest.raises(TrainingError, match="secret key"):
        load_public_context(key_holder.secret_bytes())
    with pytest.raises(TrainingError, match="secret key"):
        EncryptedSum(key_holder.secret_bytes(), DIGITS_P)


def _sum_of(key_holder: KeyHolder, count: int) -> tuple[EncryptedSum, np.ndarray]:
    values = np.random.default_rng(7).normal(size=(count, DIGITS_P))
    accumulator = EncryptedSum(key_holder.public_context(), DIGITS_P)
    for v in values:
        accumulator.add(encrypt_update(key_holder.public_context(), v))
    return accumulator, values.sum(axis=0)


def _assert_unchanged(
    key_holder: KeyHolder, accumulator: EncryptedSum, expected: np.ndarray
) -> None:
    assert accumulator.updates == 2
    decrypted = key_holder.decrypt_sum(accumulator.to_bytes())
    assert np.max(np.abs(decrypted - expected)) <= ERROR_BOUND


def test_add_update_from_another_context_rejected_sum_unchanged(key_holder: KeyHolder) -> None:
    accumulator, expected = _sum_of(key_holder, 2)
    other = KeyHolder.generate()
    with pytest.raises(UpdateRejectedError, match="wrong-context") as info:
        accumulator.add(encrypt_update(other.public_context(), np.ones(DIGITS_P)))
    assert info.value.reason == "wrong-context"
    _assert_unchanged(key_holder, accumulator, expected)


def test_add_forged_fingerprint_other_parameters_rejected(key_holder: KeyHolder) -> None:
    """A ciphertext under other CKKS parameters fails to load even with the right fingerprint."""
    accumulator, expected = _sum_of(key_holder, 2)
    other = KeyHolder.generate(CkksParameters(8192, (60, 40, 60), 40))
    foreign = Envelope.from_bytes(encrypt_update(other.public_context(), np.ones(DIGITS_P)))
    forged = Envelope(KIND_UPDATE, key_holder.fingerprint, DIGITS_P, 1, foreign.chunks)
    with pytest.raises(UpdateRejectedError, match="does not load") as info:
        accumulator.add(forged.to_bytes())
    assert info.value.reason == "wrong-context"
    _assert_unchanged(key_holder, accumulator, expected)


@pytest.mark.parametrize("size", [649, 651, 1])
def test_add_wrong_size_rejected_sum_unchanged(key_holder: KeyHolder, size: int) -> None:
    accumulator, expected = _sum_of(key_holder, 2)
    with pytest.raises(UpdateRejectedError, match=f"has {size} parameters") as info:
        accumulator.add(encrypt_update(key_holder.public_context(), np.ones(size)))
    assert info.value.reason == "wrong-size"
    _assert_unchanged(key_holder, accumulator, expected)


def test_add_lying_header_rejected(key_holder: KeyHolder) -> None:
    """A 10-value ciphertext in an envelope that claims 650 values is caught per chunk."""
    accumulator, expected = _sum_of(key_holder, 2)
    short = Envelope.from_bytes(encrypt_update(key_holder.public_context(), np.ones(10)))
    lying = Envelope(KIND_UPDATE, short.fingerprint, DIGITS_P, 1, short.chunks)
    with pytest.raises(UpdateRejectedError, match="holds 10 values, 650 expected"):
        accumulator.add(lying.to_bytes())
    _assert_unchanged(key_holder, accumulator, expected)


@pytest.mark.parametrize("data", [b"", b"ZKHE", b"nonsense" * 20])
def test_add_malformed_rejected(key_holder: KeyHolder, data: bytes) -> None:
    accumulator, expected = _sum_of(key_holder, 2)
    with pytest.raises(UpdateRejectedError) as info:
        accumulator.add(data)
    assert info.value.reason == "malformed"
    _assert_unchanged(key_holder, accumulator, expected)


def test_key_holder_decrypts_only_sums(key_holder: KeyHolder) -> None:
    update = encrypt_update(key_holder.public_context(), np.ones(DIGITS_P))
    with pytest.raises(TrainingError, match="sums only"):
        key_holder.decrypt_sum(update)
    single = sum_updates(key_holder.public_context(), DIGITS_P, [update])
    with pytest.raises(TrainingError, match="fewer than the 2 required"):
        key_holder.decrypt_sum(single, min_updates=2)


def test_encrypt_update_refuses_values_that_could_wrap(key_holder: KeyHolder) -> None:
    with pytest.raises(TrainingError, match="exceeds"):
        encrypt_update(key_holder.public_context(), [2 * MAX_UPDATE_ABS])
    with pytest.raises(TrainingError, match="finite"):
        encrypt_update(key_holder.public_context(), [float("nan")])


def test_insecure_parameters_refused_by_seal() -> None:
    with pytest.raises(ValueError, match="encryption parameters"):
        KeyHolder.generate(CkksParameters(4096, (60, 60), 30))


def test_key_holder_round_trips_its_secret(key_holder: KeyHolder) -> None:
    restored = KeyHolder.from_secret_bytes(key_holder.secret_bytes())
    total, expected = _sum_of(key_holder, 2)
    assert np.max(np.abs(restored.decrypt_sum(total.to_bytes()) - expected)) <= ERROR_BOUND
