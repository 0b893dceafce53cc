"""The steps of a "zkai-model/2" manifest: linear blocks (the nodes') and user steps (the user's).

A manifest is an ordered list of steps. Linear blocks are what nodes compute on secret shares and
prove; user steps run on the user's device on reconstructed values, between blocks:

    {"kind": "linear", "W": [[int]], "b": [int]}     y = W x + b over the integers
    {"kind": "relu"}                                   y = max(x, 0)
    {"kind": "rescale", "shift": s, "min": lo, "max": hi}
                                                       y = clamp(round(x / 2**s), lo, hi)

`rescale` divides by 2**s with rounding half up, exactly: (x + 2**(s-1)) >> s with Python's
floor shift (so -2.5 -> -2, 2.5 -> 3), then clamps into [lo, hi]. The clamp is what bounds the
next block's input, so its worst-case output can be checked before any query runs; a clamped
value is flagged (`StepResult.clamped`). Scales: a linear block's output is at its input's scale
times 2**weight_scale_bits; `rescale` by s divides the scale by 2**s.

Values flow as Python integers (signed). Nodes see only field elements: a block's `apply` is the
node's W s + m (mod r), with NO bias; the user reconstructs with `reconstruct` (decode the signed
sum, add b).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zkai.crypto.field import BN254_R, MAX_SIGNED, is_field_element
from zkai.errors import EncodingOverflowError, InvalidInputError, ModelFormatError, ShareError

__all__ = [
    "LINEAR",
    "MAX_DIMENSION",
    "Interval",
    "LinearBlock",
    "Relu",
    "Rescale",
    "Step",
    "StepResult",
    "UserStep",
    "parse_step",
    "round_shift",
]

LINEAR = "linear"
MAX_DIMENSION = 4096
MAX_SHIFT = 128
Interval = tuple[tuple[int, ...], tuple[int, ...]]
"""Per-value (minima, maxima) of a vector."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_vector(value: object, what: str, size: int | None = None) -> tuple[int, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise ModelFormatError(f"{what} must be a list of integers")
    if size is not None and len(value) != size:
        raise ModelFormatError(f"{what} must have {size} integers, got {len(value)}")
    for i, v in enumerate(value):
        if not _is_int(v):
            raise ModelFormatError(f"{what}[{i}] = {v!r} is not an integer")
    return tuple(value)


def round_shift(value: int, shift: int) -> int:
    """value / 2**shift rounded half up, in exact integer arithmetic."""
    if shift == 0:
        return value
    return (value + (1 << (shift - 1))) >> shift


@dataclass(frozen=True)
class StepResult:
    """Values after a run of user steps, and how many of them a clamp changed."""

    values: tuple[int, ...]
    clamped: int = 0


@dataclass(frozen=True)
class LinearBlock:
    """A linear block y = W x + b: W (outputs x inputs) a circuit constant, b added by the user."""

    index: int
    weights: tuple[tuple[int, ...], ...]
    bias: tuple[int, ...]

    def __post_init__(self) -> None:
        what = f"block {self.index}"
        if not isinstance(self.weights, Sequence) or not self.weights:
            raise ModelFormatError(f"{what}: W must be a non-empty list of rows")
        rows = len(self.weights)
        first = self.weights[0]
        cols = len(first) if isinstance(first, Sequence) else 0
        if not 1 <= rows <= MAX_DIMENSION or not 1 <= cols <= MAX_DIMENSION:
            raise ModelFormatError(
                f"{what}: W must be 1..{MAX_DIMENSION} rows of 1..{MAX_DIMENSION} integers"
            )
        weights = tuple(
            _int_vector(row, f"{what} W[{i}]", cols) for i, row in enumerate(self.weights)
        )
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "bias", _int_vector(self.bias, f"{what} b", rows))

    @property
    def input_size(self) -> int:
        return len(self.weights[0])

    @property
    def output_size(self) -> int:
        return len(self.weights)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": LINEAR, "W": [list(r) for r in self.weights], "b": list(self.bias)}

    def bound(self, magnitude: Sequence[int]) -> tuple[int, ...]:
        """Worst case |W x + b| per output for |x_k| <= magnitude[k] (version 1's check)."""
        return tuple(
            sum(abs(w) * a for w, a in zip(row, magnitude, strict=True)) + abs(b)
            for row, b in zip(self.weights, self.bias, strict=True)
        )

    def check_bound(self, magnitude: Sequence[int], *, context: str) -> tuple[int, ...]:
        """`bound`, raising `EncodingOverflowError` if an output could pass (r-1)/2."""
        bounds = self.bound(magnitude)
        for i, value in enumerate(bounds):
            if value > MAX_SIGNED:
                raise EncodingOverflowError(
                    f"output {i} of block {self.index} can reach |y| <= {value} {context}, "
                    f"beyond the field's signed limit {MAX_SIGNED} = (r-1)/2; lower the scales"
                )
        return bounds

    def output_interval(self, interval: Interval) -> Interval:
        """Exact interval of W x + b for x in the per-value interval."""
        lows, highs = interval
        out_lo, out_hi = [], []
        for row, b in zip(self.weights, self.bias, strict=True):
            lo = hi = b
            for w, x_lo, x_hi in zip(row, lows, highs, strict=True):
                lo += w * (x_lo if w >= 0 else x_hi)
                hi += w * (x_hi if w >= 0 else x_lo)
            out_lo.append(lo)
            out_hi.append(hi)
        return tuple(out_lo), tuple(out_hi)

    def forward(self, x: Sequence[int]) -> list[int]:
        """W x + b over the integers (bound-checked for this input)."""
        if len(x) != self.input_size:
            raise InvalidInputError(
                f"block {self.index} takes {self.input_size} values, got {len(x)}"
            )
        self.check_bound([abs(v) for v in x], context="for this input")
        return [
            sum(w * v for w, v in zip(row, x, strict=True)) + b
            for row, b in zip(self.weights, self.bias, strict=True)
        ]

    def apply(self, share: Sequence[int], mask: Sequence[int]) -> list[int]:
        """A node's result on its share: W s + m (mod r), no bias (what the part circuit proves)."""
        if len(share) != self.input_size or len(mask) != self.output_size:
            raise ShareError(
                f"share/mask have {len(share)}/{len(mask)} elements, block {self.index} takes "
                f"{self.input_size}/{self.output_size}"
            )
        for what, values in (("share", share), ("mask", mask)):
            for i, v in enumerate(values):
                if not is_field_element(v):
                    raise ShareError(f"{what}[{i}] = {v!r} is not a field element in [0, r)")
        return [
            (sum(w * s for w, s in zip(row, share, strict=True)) + m) % BN254_R
            for row, m in zip(self.weights, mask, strict=True)
        ]

    def reconstruct(self, total: Sequence[int]) -> list[int]:
        """From sum(out_j) - sum(m_j) (mod r) to W x + b: decode signed values, add the bias."""
        if len(total) != self.output_size:
            raise ShareError(
                f"block {self.index} has {self.output_size} outputs, got {len(total)} values"
            )
        values = []
        for i, (v, b) in enumerate(zip(total, self.bias, strict=True)):
            if not is_field_element(v):
                raise ShareError(f"reconstructed value {i} = {v!r} is not a field element")
            values.append((v if v <= MAX_SIGNED else v - BN254_R) + b)
        return values


