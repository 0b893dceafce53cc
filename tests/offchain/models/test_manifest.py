"""Manifests "zkai-model/2": validation, canonical form and hash, bounds, the exact integer model.

The exactness tests compare `Manifest.evaluate` with an independent computation written here from
the format's definition (Fractions for the rounding), and with what the network does: k additive
shares per block, W s + m on each, reconstruction by the user, then the user steps.
"""

from __future__ import annotations

import copy
import json
import math
import secrets
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkai.crypto.field import BN254_R, MAX_SIGNED
from zkai.errors import (
    EncodingOverflowError,
    InputRangeError,
    InvalidInputError,
    ModelFormatError,
    ShareError,
)
from zkai.models.manifest import FORMAT, Manifest
from zkai.models.steps import round_shift


def toy_dict() -> dict[str, Any]:
    """A two-block model 3 -> 4 (relu, rescale) -> 2 in two parts."""
    return {
        "format": FORMAT,
        "name": "toy",
        "version": 1,
        "description": "a toy",
        "input_scale_bits": 4,
        "weight_scale_bits": 8,
        "input_min": [-16, -16, 0],
        "input_max": [16, 32, 48],
        "steps": [
            {
                "kind": "linear",
                "W": [[1, -2, 3], [-4, 5, -6], [70, 8, -9], [0, 0, 256]],
                "b": [7, -8, 900, -3],
            },
            {"kind": "relu"},
            {"kind": "rescale", "shift": 8, "min": 0, "max": 100},
            {"kind": "linear", "W": [[1, 2, 3, 4], [-5, 6, -7, 8]], "b": [10, -20]},
        ],
        "parts": [{"schedule": [0], "max_rounds": 1}, {"schedule": [1], "max_rounds": 1}],
        "postprocess": "argmax",
        "labels": ["a", "b"],
    }


def toy(**changes: Any) -> Manifest:
    data = toy_dict()
    data.update(changes)
    return Manifest.from_dict(data)


def test_manifest_json_round_trip_keeps_the_hash() -> None:
    manifest = toy()
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest
    assert again.hash == manifest.hash
    assert len(manifest.hash) == 32
    assert manifest.hash_hex == "0x" + manifest.hash.hex()
    assert Manifest.from_json(manifest.canonical_json()).hash == manifest.hash


def test_manifest_hash_changes_with_any_field() -> None:
    base = toy().hash
    data = toy_dict()
    data["steps"][3]["W"][0][0] = 2
    assert Manifest.from_dict(data).hash != base
    data = toy_dict()
    data["steps"][2]["max"] = 101
    assert Manifest.from_dict(data).hash != base
    assert toy(version=2).hash != base
    assert (
        toy(parts=[{"schedule": [0], "max_rounds": 2}, {"schedule": [1], "max_rounds": 1}]).hash
        != base
    )
    assert toy(postprocess="none", labels=None).hash != base


def test_manifest_canonical_json_is_compact_and_sorted() -> None:
    manifest = toy()
    data = json.loads(manifest.canonical_json())
    assert list(data) == sorted(data)
    assert b" " not in toy(description="").canonical_json()
    assert data["format"] == "zkai-model/2"


def test_manifest_structure_accessors() -> None:
    manifest = toy()
    assert [b.index for b in manifest.blocks] == [0, 1]
    assert (manifest.input_size, manifest.output_size) == (3, 2)
    assert manifest.block(1).input_size == 4
    assert manifest.part(1).schedule == (1,)
    assert manifest.part_of_block(0).index == 0
    assert [s.to_dict()["kind"] for s in manifest.user_steps_after(0)] == ["relu", "rescale"]
    assert manifest.user_steps_after(1) == ()
    assert manifest.output_scale_bits == 4 + 8 - 8 + 8
    # block 0's exact output interval, through relu and round(x / 256) clamped to [0, 100]
    assert manifest.block_input_range(0) == ((-16, -16, 0), (16, 32, 48))
    assert manifest.block_input_range(1) == ((0, 0, 0, 0), (1, 1, 9, 48))
    with pytest.raises(ModelFormatError, match=r"blocks 0\.\.1"):
        manifest.block(2)
    with pytest.raises(ModelFormatError, match=r"parts 0\.\.1"):
        manifest.part(2)


