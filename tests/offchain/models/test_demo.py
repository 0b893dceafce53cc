"""The committed demo models: they match a fresh training run and the reported accuracy."""

from __future__ import annotations

import json

import pytest

from zkai.models.demo import DEMO_DIR, DEMO_MODELS, evaluate, load_demo_manifest, load_split, train

REPORT = json.loads((DEMO_DIR / "report.json").read_text())


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_committed_manifest_matches_a_fresh_training_run(name: str) -> None:
    fresh, float_accuracy = train(name)
    committed = load_demo_manifest(name)
    assert fresh.content_hash == committed.content_hash
    assert float_accuracy == pytest.approx(REPORT[name]["float_accuracy"], abs=1e-6)


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_quantised_accuracy_is_as_reported_and_close_to_float(name: str) -> None:
    manifest = load_demo_manifest(name)
    split = load_split(name)
    accuracy = evaluate(manifest, split.x_test, split.y_test)
    assert accuracy == pytest.approx(REPORT[name]["quantised_accuracy"], abs=1e-6)
    assert accuracy >= REPORT[name]["float_accuracy"] - 0.01
    assert accuracy > 0.9


def test_demo_shapes_and_sizes() -> None:
    cancer, digits = load_demo_manifest("breast-cancer"), load_demo_manifest("digits")
    assert (cancer.input_size, cancer.output_size, cancer.postprocess) == (30, 1, "sigmoid")
    assert (digits.input_size, digits.output_size, digits.postprocess) == (64, 10, "argmax")
    for name in DEMO_MODELS:
        assert (DEMO_DIR / f"{name}.json").stat().st_size < 16_000
