"""The model format: a quantised linear layer and everything needed to serve it privately.

A manifest fixes a model version completely: name, version, sizes, the fixed-point scales,
integer weights W (output_size x input_size) and bias b, the post-processing applied to the
output (argmax, sigmoid or none), the declared per-feature input range and optional labels.
Its content hash (keccak256 of the canonical JSON, a bytes32) is what goes on-chain, so the
circuit, its verifier and the answer a user reconstructs are all tied to one manifest.

Fixed point (see `zkai.crypto.field`): inputs at scale 2**input_scale_bits, weights at
2**weight_scale_bits, bias and outputs at 2**(input_scale_bits + weight_scale_bits). The
quantised model is y = W x + b over the integers, which equals the field computation as long as
every |y_i| <= (r-1)/2. `Manifest` checks that bound at construction from the declared input
ranges, and `quantise_input` checks it again for each actual input (inputs may lie outside the
declared range; pass `check_range=True` to refuse those).

Canonical JSON: keys sorted, no whitespace, UTF-8, integers only (the input range is stored
quantised, at the input scale), so the hash does not depend on float formatting.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from eth_hash.auto import keccak

from zkai.crypto.field import BN254_R, MAX_SCALE_BITS, MAX_SIGNED, is_field_element, quantise_vector
from zkai.errors import (
    EncodingOverflowError,
    InputRangeError,
    InvalidInputError,
    ModelFormatError,
    ShareError,
)

__all__ = [
    "FORMAT",
    "POSTPROCESS_KINDS",
    "Manifest",
    "Postprocess",
    "Prediction",
]

FORMAT = "zkai-linear-model/1"
Postprocess = Literal["argmax", "sigmoid", "none"]
POSTPROCESS_KINDS: tuple[Postprocess, ...] = ("argmax", "sigmoid", "none")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Prediction:
    """A decoded model output.

    `raw` are the integer outputs at the output scale; `scores` the same as floats. `label` is
    the predicted class index (argmax: the first maximal output; sigmoid: 1 when the score is
    positive) and `probability` the sigmoid of the score; both are None when not applicable.
    """

    raw: tuple[int, ...]
    scores: tuple[float, ...]
    label: int | None
    probability: float | None
    label_name: str | None = None


def _int_matrix(value: object, rows: int, cols: int, what: str) -> tuple[tuple[int, ...], ...]:
    if not isinstance(value, Sequence) or len(value) != rows:
        raise ModelFormatError(f"{what} must be a list of {rows} rows")
    return tuple(_int_vector(row, cols, f"{what}[{i}]") for i, row in enumerate(value))


def _int_vector(value: object, size: int, what: str) -> tuple[int, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes) or len(value) != size:
        raise ModelFormatError(f"{what} must be a list of {size} integers")
    for i, v in enumerate(value):
        if not isinstance(v, int) or isinstance(v, bool):
            raise ModelFormatError(f"{what}[{i}] = {v!r} is not an integer")
    return tuple(value)


@dataclass(frozen=True)
class Manifest:
    """A quantised linear model (see the module docstring). Validated on construction."""

    name: str
    version: int
    input_size: int
    output_size: int
    input_scale_bits: int
    weight_scale_bits: int
    weights: tuple[tuple[int, ...], ...]
    bias: tuple[int, ...]
    postprocess: Postprocess
    input_min: tuple[int, ...]
    input_max: tuple[int, ...]
    labels: tuple[str, ...] | None = None
    description: str = ""
    _bounds: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ModelFormatError(
                f"model name {self.name!r} must match {_NAME.pattern} (lowercase, digits, . _ -)"
            )
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            raise ModelFormatError(
                f"model version must be a positive integer, got {self.version!r}"
            )
        for what, size in (("input_size", self.input_size), ("output_size", self.output_size)):
            if not isinstance(size, int) or not 1 <= size <= 4096:
                raise ModelFormatError(f"{what} must be an integer in 1..4096, got {size!r}")
        for what, bits in (
            ("input_scale_bits", self.input_scale_bits),
            ("weight_scale_bits", self.weight_scale_bits),
        ):
            if not isinstance(bits, int) or not 0 <= bits <= MAX_SCALE_BITS:
                raise ModelFormatError(f"{what} must be an integer in 0..{MAX_SCALE_BITS}")
        n, m = self.input_size, self.output_size
        object.__setattr__(self, "weights", _int_matrix(self.weights, m, n, "weights"))
        object.__setattr__(self, "bias", _int_vector(self.bias, m, "bias"))
        object.__setattr__(self, "input_min", _int_vector(self.input_min, n, "input_min"))
        object.__setattr__(self, "input_max", _int_vector(self.input_max, n, "input_max"))
        if self.postprocess not in POSTPROCESS_KINDS:
            raise ModelFormatError(
                f"postprocess {self.postprocess!r} is not one of {', '.join(POSTPROCESS_KINDS)}"
            )
        if self.postprocess == "sigmoid" and m != 1:
            raise ModelFormatError(f"sigmoid post-processing needs 1 output, the model has {m}")
        if self.labels is not None:
            labels = tuple(self.labels)
            wanted = 2 if self.postprocess == "sigmoid" else m
            if len(labels) != wanted or not all(isinstance(x, str) for x in labels):
                raise ModelFormatError(f"labels must be {wanted} strings, got {labels!r}")
            object.__setattr__(self, "labels", labels)
        for j, (lo, hi) in enumerate(zip(self.input_min, self.input_max, strict=True)):
            if lo > hi:
                raise ModelFormatError(f"input_min[{j}] = {lo} exceeds input_max[{j}] = {hi}")
        magnitude = [
            max(abs(lo), abs(hi)) for lo, hi in zip(self.input_min, self.input_max, strict=True)
        ]
        bounds = tuple(self._output_bound(magnitude))
        object.__setattr__(self, "_bounds", bounds)
        for i, bound in enumerate(bounds):
            if bound > MAX_SIGNED:
                raise EncodingOverflowError(
                    f"output {i} of model {self.name!r} can reach |y| <= {bound} over the declared "
                    f"input range, beyond the field's signed limit {MAX_SIGNED} = (r-1)/2; "
                    "lower the scales"
                )

    # -- derived values -------------------------------------------------------------------

    @property
    def output_scale_bits(self) -> int:
        """Outputs (and the bias) are at scale 2**(input_scale_bits + weight_scale_bits)."""
        return self.input_scale_bits + self.weight_scale_bits

    @property
    def output_bounds(self) -> tuple[int, ...]:
        """Bound on |y_i| over the declared input range (checked against (r-1)/2)."""
        return self._bounds

    def _output_bound(self, magnitude: Sequence[int]) -> list[int]:
        return [
            sum(abs(w) * a for w, a in zip(row, magnitude, strict=True)) + abs(b)
            for row, b in zip(self.weights, self.bias, strict=True)
        ]

    # -- canonical form and hash -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain JSON data (integers, strings and lists only)."""
        return {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "input_size": self.input_size,
            "output_size": self.output_size,
            "input_scale_bits": self.input_scale_bits,
            "weight_scale_bits": self.weight_scale_bits,
            "weights": [list(row) for row in self.weights],
            "bias": list(self.bias),
            "postprocess": self.postprocess,
            "input_min": list(self.input_min),
            "input_max": list(self.input_max),
            "labels": None if self.labels is None else list(self.labels),
        }

    def canonical_json(self) -> bytes:
        """Sorted keys, no whitespace, UTF-8: the bytes the content hash is taken over."""
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()

    @property
    def content_hash(self) -> bytes:
        """keccak256 of the canonical JSON (bytes32): the model's on-chain identity."""
        return bytes(keccak(self.canonical_json()))

    @property
    def content_hash_hex(self) -> str:
        return "0x" + self.content_hash.hex()

    def to_json(self) -> str:
        """A readable JSON file (one weight row per line); parses back to the same hash."""
        lines = []
        for key, value in sorted(self.to_dict().items()):
            if key == "weights":
                rows = ",\n    ".join(json.dumps(row, separators=(",", ":")) for row in value)
                text = "[\n    " + rows + "\n  ]"
            else:
                text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            lines.append(f"  {json.dumps(key)}: {text}")
        return "{\n" + ",\n".join(lines) + "\n}\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Parse JSON data; `ModelFormatError` on anything missing, extra or malformed."""
        if not isinstance(data, Mapping):
            raise ModelFormatError("a manifest must be a JSON object")
        if data.get("format") != FORMAT:
            raise ModelFormatError(f"manifest format {data.get('format')!r} is not {FORMAT!r}")
        fields = {
            "name",
            "version",
            "description",
            "input_size",
            "output_size",
            "input_scale_bits",
            "weight_scale_bits",
            "weights",
            "bias",
            "postprocess",
            "input_min",
            "input_max",
            "labels",
        }
        unknown = set(data) - fields - {"format"}
        missing = fields - set(data)
        if unknown or missing:
            raise ModelFormatError(
                f"manifest fields: missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        labels = data["labels"]
        try:
            return cls(
                name=data["name"],
                version=data["version"],
                input_size=data["input_size"],
                output_size=data["output_size"],
                input_scale_bits=data["input_scale_bits"],
                weight_scale_bits=data["weight_scale_bits"],
                weights=data["weights"],
                bias=data["bias"],
                postprocess=cast(Postprocess, data["postprocess"]),
                input_min=data["input_min"],
                input_max=data["input_max"],
                labels=None if labels is None else tuple(labels),
                description=data["description"],
            )
        except TypeError as exc:
            raise ModelFormatError(f"malformed manifest: {exc}") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ModelFormatError(f"manifest is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ModelFormatError(f"cannot read manifest {path}: {exc}") from exc
        return cls.from_json(text)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    # -- the quantised model ---------------------------------------------------------------

    def quantise_input(self, x: Sequence[float], *, check_range: bool = False) -> list[int]:
        """Fixed-point integers for an input vector, checked so the output cannot overflow.

        `EncodingOverflowError` if a value or the resulting output bound exceeds the field's
        signed limit; with `check_range`, `InputRangeError` for a feature outside the declared
        range.
        """
        if len(x) != self.input_size:
            raise InvalidInputError(
                f"input has {len(x)} features, model {self.name!r} takes {self.input_size}"
            )
        values = quantise_vector(x, self.input_scale_bits, what="input")
        self.check_input(values, check_range=check_range)
        return values

    def check_input(self, values: Sequence[int], *, check_range: bool = False) -> None:
        """Check quantised inputs: declared range (optional) and the output bound (always)."""
        if len(values) != self.input_size:
            raise InvalidInputError(
                f"input has {len(values)} features, model {self.name!r} takes {self.input_size}"
            )
        if check_range:
            for j, v in enumerate(values):
                lo, hi = self.input_min[j], self.input_max[j]
                if not lo <= v <= hi:
                    scale = 1 << self.input_scale_bits
                    raise InputRangeError(
                        f"input[{j}] = {v / scale} is outside the declared range "
                        f"[{lo / scale}, {hi / scale}] of model {self.name!r}"
                    )
        bounds = self._output_bound([abs(v) for v in values])
        for i, bound in enumerate(bounds):
            if bound > MAX_SIGNED:
                raise EncodingOverflowError(
                    f"for this input, output {i} can reach |y| <= {bound}, beyond the field's "
                    f"signed limit {MAX_SIGNED} = (r-1)/2"
                )

    def forward(self, x_int: Sequence[int]) -> list[int]:
        """The plaintext quantised model over the integers: y = W x + b (output scale)."""
        self.check_input(x_int)
        return [
            sum(w * v for w, v in zip(row, x_int, strict=True)) + b
            for row, b in zip(self.weights, self.bias, strict=True)
        ]

    def masked_output(self, share: Sequence[int], mask: Sequence[int]) -> list[int]:
        """A node's result on its share: W s + m (mod r), what the share circuit proves."""
        if len(share) != self.input_size or len(mask) != self.output_size:
            raise ShareError(
                f"share/mask have {len(share)}/{len(mask)} elements, model {self.name!r} "
                f"takes {self.input_size}/{self.output_size}"
            )
        for what, values in (("share", share), ("mask", mask)):
            for i, v in enumerate(values):
                if not is_field_element(v):
                    raise ShareError(f"{what}[{i}] = {v!r} is not a field element in [0, r)")
        return [
            (sum(w * s for w, s in zip(row, share, strict=True)) + m) % BN254_R
            for row, m in zip(self.weights, mask, strict=True)
        ]

    def predict(self, raw: Sequence[int]) -> Prediction:
        """Decode integer outputs and apply the post-processing."""
        if len(raw) != self.output_size:
            raise ModelFormatError(
                f"{len(raw)} outputs given, model {self.name!r} has {self.output_size}"
            )
        scale = float(1 << self.output_scale_bits)
        scores = tuple(v / scale for v in raw)
        label: int | None = None
        probability: float | None = None
        if self.postprocess == "argmax":
            label = max(range(len(raw)), key=lambda i: (raw[i], -i))
        elif self.postprocess == "sigmoid":
            label = int(raw[0] > 0)
            probability = _sigmoid(scores[0])
        name = self.labels[label] if self.labels is not None and label is not None else None
        return Prediction(tuple(raw), scores, label, probability, name)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