def test_part_block_for_round_cycles_through_the_schedule() -> None:
    data = toy_dict()
    data["parts"] = [{"schedule": [1, 0], "max_rounds": 3}]
    part = Manifest.from_dict(data).part(0)
    assert [part.block_for_round(i) for i in (1, 2, 3, 4)] == [1, 0, 1, 0]
    with pytest.raises(ModelFormatError, match="numbered from 1"):
        part.block_for_round(0)


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    data = toy_dict()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["format"], "zkai-linear-model/1", "is not 'zkai-model/2'"),
        (["name"], "Bad Name", "model name"),
        (["version"], 0, "version"),
        (["version"], True, "version"),
        (["input_scale_bits"], -1, "input_scale_bits"),
        (["weight_scale_bits"], 65, "weight_scale_bits"),
        (["input_min"], [0, 0], "input_min must be a list of 3"),
        (["input_min", 1], 40, "exceeds"),
        (["input_max", 0], 1.5, "integers"),
        (["steps"], [], "steps must be a non-empty list"),
        (["steps", 0], {"kind": "relu"}, "first step of a manifest must be a linear block"),
        (["steps", 1], {"kind": "gelu"}, "kind 'gelu'"),
        (["steps", 1], {"kind": "relu", "x": 1}, "unknown fields"),
        (["steps", 2], {"kind": "rescale", "shift": 8}, "missing fields"),
        (["steps", 2, "min"], 200, "exceeds its max"),
        (["steps", 2, "shift"], -1, "shift"),
        (["steps", 2, "shift"], 13, "below 2\\*\\*0"),
        (["steps", 0, "W", 1], [1, 2], "must have 3 integers"),
        (["steps", 0, "W", 1, 0], 2.5, "not an integer"),
        (["steps", 0, "W"], [], "non-empty"),
        (["steps", 0, "b"], [1, 2], "b must have 4"),
        (["steps", 3, "W"], [[1, 2, 3], [4, 5, 6]], "takes 3 values, the step before it gives 4"),
        (["parts"], [], "1..16 parts"),
        (["parts", 1], {"schedule": [0], "max_rounds": 1}, "in parts 0 and 1"),
        (["parts", 1], {"schedule": [2], "max_rounds": 1}, "block 2 does not exist"),
        (["parts", 1], {"schedule": [], "max_rounds": 1}, "non-empty list"),
        (["parts", 1, "max_rounds"], 0, "max_rounds must be in"),
        (["parts", 1, "extra"], 0, "schedule and max_rounds"),
        (["parts"], [{"schedule": [0], "max_rounds": 1}], r"blocks \[1\] are in no part"),
        (["postprocess"], "softmax", "postprocess"),
        (["postprocess"], "sigmoid", "sigmoid post-processing needs 1 output"),
        (["labels"], ["only-one"], "labels"),
        (["labels"], "ab", "labels must be a list"),
        (["extra"], 1, "unknown"),
        (["steps"], _DELETE, "missing"),
    ],
)
def test_manifest_format_errors_raise_model_format_error(
    path: list[Any], value: Any, message: str
) -> None:
    with pytest.raises(ModelFormatError, match=message):
        Manifest.from_dict(_with(path, value))


def test_manifest_not_json_or_not_an_object_is_refused(tmp_path: Any) -> None:
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        Manifest.from_json("{")
    with pytest.raises(ModelFormatError, match="JSON object"):
        Manifest.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(ModelFormatError, match="cannot read manifest"):
        Manifest.load(tmp_path / "missing.json")
    path = tmp_path / "toy.json"
    toy().save(path)
    assert Manifest.load(path).hash == toy().hash


def test_manifest_first_block_that_could_overflow_is_refused() -> None:
    huge = MAX_SIGNED // 10
    with pytest.raises(EncodingOverflowError, match=r"block 0 .* declared input range"):
        Manifest.from_dict(_with(["steps", 0, "W", 0, 0], huge))


def test_manifest_later_block_bound_comes_from_the_clamp_range() -> None:
    # Block 0's output 3 can reach 2**30 * 48 / 2**8 after the rescale: the clamp decides.
    # |W| * 100 (the clamp max) fits the field; |W| * 2**20 does not.
    big = MAX_SIGNED // 1000
    data = _with(["steps", 3, "W", 0, 3], big)
    data["steps"][0]["W"][3][2] = 2**30
    assert Manifest.from_dict(data).block_input_range(1)[1][3] == 100
    data["steps"][2]["max"] = 2**20
    with pytest.raises(EncodingOverflowError, match=r"block 1 .* steps before it allow"):
        Manifest.from_dict(data)


