"""Fixed-point values as elements of the BN254 scalar field, and back.

Every number the circuits see is an element of F_r, r the order of BN254's G1 (the field circom
and Groth16 on Ethereum work in). Signed integers are embedded the usual way: v >= 0 maps to v,
v < 0 maps to r - |v|. Decoding takes the representative in [-(r-1)/2, (r-1)/2], so an encoding
round-trips exactly for every |v| <= (r-1)/2 = `MAX_SIGNED`. Anything larger would wrap
silently in the field, so encoding refuses it with `EncodingOverflowError`.

Real numbers are fixed-point: x is stored as round(x * 2**scale_bits). Scales are powers of two
(the manifest stores the exponent). A product of values at scales a and b is at scale a + b,
which is how a linear layer's output scale comes about (input scale + weight scale).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from zkai.errors import EncodingOverflowError

__all__ = [
    "BN254_R",
    "MAX_SCALE_BITS",
    "MAX_SIGNED",
    "decode_fixed",
    "decode_signed",
    "decode_signed_vector",
    "encode_fixed",
    "encode_signed",
    "encode_signed_vector",
    "is_field_element",
    "quantise",
    "quantise_vector",
    "require_field_elements",
]

BN254_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
"""The BN254 scalar field order r (circom's prime, the field of Ethereum's Groth16 verifiers)."""

MAX_SIGNED = (BN254_R - 1) // 2
"""The largest |v| a signed integer may have to survive the round trip through F_r."""

MAX_SCALE_BITS = 64
"""Upper bound on a fixed-point scale exponent (keeps every derived bound far from r)."""


def _check_scale(scale_bits: int) -> None:
    if not 0 <= scale_bits <= MAX_SCALE_BITS:
        raise EncodingOverflowError(f"scale exponent {scale_bits} is outside [0, {MAX_SCALE_BITS}]")


def quantise(value: float, scale_bits: int, *, what: str = "value") -> int:
    """round(value * 2**scale_bits) as an int; refuses NaN, infinities and |v| > MAX_SIGNED."""
    _check_scale(scale_bits)
    if not math.isfinite(value):
        raise EncodingOverflowError(f"{what} = {value!r} is not a finite number")
    scaled = round(value * (1 << scale_bits))
    if abs(scaled) > MAX_SIGNED:
        raise EncodingOverflowError(
            f"{what} = {value!r} at scale 2**{scale_bits} is {scaled}, beyond the field's signed "
            f"limit {MAX_SIGNED} = (r-1)/2"
        )
    return int(scaled)


def quantise_vector(values: Iterable[float], scale_bits: int, *, what: str = "value") -> list[int]:
    """`quantise` for each element; the error names the index of the offending value."""
    return [quantise(float(v), scale_bits, what=f"{what}[{i}]") for i, v in enumerate(values)]


def encode_signed(value: int, *, what: str = "value") -> int:
    """The field element of a signed integer: v or r - |v|; refuses |v| > (r-1)/2."""
    if abs(value) > MAX_SIGNED:
        raise EncodingOverflowError(
            f"{what} = {value} is beyond the field's signed limit {MAX_SIGNED} = (r-1)/2"
        )
    return value % BN254_R


def encode_signed_vector(values: Iterable[int], *, what: str = "value") -> list[int]:
    """`encode_signed` for each element; the error names the index of the offending value."""
    return [encode_signed(int(v), what=f"{what}[{i}]") for i, v in enumerate(values)]


def is_field_element(value: object) -> bool:
    """True for a Python int in [0, r)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < BN254_R


def require_field_elements(values: Sequence[int], *, what: str = "value") -> None:
    """Raise `EncodingOverflowError` naming the first element that is not in [0, r)."""
    for i, v in enumerate(values):
        if not is_field_element(v):
            raise EncodingOverflowError(f"{what}[{i}] = {v!r} is not a field element in [0, r)")


def decode_signed(element: int, *, what: str = "element") -> int:
    """The signed integer of a field element: the representative in [-(r-1)/2, (r-1)/2]."""
    if not is_field_element(element):
        raise EncodingOverflowError(f"{what} = {element!r} is not a field element in [0, r)")
    return element if element <= MAX_SIGNED else element - BN254_R


def decode_signed_vector(elements: Iterable[int], *, what: str = "element") -> list[int]:
    """`decode_signed` for each element."""
    return [decode_signed(e, what=f"{what}[{i}]") for i, e in enumerate(elements)]


def encode_fixed(value: float, scale_bits: int, *, what: str = "value") -> int:
    """A real number as a field element at scale 2**scale_bits (quantise, then embed)."""
    return encode_signed(quantise(value, scale_bits, what=what), what=what)


def decode_fixed(element: int, scale_bits: int, *, what: str = "element") -> float:
    """A field element at scale 2**scale_bits back to a float (exact up to float rounding)."""
    _check_scale(scale_bits)
    return decode_signed(element, what=what) / (1 << scale_bits)
