"""Field encoding: exact round trips in the signed range, clear errors outside it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zkai.crypto.field import (
    BN254_R,
    MAX_SIGNED,
    decode_fixed,
    decode_signed,
    encode_fixed,
    encode_signed,
    quantise,
)
from zkai.errors import EncodingOverflowError

signed = st.integers(min_value=-MAX_SIGNED, max_value=MAX_SIGNED)


@given(signed)
def test_encode_signed_round_trips(value: int) -> None:
    element = encode_signed(value)
    assert 0 <= element < BN254_R
    assert decode_signed(element) == value


@given(st.integers(min_value=MAX_SIGNED + 1, max_value=10 * BN254_R))
def test_encode_signed_refuses_values_beyond_half_r(value: int) -> None:
    for v in (value, -value):
        with pytest.raises(EncodingOverflowError, match="signed limit"):
            encode_signed(v, what="x[3]")


def test_encode_signed_negative_is_r_minus_magnitude() -> None:
    assert encode_signed(-1) == BN254_R - 1
    assert encode_signed(MAX_SIGNED) == MAX_SIGNED
    assert decode_signed(MAX_SIGNED + 1) == -MAX_SIGNED


def test_overflow_message_names_the_value_and_the_limit() -> None:
    with pytest.raises(EncodingOverflowError) as info:
        encode_signed(MAX_SIGNED + 1, what="input[7]")
    assert "input[7]" in str(info.value)
    assert str(MAX_SIGNED) in str(info.value)


@given(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.integers(min_value=0, max_value=40),
)
def test_encode_fixed_round_trips_within_half_a_step(value: float, bits: int) -> None:
    decoded = decode_fixed(encode_fixed(value, bits), bits)
    assert abs(decoded - value) <= 0.5 / (1 << bits) + 1e-9 * abs(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_quantise_refuses_non_finite(bad: float) -> None:
    with pytest.raises(EncodingOverflowError, match="not a finite number"):
        quantise(bad, 8)


def test_quantise_refuses_values_that_would_wrap() -> None:
    with pytest.raises(EncodingOverflowError, match="signed limit"):
        quantise(2.0**250, 16)


@pytest.mark.parametrize("bad", [-1, BN254_R, BN254_R + 5])
def test_decode_refuses_non_field_elements(bad: int) -> None:
    with pytest.raises(EncodingOverflowError, match="not a field element"):
        decode_signed(bad)


def test_scale_out_of_bounds_is_refused() -> None:
    with pytest.raises(EncodingOverflowError, match="scale exponent"):
        quantise(1.0, 65)