def test_manifest_input_that_could_overflow_is_refused_at_encode_time() -> None:
    manifest = toy()
    manifest.check_input([16, 0, 0])
    with pytest.raises(EncodingOverflowError, match="for this input"):
        manifest.quantise_input([2.0**247, 0.0, 0.0])


def test_manifest_declared_range_is_enforced_on_request() -> None:
    manifest = toy()
    manifest.quantise_input([5.0, 0.0, 0.0])  # 5.0 * 16 = 80 > 16, allowed by default
    with pytest.raises(InputRangeError, match=r"input\[0\] = 5.0 is outside"):
        manifest.quantise_input([5.0, 0.0, 0.0], check_range=True)


def test_manifest_wrong_input_length_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="input has 2 features, model 'toy' takes 3"):
        toy().quantise_input([1.0, 2.0])
    with pytest.raises(InvalidInputError, match="not an integer"):
        toy().evaluate([1, 2, 3.0])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("value", "shift", "expected"),
    [(5, 1, 3), (-5, 1, -2), (-6, 1, -3), (4, 2, 1), (6, 2, 2), (-6, 2, -1), (7, 0, 7)],
)
def test_round_shift_rounds_half_up(value: int, shift: int, expected: int) -> None:
    assert round_shift(value, shift) == expected


def independent_evaluate(data: dict[str, Any], x: list[int]) -> tuple[list[int], int]:
    """The format's definition, written out: integers, Fractions for the rescale."""
    values, clamped = list(x), 0
    for step in data["steps"]:
        if step["kind"] == "linear":
            values = [
                sum(w * v for w, v in zip(row, values, strict=True)) + b
                for row, b in zip(step["W"], step["b"], strict=True)
            ]
        elif step["kind"] == "relu":
            values = [v if v > 0 else 0 for v in values]
        else:
            scaled = [math.floor(Fraction(v, 2 ** step["shift"]) + Fraction(1, 2)) for v in values]
            values = [min(max(v, step["min"]), step["max"]) for v in scaled]
            clamped += sum(v != s for v, s in zip(values, scaled, strict=True))
    return values, clamped


inputs = st.lists(st.integers(min_value=-(2**12), max_value=2**12), min_size=3, max_size=3)


@given(inputs)
def test_manifest_evaluate_equals_the_independent_integer_computation(x: list[int]) -> None:
    evaluation = toy().evaluate(x)
    expected, clamped = independent_evaluate(toy_dict(), x)
    assert list(evaluation.outputs) == expected
    assert evaluation.clamped == clamped


def test_manifest_clamps_are_flagged() -> None:
    manifest = toy()
    assert manifest.evaluate([0, 0, 0]).clamped == 0
    big = manifest.evaluate([4096, 0, 0])  # 70 * 4096 / 256 = 1120 > 100: clamped
    assert big.clamped >= 1
    assert max(big.block_inputs[1]) == 100
    assert manifest.predict([256.0, 0.0, 0.0]).clamped == big.clamped


@settings(max_examples=25)
@given(inputs, st.integers(min_value=1, max_value=4))
def test_manifest_shared_evaluation_reproduces_evaluate_exactly(x: list[int], k: int) -> None:
    """What the network does: per block, k shares; nodes W s + m; user sums, unmasks, + b."""
    manifest = toy()
    values: tuple[int, ...] = tuple(x)
    clamped = 0
    for block in manifest.blocks:
        shares = [[secrets.randbelow(BN254_R) for _ in values] for _ in range(k - 1)]
        shares.append([(v - sum(s[i] for s in shares)) % BN254_R for i, v in enumerate(values)])
        masks = [[secrets.randbelow(BN254_R) for _ in range(block.output_size)] for _ in shares]
        outs = [block.apply(s, m) for s, m in zip(shares, masks, strict=True)]
        total = [
            (sum(o[i] for o in outs) - sum(m[i] for m in masks)) % BN254_R
            for i in range(block.output_size)
        ]
        result = manifest.run_user_steps(block.index, block.reconstruct(total))
        values, clamped = result.values, clamped + result.clamped
    evaluation = manifest.evaluate(x)
    assert values == evaluation.outputs
    assert clamped == evaluation.clamped


