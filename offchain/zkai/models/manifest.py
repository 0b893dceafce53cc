"""The model format "zkai-model/2": linear blocks and user steps, grouped into parts.

A manifest fixes a model version completely: name, version, the fixed-point scales, the ordered
steps (`zkai.models.steps`: linear blocks with quantised W and public b, user steps relu and
rescale), the parts (each a schedule of block indices and R_max, the slot count of its circuit),
the declared input range of the first block, the post-processing of the final values (argmax,
sigmoid or none) and optional labels. Its content hash (keccak256 of the canonical JSON, a bytes32)
is what goes on-chain.

Bounds, checked at construction for every block (version 1's worst case, sum |W| |x| + |b| <=
(r-1)/2): the first block over the declared input range; a later block over the interval its input
can take, which the steps before it fix (a rescale clamps into its [min, max], relu keeps values
non-negative). So no input the user can prepare, and no intermediate value, can wrap around the
field. Inputs outside the declared range are accepted if their own bound holds (`check_range=True`
refuses them).

Parts: part p's round i evaluates block `schedule_p[(i-1) % len(schedule_p)]`; every block is in
exactly one part. `max_rounds` (R_max >= 1) is the slot count of the part's circuit.

Plaintext evaluation (`evaluate`, `predict`) runs the steps in exact integer arithmetic; it is what
the network reproduces bit for bit (nodes compute W s + m on shares, the user adds b and runs the
user steps). Canonical JSON: keys sorted, no whitespace, UTF-8, integers only.
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

from zkai.crypto.field import MAX_SCALE_BITS, quantise_vector
from zkai.errors import InputRangeError, InvalidInputError, ModelFormatError

from .decoder_spec import DECODER_ROLES, DecoderSpec, LayerNorm
from .part import MAX_ROUNDS, Part, parse_part
from .steps import Interval, LinearBlock, Rescale, Step, StepResult, UserStep, parse_step

__all__ = [
    "DECODER_ROLES",
    "FORMAT",
    "MAX_PARTS",
    "MAX_ROUNDS",
    "POSTPROCESS_KINDS",
    "DecoderSpec",
    "Evaluation",
    "LayerNorm",
    "Manifest",
    "Part",
    "Postprocess",
    "Prediction",
]

FORMAT = "zkai-model/2"
MAX_PARTS = 16
Postprocess = Literal["argmax", "sigmoid", "none"]
POSTPROCESS_KINDS: tuple[Postprocess, ...] = ("argmax", "sigmoid", "none")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_FIELDS = frozenset(
    {
        "name",
        "version",
        "description",
        "input_scale_bits",
        "weight_scale_bits",
        "input_min",
        "input_max",
        "steps",
        "parts",
        "postprocess",
        "labels",
    }
)
_OPTIONAL_FIELDS = frozenset({"decoder"})


@dataclass(frozen=True)
class Prediction:
    """A decoded model output.

    `raw` are the integer outputs at the output scale; `scores` the same as floats. `label` is
    the predicted class index (argmax: the first maximal output; sigmoid: 1 when the score is
    positive) and `probability` the sigmoid of the score; both are None when not applicable.
    `clamped` counts values a rescale clamped on the way (0 for an in-range input).
    """

    raw: tuple[int, ...]
    scores: tuple[float, ...]
    label: int | None
    probability: float | None
    label_name: str | None = None
    clamped: int = 0


@dataclass(frozen=True)
class Evaluation:
    """A plaintext run: each block's input and output (with bias) and the final values."""

    block_inputs: tuple[tuple[int, ...], ...]
    block_outputs: tuple[tuple[int, ...], ...]
    outputs: tuple[int, ...]
    clamped: int