@dataclass(frozen=True)
class Relu:
    """y = max(x, 0), on the user's device."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "relu"}

    def apply(self, values: Sequence[int]) -> StepResult:
        return StepResult(tuple(max(v, 0) for v in values))

    def interval(self, interval: Interval) -> Interval:
        lows, highs = interval
        return tuple(max(v, 0) for v in lows), tuple(max(v, 0) for v in highs)

    def scale_bits(self, bits: int) -> int:
        return bits


@dataclass(frozen=True)
class Rescale:
    """y = clamp(round(x / 2**shift), minimum, maximum), on the user's device; clamps flagged."""

    shift: int
    minimum: int
    maximum: int

    def __post_init__(self) -> None:
        if not _is_int(self.shift) or not 0 <= self.shift <= MAX_SHIFT:
            raise ModelFormatError(f"rescale shift must be an integer in 0..{MAX_SHIFT}")
        if not _is_int(self.minimum) or not _is_int(self.maximum):
            raise ModelFormatError("rescale min and max must be integers")
        if self.minimum > self.maximum:
            raise ModelFormatError(f"rescale min {self.minimum} exceeds its max {self.maximum}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "rescale", "shift": self.shift, "min": self.minimum, "max": self.maximum}

    def apply(self, values: Sequence[int]) -> StepResult:
        out, clamped = [], 0
        for v in values:
            y = round_shift(v, self.shift)
            z = min(max(y, self.minimum), self.maximum)
            clamped += int(z != y)
            out.append(z)
        return StepResult(tuple(out), clamped)

    def interval(self, interval: Interval) -> Interval:
        lows, highs = interval

        def clamp(v: int) -> int:
            return min(max(round_shift(v, self.shift), self.minimum), self.maximum)

        return tuple(clamp(v) for v in lows), tuple(clamp(v) for v in highs)

    def scale_bits(self, bits: int) -> int:
        if self.shift > bits:
            raise ModelFormatError(
                f"rescale by 2**{self.shift} would take values at scale 2**{bits} below 2**0"
            )
        return bits - self.shift


UserStep = Relu | Rescale
Step = LinearBlock | Relu | Rescale


def parse_step(data: object, position: int, block_index: int) -> Step:
    """One step from JSON data (`block_index` is the index a linear step would get)."""
    if not isinstance(data, dict):
        raise ModelFormatError(f"step {position} must be a JSON object")
    kind = data.get("kind")
    fields = {
        "linear": {"kind", "W", "b"},
        "relu": {"kind"},
        "rescale": {"kind", "shift", "min", "max"},
    }
    if kind not in fields:
        raise ModelFormatError(
            f"step {position} has kind {kind!r}, not one of {', '.join(sorted(fields))}"
        )
    if set(data) != fields[kind]:
        missing = sorted(fields[kind] - set(data))
        unknown = sorted(set(data) - fields[kind])
        raise ModelFormatError(
            f"step {position} ({kind}): missing fields {missing}, unknown fields {unknown}"
        )
    if kind == LINEAR:
        return LinearBlock(block_index, data["W"], data["b"])
    if kind == "relu":
        return Relu()
    return Rescale(data["shift"], data["min"], data["max"])