def test_block_apply_rejects_wrong_sizes_and_values() -> None:
    block = toy().block(1)
    with pytest.raises(ShareError, match="takes 4/2"):
        block.apply([1, 2], [0, 0])
    with pytest.raises(ShareError, match="not a field element"):
        block.apply([BN254_R, 0, 0, 0], [0, 0])
    with pytest.raises(ShareError, match="has 2 outputs"):
        block.reconstruct([1])


def test_manifest_decode_argmax_and_sigmoid() -> None:
    manifest = toy()
    scale = 1 << manifest.output_scale_bits
    prediction = manifest.decode([5, 9])
    assert (prediction.label, prediction.label_name) == (1, "b")
    assert prediction.scores == (5 / scale, 9 / scale)
    assert manifest.decode([9, 9]).label == 0  # ties go to the first class
    with pytest.raises(ModelFormatError, match="3 outputs given"):
        manifest.decode([1, 2, 3])
    data = copy.deepcopy(toy_dict())
    data["steps"][3] = {"kind": "linear", "W": [[1, 2, 3, 4]], "b": [0]}
    data.update(postprocess="sigmoid", labels=["no", "yes"])
    binary = Manifest.from_dict(data)
    assert binary.decode([-scale]).label == 0
    positive = binary.decode([scale])
    assert positive.label == 1
    assert positive.probability == pytest.approx(0.7310585786)


# -- max_budget: parts whose assignments may be claimed in chunks of at most max_rounds ---------


def test_part_max_budget_defaults_to_max_rounds_and_keeps_the_canonical_json() -> None:
    manifest = toy()
    assert [p.max_budget for p in manifest.parts] == [1, 1]
    assert not any(p.chunked for p in manifest.parts)
    assert b"max_budget" not in manifest.canonical_json()
    # stating max_budget == max_rounds is the same manifest, byte for byte and by hash
    same = toy(
        parts=[
            {"schedule": [0], "max_rounds": 1, "max_budget": 1},
            {"schedule": [1], "max_rounds": 1},
        ]
    )
    assert same.canonical_json() == manifest.canonical_json()
    assert same.hash == manifest.hash


def test_part_max_budget_above_max_rounds_is_kept_and_changes_the_hash() -> None:
    parts = [
        {"schedule": [0], "max_rounds": 2, "max_budget": 5},
        {"schedule": [1], "max_rounds": 1},
    ]
    manifest = toy(parts=parts)
    part = manifest.parts[0]
    assert (part.max_rounds, part.max_budget, part.chunked) == (2, 5, True)
    assert part.to_dict() == {"schedule": [0], "max_rounds": 2, "max_budget": 5}
    assert manifest.hash != toy(parts=[{"schedule": [0], "max_rounds": 2}, parts[1]]).hash
    again = Manifest.from_json(manifest.to_json())
    assert again.hash == manifest.hash
    assert again.parts[0].max_budget == 5


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"schedule": [0], "max_rounds": 2, "max_budget": 1}, "max_budget must be in"),
        ({"schedule": [0], "max_rounds": 2, "max_budget": 0}, "max_budget must be in"),
        ({"schedule": [0], "max_rounds": 2, "max_budget": 1025}, "max_budget must be in"),
        ({"schedule": [0], "max_rounds": 2, "max_budget": 2.5}, "max_budget must be an integer"),
        ({"schedule": [0], "max_rounds": 2, "max_budget": True}, "max_budget must be an integer"),
        ({"schedule": [0], "max_rounds": 2, "max_budget": "5"}, "max_budget must be an integer"),
        ({"schedule": [0], "max_budget": 5}, "schedule and max_rounds"),
    ],
)
def test_part_max_budget_format_errors(part: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        toy(parts=[part, {"schedule": [1], "max_rounds": 1}])


def test_part_max_budget_needs_max_rounds_a_multiple_of_the_schedule() -> None:
    data = toy_dict()
    data["parts"] = [{"schedule": [1, 0], "max_rounds": 3, "max_budget": 6}]
    with pytest.raises(ModelFormatError, match="multiple of the schedule length 2"):
        Manifest.from_dict(data)
    data["parts"] = [{"schedule": [1, 0], "max_rounds": 4, "max_budget": 6}]
    assert Manifest.from_dict(data).parts[0].max_budget == 6
    # no chunking (max_budget == max_rounds): any max_rounds stays allowed, as before
    data["parts"] = [{"schedule": [1, 0], "max_rounds": 3, "max_budget": 3}]
    assert Manifest.from_dict(data).parts[0].max_budget == 3