@dataclass(frozen=True)
class Manifest:
    """A quantised model in parts (see the module docstring). Validated on construction."""

    name: str
    version: int
    input_scale_bits: int
    weight_scale_bits: int
    input_min: tuple[int, ...]
    input_max: tuple[int, ...]
    steps: tuple[Step, ...]
    parts: tuple[Part, ...]
    postprocess: Postprocess
    labels: tuple[str, ...] | None = None
    description: str = ""
    decoder: DecoderSpec | None = None
    _input_intervals: tuple[Interval, ...] = field(init=False, repr=False, compare=False)
    _output_scale_bits: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ModelFormatError(
                f"model name {self.name!r} must match {_NAME.pattern} (lowercase, digits, . _ -)"
            )
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            raise ModelFormatError(
                f"model version must be a positive integer, got {self.version!r}"
            )
        if not isinstance(self.description, str):
            raise ModelFormatError("description must be a string")
        for what, bits in (
            ("input_scale_bits", self.input_scale_bits),
            ("weight_scale_bits", self.weight_scale_bits),
        ):
            if not isinstance(bits, int) or isinstance(bits, bool):
                raise ModelFormatError(f"{what} must be an integer")
            if not 0 <= bits <= MAX_SCALE_BITS:
                raise ModelFormatError(f"{what} must be an integer in 0..{MAX_SCALE_BITS}")
        steps = tuple(self.steps)
        if not steps or not isinstance(steps[0], LinearBlock):
            raise ModelFormatError("the first step of a manifest must be a linear block")
        object.__setattr__(self, "steps", steps)
        blocks = [s for s in steps if isinstance(s, LinearBlock)]
        if [b.index for b in blocks] != list(range(len(blocks))):
            raise ModelFormatError("linear blocks must be numbered 0, 1, ... in step order")
        self._check_parts(len(blocks))
        self._check_input_range(blocks[0].input_size)
        if self.decoder is None:
            self._check_flow()
        else:
            self._check_decoder_flow()
        self._check_postprocess()

    def _check_decoder_flow(self) -> None:
        """A decoder's steps (module docstring); each block bound-checked over its clamp."""
        spec = self.decoder
        if not isinstance(spec, DecoderSpec):
            raise ModelFormatError("decoder must be a DecoderSpec")
        kinds = [type(s).__name__ for s in self.steps]
        wanted = ["LinearBlock", "Rescale", "LinearBlock", "Rescale", "LinearBlock", "Relu",
                  "Rescale", "LinearBlock", "Rescale", "LinearBlock"]  # fmt: skip
        if kinds != wanted:
            raise ModelFormatError(
                "a decoder's steps must be qkv, rescale, attention_out, rescale, mlp_up, relu, "
                f"rescale, mlp_down, rescale, lm_head; got {kinds}"
            )
        if self.postprocess != "none" or self.labels is not None:
            raise ModelFormatError("a decoder has postprocess none and no labels (it samples)")
        intervals: list[Interval] = []
        previous: Step | None = None
        for step in self.steps:
            if isinstance(step, Rescale) and step.shift != self.weight_scale_bits:
                raise ModelFormatError(
                    f"a decoder's rescales return block outputs to the input scale: shift "
                    f"{step.shift} must be weight_scale_bits = {self.weight_scale_bits}"
                )
            if isinstance(step, LinearBlock):
                n, m = spec.block_sizes[step.index]
                if (step.input_size, step.output_size) != (n, m):
                    raise ModelFormatError(
                        f"decoder block {step.index} ({DECODER_ROLES[step.index]}) must be "
                        f"{n} -> {m}, is {step.input_size} -> {step.output_size}"
                    )
                if isinstance(previous, Rescale):
                    interval: Interval = ((previous.minimum,) * n, (previous.maximum,) * n)
                else:
                    interval = (self.input_min, self.input_max)
                intervals.append(interval)
                magnitude = [max(abs(lo), abs(hi)) for lo, hi in zip(*interval, strict=True)]
                step.check_bound(magnitude, context="over its input's clamp interval")
            previous = step
        object.__setattr__(self, "_input_intervals", tuple(intervals))
        object.__setattr__(
            self, "_output_scale_bits", self.input_scale_bits + self.weight_scale_bits
        )

    def _check_parts(self, n_blocks: int) -> None:
        parts = tuple(self.parts)
        if not 1 <= len(parts) <= MAX_PARTS:
            raise ModelFormatError(f"a manifest has 1..{MAX_PARTS} parts, got {len(parts)}")
        if [p.index for p in parts] != list(range(len(parts))):
            raise ModelFormatError("parts must be numbered 0, 1, ... in order")
        owner: dict[int, int] = {}
        for part in parts:
            for b in part.schedule:
                if not 0 <= b < n_blocks:
                    raise ModelFormatError(f"part {part.index}: block {b} does not exist")
                if owner.setdefault(b, part.index) != part.index:
                    raise ModelFormatError(
                        f"block {b} is in parts {owner[b]} and {part.index}: each linear "
                        "block must be in exactly one part"
                    )
        missing = sorted(set(range(n_blocks)) - set(owner))
        if missing:
            raise ModelFormatError(f"blocks {missing} are in no part")
        object.__setattr__(self, "parts", parts)

    def _check_input_range(self, n: int) -> None:
        for what in ("input_min", "input_max"):
            values = getattr(self, what)
            if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != n:
                raise ModelFormatError(f"{what} must be a list of {n} integers")
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                raise ModelFormatError(f"{what} must hold integers (quantised at the input scale)")
            object.__setattr__(self, what, tuple(values))
        for j, (lo, hi) in enumerate(zip(self.input_min, self.input_max, strict=True)):
            if lo > hi:
                raise ModelFormatError(f"input_min[{j}] = {lo} exceeds input_max[{j}] = {hi}")

    def _check_flow(self) -> None:
        """Sizes match along the steps; every block's worst case fits the field."""
        interval: Interval = (self.input_min, self.input_max)
        bits = self.input_scale_bits
        intervals: list[Interval] = []
        size = len(self.input_min)
        for position, step in enumerate(self.steps):
            if isinstance(step, LinearBlock):
                if step.input_size != size:
                    raise ModelFormatError(
                        f"block {step.index} (step {position}) takes {step.input_size} values, "
                        f"the step before it gives {size}"
                    )
                intervals.append(interval)
                magnitude = [max(abs(lo), abs(hi)) for lo, hi in zip(*interval, strict=True)]
                where = (
                    "over the declared input range"
                    if step.index == 0
                    else ("over the range the steps before it allow")
                )
                step.check_bound(magnitude, context=where)
                interval = step.output_interval(interval)
                size = step.output_size
                bits += self.weight_scale_bits
            else:
                interval = step.interval(interval)
                bits = step.scale_bits(bits)
        object.__setattr__(self, "_input_intervals", tuple(intervals))
        object.__setattr__(self, "_output_scale_bits", bits)

    def _check_postprocess(self) -> None:
        m = self.output_size
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

    # -- structure -----------------------------------------------------------------------------

    @property
    def blocks(self) -> tuple[LinearBlock, ...]:
        """The linear blocks in step order (block b is `blocks[b]`)."""
        return tuple(s for s in self.steps if isinstance(s, LinearBlock))

    def block(self, b: int) -> LinearBlock:
        blocks = self.blocks
        if not isinstance(b, int) or not 0 <= b < len(blocks):
            raise ModelFormatError(
                f"model {self.name!r} has blocks 0..{len(blocks) - 1}, not {b!r}"
            )
        return blocks[b]

    def part(self, p: int) -> Part:
        if not isinstance(p, int) or not 0 <= p < len(self.parts):
            raise ModelFormatError(
                f"model {self.name!r} has parts 0..{len(self.parts) - 1}, not {p!r}"
            )
        return self.parts[p]

    def part_of_block(self, b: int) -> Part:
        self.block(b)
        return next(p for p in self.parts if b in p.schedule)

    def rounds_per_pass(self, p: int) -> int:
        """Rounds one forward pass needs from each node of part p: its block evaluations."""
        schedule = set(self.part(p).schedule)
        return sum(1 for block in self.blocks if block.index in schedule)

    @property
    def input_size(self) -> int:
        return self.blocks[0].input_size

    @property
    def output_size(self) -> int:
        size = self.input_size
        for step in self.steps:
            if isinstance(step, LinearBlock):
                size = step.output_size
        return size

    @property
    def output_scale_bits(self) -> int:
        """Scale of the final values: the input scale, times W's per block, over the rescales."""
        return self._output_scale_bits

    def block_input_range(self, b: int) -> Interval:
        """The interval block b's input can take (declared range for block 0, else derived)."""
        self.block(b)
        return self._input_intervals[b]

    def user_steps_after(self, b: int) -> tuple[UserStep, ...]:
        """The user steps between block b and the next block (or the end)."""
        self.block(b)
        position = self.steps.index(self.blocks[b])
        following: list[UserStep] = []
        for step in self.steps[position + 1 :]:
            if isinstance(step, LinearBlock):
                break
            following.append(step)
        return tuple(following)

    def run_user_steps(self, b: int, values: Sequence[int]) -> StepResult:
        """Apply the user steps after block b to its reconstructed outputs (W x + b)."""
        current = StepResult(tuple(values))
        for step in self.user_steps_after(b):
            result = step.apply(current.values)
            current = StepResult(result.values, current.clamped + result.clamped)
        return current

    # -- canonical form and hash ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain JSON data (integers, strings and lists only); "decoder" only
        for a decoder, so other manifests keep their hashes."""
        data: dict[str, Any] = {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "input_scale_bits": self.input_scale_bits,
            "weight_scale_bits": self.weight_scale_bits,
            "input_min": list(self.input_min),
            "input_max": list(self.input_max),
            "steps": [s.to_dict() for s in self.steps],
            "parts": [p.to_dict() for p in self.parts],
            "postprocess": self.postprocess,
            "labels": None if self.labels is None else list(self.labels),
        }
        if self.decoder is not None:
            data["decoder"] = self.decoder.to_dict()
        return data

    def canonical_json(self) -> bytes:
        """Sorted keys, no whitespace, UTF-8: the bytes the content hash is taken over."""
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()

    @property
    def hash(self) -> bytes:
        """keccak256 of the canonical JSON (bytes32): the model version's on-chain identity."""
        return bytes(keccak(self.canonical_json()))

    @property
    def hash_hex(self) -> str:
        return "0x" + self.hash.hex()

    def to_json(self) -> str:
        """A readable JSON file (one weight row per line); parses back to the same hash."""
        return _pretty(self.to_dict(), 0) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Parse JSON data; `ModelFormatError` on anything missing, extra or malformed."""
        if not isinstance(data, Mapping):
            raise ModelFormatError("a manifest must be a JSON object")
        if data.get("format") != FORMAT:
            raise ModelFormatError(f"manifest format {data.get('format')!r} is not {FORMAT!r}")
        unknown = set(data) - _FIELDS - _OPTIONAL_FIELDS - {"format"}
        missing = _FIELDS - set(data)
        if unknown or missing:
            raise ModelFormatError(
                f"manifest fields: missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        raw_steps, raw_parts = data["steps"], data["parts"]
        if not isinstance(raw_steps, list) or not raw_steps:
            raise ModelFormatError("steps must be a non-empty list")
        if not isinstance(raw_parts, list):
            raise ModelFormatError("parts must be a list")
        steps: list[Step] = []
        for position, item in enumerate(raw_steps):
            blocks = sum(isinstance(s, LinearBlock) for s in steps)
            steps.append(parse_step(item, position, blocks))
        if not isinstance(steps[0], LinearBlock):
            raise ModelFormatError("the first step of a manifest must be a linear block")
        n_blocks = sum(isinstance(s, LinearBlock) for s in steps)
        parts = [parse_part(item, p, n_blocks) for p, item in enumerate(raw_parts)]
        labels = data["labels"]
        if labels is not None and not isinstance(labels, list):
            raise ModelFormatError("labels must be a list of strings or null")
        return cls(
            name=data["name"],
            version=data["version"],
            input_scale_bits=data["input_scale_bits"],
            weight_scale_bits=data["weight_scale_bits"],
            input_min=data["input_min"],
            input_max=data["input_max"],
            steps=tuple(steps),
            parts=tuple(parts),
            postprocess=cast(Postprocess, data["postprocess"]),
            labels=None if labels is None else tuple(labels),
            description=data["description"],
            decoder=None if data.get("decoder") is None else DecoderSpec.from_dict(data["decoder"]),
        )

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
        """Fixed-point integers for an input vector, checked so block 0 cannot overflow.

        `EncodingOverflowError` if a value or block 0's output bound exceeds the field's signed
        limit; with `check_range`, `InputRangeError` for a feature outside the declared range.
        """
        if len(x) != self.input_size:
            raise InvalidInputError(
                f"input has {len(x)} features, model {self.name!r} takes {self.input_size}"
            )
        values = quantise_vector(x, self.input_scale_bits, what="input")
        self.check_input(values, check_range=check_range)
        return values

    def check_input(self, values: Sequence[int], *, check_range: bool = False) -> None:
        """Check quantised inputs: declared range (optional) and block 0's bound (always)."""
        if len(values) != self.input_size:
            raise InvalidInputError(
                f"input has {len(values)} features, model {self.name!r} takes {self.input_size}"
            )
        for j, v in enumerate(values):
            if not isinstance(v, int) or isinstance(v, bool):
                raise InvalidInputError(f"input[{j}] = {v!r} is not an integer")
        if check_range:
            for j, v in enumerate(values):
                lo, hi = self.input_min[j], self.input_max[j]
                if not lo <= v <= hi:
                    scale = 1 << self.input_scale_bits
                    raise InputRangeError(
                        f"input[{j}] = {v / scale} is outside the declared range "
                        f"[{lo / scale}, {hi / scale}] of model {self.name!r}"
                    )
        self.blocks[0].check_bound([abs(v) for v in values], context="for this input")

    def evaluate(self, x_int: Sequence[int]) -> Evaluation:
        """The plaintext quantised model over the integers, step by step (exact)."""
        self._refuse_decoder("evaluate")
        self.check_input(x_int)
        values = tuple(x_int)
        inputs: list[tuple[int, ...]] = []
        outputs: list[tuple[int, ...]] = []
        clamped = 0
        for step in self.steps:
            if isinstance(step, LinearBlock):
                inputs.append(values)
                values = tuple(step.forward(values))
                outputs.append(values)
            else:
                result = step.apply(values)
                values, clamped = result.values, clamped + result.clamped
        return Evaluation(tuple(inputs), tuple(outputs), values, clamped)

    def predict(self, x: Sequence[float], *, check_range: bool = False) -> Prediction:
        """Quantise, evaluate and decode a float input (the answer the network must give)."""
        self._refuse_decoder("predict")
        evaluation = self.evaluate(self.quantise_input(x, check_range=check_range))
        return self.decode(evaluation.outputs, clamped=evaluation.clamped)

    def _refuse_decoder(self, what: str) -> None:
        if self.decoder is not None:
            raise ModelFormatError(
                f"model {self.name!r} is a decoder (language model): its blocks do not run in "
                f"one sequence, so {what}() cannot run it; generate text with "
                "zkai.models.decoder.generate(manifest, tokens, n, local_linear(manifest)) or "
                "`zkai generate`"
            )

    def decode(self, raw: Sequence[int], *, clamped: int = 0) -> Prediction:
        """Decode final integer values (output scale) and apply the post-processing."""
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
        return Prediction(tuple(raw), scores, label, probability, name, clamped)


def _pretty(value: Any, depth: int) -> str:
    """JSON with lists of scalars on one line and one line per row of a matrix."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {_pretty(value[k], depth + 1)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        items = [inner + _pretty(v, depth + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
