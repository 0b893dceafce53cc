"""The manifest: validation, canonical form and hash, overflow checks, the quantised model."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zkai.crypto.field import BN254_R, MAX_SIGNED
from zkai.errors import (
    EncodingOverflowError,
    InputRangeError,
    InvalidInputError,
    ModelFormatError,
    ShareError,
)
from zkai.models.manifest import Manifest


def small(**changes: object) -> Manifest:
    fields: dict[str, object] = {
        "name": "toy",
        "version": 1,
        "input_size": 3,
        "output_size": 2,
        "input_scale_bits": 4,
        "weight_scale_bits": 8,
        "weights": ((1, -2, 3), (-4, 5, -6)),
        "bias": (7, -8),
        "postprocess": "argmax",
        "input_min": (-16, -16, 0),
        "input_max": (16, 32, 48),
        "labels": ("a", "b"),
    }
    fields.update(changes)
    return Manifest(**fields)  # type: ignore[arg-type]


def test_json_round_trip_keeps_the_hash() -> None:
    manifest = small()
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest
    assert again.content_hash == manifest.content_hash
    assert len(manifest.content_hash) == 32
    assert manifest.content_hash_hex.startswith("0x")


def test_any_change_changes_the_hash() -> None:
    base = small().content_hash
    assert small(weights=((1, -2, 3), (-4, 5, -5))).content_hash != base
    assert small(bias=(7, -7)).content_hash != base
    assert small(version=2).content_hash != base
    assert small(postprocess="none", labels=None).content_hash != base


def test_canonical_json_is_compact_and_sorted() -> None:
    data = json.loads(small().canonical_json())
    assert list(data) == sorted(data)
    assert b" " not in small(description="").canonical_json()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Bad Name"}, "model name"),
        ({"version": 0}, "version"),
        ({"weights": ((1, 2), (3, 4))}, r"weights\[0\]"),
        ({"weights": ((1, 2.5, 3), (4, 5, 6))}, "not an integer"),
        ({"bias": (1,)}, "bias"),
        ({"postprocess": "softmax"}, "postprocess"),
        ({"postprocess": "sigmoid"}, "sigmoid post-processing needs 1 output"),
        ({"input_min": (0, 40, 0)}, "exceeds"),
        ({"labels": ("only-one",)}, "labels"),
    ],
)
def test_invalid_manifests_raise_model_format_error(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ModelFormatError, match=message):
        small(**changes)


def test_unknown_or_missing_fields_are_refused() -> None:
    data = small().to_dict()
    data["extra"] = 1
    with pytest.raises(ModelFormatError, match="unknown"):
        Manifest.from_dict(data)
    data = small().to_dict()
    del data["bias"]
    with pytest.raises(ModelFormatError, match="missing"):
        Manifest.from_dict(data)
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        Manifest.from_json("{")


def test_model_that_could_overflow_is_refused_at_build_time() -> None:
    huge = MAX_SIGNED // 10
    with pytest.raises(EncodingOverflowError, match=r"output 0 .* signed limit"):
        small(weights=((huge, 0, 0), (0, 0, 0)), input_max=(16, 32, 48))


def test_input_that_could_overflow_is_refused_at_encode_time() -> None:
    manifest = small(weights=((2**200, 0, 0), (0, 0, 0)), input_min=(0, 0, 0), input_max=(1, 1, 1))
    manifest.check_input([1, 0, 0])
    with pytest.raises(EncodingOverflowError, match="output 0 can reach"):
        manifest.quantise_input([2.0**60, 0.0, 0.0])


def test_declared_range_is_enforced_on_request() -> None:
    manifest = small()
    manifest.quantise_input([5.0, 0.0, 0.0])  # 5.0 * 16 = 80 > 16, allowed by default
    with pytest.raises(InputRangeError, match=r"input\[0\] = 5.0 is outside"):
        manifest.quantise_input([5.0, 0.0, 0.0], check_range=True)


def test_wrong_input_length_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="input has 2 features, model 'toy' takes 3"):
        small().quantise_input([1.0, 2.0])


@given(st.lists(st.integers(min_value=-(2**40), max_value=2**40), min_size=3, max_size=3))
def test_masked_output_sums_to_forward(x: list[int]) -> None:
    manifest = small()
    mask = [11, BN254_R - 3]
    share = [v % BN254_R for v in x]
    masked = manifest.masked_output(share, mask)
    unmasked = [(o - m) % BN254_R for o, m in zip(masked, mask, strict=True)]
    expected = [y - b for y, b in zip(manifest.forward(x), manifest.bias, strict=True)]
    assert unmasked == [e % BN254_R for e in expected]


def test_masked_output_rejects_wrong_share_length() -> None:
    with pytest.raises(ShareError, match="takes 3/2"):
        small().masked_output([1, 2], [0, 0])


def test_predict_argmax_and_sigmoid() -> None:
    manifest = small()
    prediction = manifest.predict([5, 9])
    assert prediction.label == 1
    assert prediction.label_name == "b"
    assert prediction.scores == (5 / 4096, 9 / 4096)
    assert manifest.predict([9, 9]).label == 0  # ties go to the first class
    binary = small(
        output_size=1,
        weights=((1, 2, 3),),
        bias=(0,),
        postprocess="sigmoid",
        labels=("no", "yes"),
    )
    assert binary.predict([-4096]).label == 0
    positive = binary.predict([4096])
    assert positive.label == 1
    assert positive.probability == pytest.approx(0.7310585786)
