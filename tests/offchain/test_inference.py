"""A whole private query in-process equals the plaintext quantised model, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkai.inference import run_local
from zkai.models.demo import DEMO_MODELS, load_demo_manifest, load_split
from zkai.models.importers import from_layers


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_run_local_demo_models_equal_plaintext(name: str) -> None:
    manifest = load_demo_manifest(name)
    split = load_split(name)
    for sample in range(5):
        x = [float(v) for v in split.x_test[sample]]
        run = run_local(manifest, x, shares=3)
        expected = manifest.evaluate(manifest.quantise_input(x))
        assert run.outputs == expected.outputs
        assert run.prediction.label == manifest.predict(x).label
        assert run.clamped == expected.clamped


def test_run_local_parts_use_distinct_nodes_and_rounds() -> None:
    manifest = load_demo_manifest("digits-mlp")
    split = load_split("digits-mlp")
    run = run_local(manifest, [float(v) for v in split.x_test[0]], shares=2)
    assert len(run.nodes) == len(manifest.parts) == 2
    addresses = {n.account.address for part in run.nodes for n in part}
    assert len(addresses) == 4
    for p in range(2):
        for i in range(2):
            assert len(run.openings(p, i)) == 1
            assert run.session.assignment(p, run.nodes[p][i].account.address).rounds == 1


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    hidden=st.integers(1, 6),
    shares=st.integers(1, 4),
)
def test_run_local_random_mlp_equals_plaintext(seed: int, hidden: int, shares: int) -> None:
    rng = np.random.default_rng(seed)
    layers = [
        (rng.normal(size=(hidden, 4)), rng.normal(size=hidden)),
        (rng.normal(size=(3, hidden)), rng.normal(size=3)),
    ]
    manifest = from_layers(
        layers,
        name="random-mlp",
        version=1,
        input_scale_bits=8,
        weight_scale_bits=8,
        postprocess="argmax",
        input_min=[-2.0] * 4,
        input_max=[2.0] * 4,
        hidden_max=[8.0],
    )
    x = [float(v) for v in rng.uniform(-2, 2, size=4)]
    run = run_local(manifest, x, shares=shares)
    assert run.outputs == manifest.evaluate(manifest.quantise_input(x)).outputs
