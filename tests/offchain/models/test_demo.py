"""The committed demo models: they match a fresh training run and the reported accuracy."""

from __future__ import annotations

import json

import pytest

from zkai.errors import ModelFormatError
from zkai.models.demo import DEMO_DIR, DEMO_MODELS, evaluate, load_demo_manifest, load_split, train

REPORT = json.loads((DEMO_DIR / "report.json").read_text())


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_demo_manifest_matches_a_fresh_training_run(name: str) -> None:
    fresh, float_accuracy = train(name)
    committed = load_demo_manifest(name)
    assert fresh.hash == committed.hash
    assert REPORT[name]["content_hash"] == committed.hash_hex
    assert float_accuracy == pytest.approx(REPORT[name]["float_accuracy"], abs=1e-6)


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_demo_quantised_accuracy_is_as_reported_and_close_to_float(name: str) -> None:
    manifest = load_demo_manifest(name)
    split = load_split(name)
    accuracy = evaluate(manifest, split.x_test, split.y_test)
    assert accuracy == pytest.approx(REPORT[name]["quantised_accuracy"], abs=1e-6)
    assert accuracy >= REPORT[name]["float_accuracy"] - 0.01
    assert accuracy > 0.9


def test_demo_shapes_parts_and_sizes() -> None:
    cancer, digits = load_demo_manifest("breast-cancer"), load_demo_manifest("digits")
    mlp = load_demo_manifest("digits-mlp")
    assert (cancer.input_size, cancer.output_size, cancer.postprocess) == (30, 1, "sigmoid")
    assert (digits.input_size, digits.output_size, digits.postprocess) == (64, 10, "argmax")
    for one in (cancer, digits):
        assert len(one.blocks) == 1
        assert [p.schedule for p in one.parts] == [(0,)]
    assert [(b.input_size, b.output_size) for b in mlp.blocks] == [(64, 32), (32, 10)]
    assert [(p.schedule, p.max_rounds) for p in mlp.parts] == [((0,), 1), ((1,), 1)]
    assert [s.to_dict()["kind"] for s in mlp.user_steps_after(0)] == ["relu", "rescale"]
    for name in DEMO_MODELS:
        assert (DEMO_DIR / f"{name}.json").stat().st_size < 32_000


def test_demo_unknown_name_is_refused() -> None:
    with pytest.raises(ModelFormatError, match="unknown demo model"):
        load_demo_manifest("nope")
