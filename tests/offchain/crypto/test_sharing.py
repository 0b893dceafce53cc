"""Additive sharing: exact reconstruction, independence of k-1 shares, the payload format."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkai.crypto.field import BN254_R
from zkai.crypto.poseidon import hash_vector
from zkai.crypto.sharing import (
    SEED_BYTES,
    ShareOpening,
    SharePayload,
    commit,
    deal,
    expand_seed,
    reconstruct,
    split,
)
from zkai.errors import ShareError

field = st.integers(min_value=0, max_value=BN254_R - 1)
vectors = st.lists(field, min_size=1, max_size=12)


@given(vectors, st.integers(min_value=1, max_value=6))
def test_split_reconstructs_exactly(secret: list[int], k: int) -> None:
    shares = split(secret, k)
    assert len(shares) == k
    assert reconstruct(shares) == secret


@settings(max_examples=30)
@given(vectors, st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=4))
def test_deal_reconstructs_exactly(secret: list[int], k: int, m: int) -> None:
    payloads = deal(secret, k, m)
    openings = [SharePayload.from_bytes(p.to_bytes()).opening() for p in payloads]
    assert reconstruct([o.share for o in openings]) == secret
    assert all(len(o.mask) == m for o in openings)


def test_any_k_minus_1_dealt_shares_are_structurally_independent_of_the_secret() -> None:
    # The k-1 seeded payloads are drawn before the secret is used: with the same seeds, two
    # different secrets give identical seeded shares; only the explicit share differs.
    k, n = 4, 6
    payloads = deal([1] * n, k, 2)
    seeded = payloads[:-1]
    assert all(p.explicit_share is None for p in seeded)
    assert payloads[-1].explicit_share is not None
    seeded_sum = reconstruct([p.opening().share for p in seeded])
    for secret in ([0] * n, [BN254_R - 1] * n, list(range(n))):
        last = [(x - s) % BN254_R for x, s in zip(secret, seeded_sum, strict=True)]
        assert reconstruct([*(p.opening().share for p in seeded), last]) == secret


def test_any_k_minus_1_shares_look_uniform_whatever_the_secret() -> None:
    # Statistical check on a small projection: the low 2 bits of each element of any k-1 of
    # the shares are uniform (chi-square, 3 degrees of freedom) for two very different secrets.
    k, trials = 3, 1500
    for secret in ([0], [BN254_R - 1]):
        for dropped in range(k):
            counts: Counter[int] = Counter()
            for _ in range(trials):
                shares = split(secret, k)
                del shares[dropped]
                counts.update(share[0] & 3 for share in shares)
            expected = trials * (k - 1) / 4
            chi2 = sum((counts[v] - expected) ** 2 / expected for v in range(4))
            assert chi2 < 21.1  # p ~ 1e-4


def test_expand_seed_is_deterministic_and_label_separated() -> None:
    seed = bytes(range(SEED_BYTES))
    assert expand_seed(seed, "share", 5) == expand_seed(seed, "share", 5)
    assert expand_seed(seed, "share", 5)[:3] == expand_seed(seed, "share", 3)
    assert expand_seed(seed, "mask", 3) != expand_seed(seed, "share", 3)
    assert all(0 <= v < BN254_R for v in expand_seed(seed, "salt", 64))


def test_payload_sizes_are_compact() -> None:
    payloads = deal([5] * 64, 3, 10)
    sizes = [len(p.to_bytes()) for p in payloads]
    assert sizes == [38, 38, 38 + 32 * 64]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:-1], "must be"),
        (lambda b: b + b"\x00", "must be"),
        (lambda b: b"\x02" + b[1:], "version 2"),
        (lambda b: b[:1] + b"\x07" + b[2:], "unknown share payload kind"),
        (lambda b: b[:10], "shorter than"),
    ],
)
def test_malformed_payloads_raise_share_error(mutate: object, message: str) -> None:
    data = deal([1, 2, 3], 1, 2)[0].to_bytes()
    with pytest.raises(ShareError, match=message):
        SharePayload.from_bytes(mutate(data))  # type: ignore[operator]


def test_payload_for_another_model_shape_is_refused() -> None:
    data = deal([1, 2, 3], 2, 2)[0].to_bytes()
    with pytest.raises(ShareError, match="3 inputs, the model has 4"):
        SharePayload.from_bytes(data, input_size=4, output_size=2)
    with pytest.raises(ShareError, match="2 outputs, the model has 1"):
        SharePayload.from_bytes(data, input_size=3, output_size=1)


def test_explicit_share_outside_the_field_is_refused() -> None:
    payload = deal([1, 2], 1, 1)[0]
    data = bytearray(payload.to_bytes())
    data[38:70] = (BN254_R).to_bytes(32, "big")
    with pytest.raises(ShareError, match="not a field element"):
        SharePayload.from_bytes(bytes(data))


def test_commitment_is_the_vector_hash_of_share_mask_salt() -> None:
    opening = ShareOpening(share=(1, 2, 3), mask=(4,), salt=5)
    assert opening.commitment == commit([1, 2, 3], [4], 5) == hash_vector([1, 2, 3, 4, 5])
    assert ShareOpening(share=(1, 2, 3), mask=(4,), salt=6).commitment != opening.commitment


def test_reconstruct_rejects_mismatched_lengths() -> None:
    with pytest.raises(ShareError, match="expected 2"):
        reconstruct([[1, 2], [1, 2, 3]])
    with pytest.raises(ShareError, match="zero shares"):
        reconstruct([])
