"""The language-model bench section without a chain: the float reference and the ONNX graph
ezkl proves compute the same logits as the quantised model, the generation's prover time is
derived from the chunk proofs by the stated rule, the targets are judged from the document, and
the e2e figures are read from `zkai generate`'s JSON. Real Groth16 chunk proofs and ezkl proofs
of a small decoder are in the slow tests at the end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.offchain.bench.lm_fixture import small_decoder
from zkai.bench.lm_circuits import LmPartResult, derive_generation
from zkai.bench.lm_e2e import LmGeneration
from zkai.bench.lm_onnx import FloatDecoder, build_lm_onnx, lm_onnx_inputs
from zkai.bench.lm_plaintext import lm_plaintext_section
from zkai.bench.lm_section import LmPlan, lm_plan
from zkai.bench.options import BenchOptions
from zkai.bench.targets import lm_targets, targets_section
from zkai.errors import BenchmarkError
from zkai.models.decoder import Decoder, generate, local_linear
from zkai.models.manifest import Manifest


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return small_decoder()


def _quantised_logits(manifest: Manifest, tokens: list[int]) -> np.ndarray:
    """The quantised model's logits after `tokens` (as floats at the output scale)."""
    seen: list[tuple[int, ...]] = []
    linear = local_linear(manifest)

    def spy(block: int, x: tuple[int, ...]) -> tuple[int, ...]:
        y = linear(block, x)
        if block == 4:
            seen.append(y)
        return y

    list(generate(manifest, tokens, 1, spy))
    return np.array(seen[-1], dtype=np.float64) / 2.0**manifest.output_scale_bits


def test_float_reference_matches_the_quantised_model(manifest: Manifest) -> None:
    model = FloatDecoder.from_manifest(manifest)
    tokens = Decoder.from_manifest(manifest).encode("abc ")
    keys, values = model.empty_cache()
    for token in tokens:
        logits, keys, values = model.step(token, keys, values)
    quantised = _quantised_logits(manifest, list(tokens))
    # Rounding to 2^-12 between blocks moves the logits by little, not by their scale.
    assert np.abs(logits - quantised).max() < 0.05 * np.abs(quantised).max()
    assert keys.shape == (len(tokens), 8)


@pytest.mark.parametrize("position", [0, 3])
def test_onnx_graph_computes_the_float_reference(
    manifest: Manifest, position: int, tmp_path: Path
) -> None:
    from onnx.reference import ReferenceEvaluator

    model = FloatDecoder.from_manifest(manifest)
    token, keys, values = model.cache_at([1, 2], position)
    assert keys.shape == (position, model.d_model)
    expected, _, _ = model.step(token, keys, values)
    path = tmp_path / "lm.onnx"
    build_lm_onnx(model, position, path)
    data = lm_onnx_inputs(model, token, keys, values)
    assert len(data) == (1 if position == 0 else 3)
    feeds = {"token": np.array(data[0], dtype=np.float32).reshape(1, -1)}
    if position:
        feeds["past_k"] = keys.astype(np.float32)
        feeds["past_v"] = values.astype(np.float32)
    (got,) = ReferenceEvaluator(str(path)).run(None, feeds)
    assert got.shape == (1, len(model.vocab))
    np.testing.assert_allclose(got[0], expected, atol=1e-4)


def test_onnx_graph_refuses_a_position_outside_the_context(
    manifest: Manifest, tmp_path: Path
) -> None:
    with pytest.raises(BenchmarkError, match="outside the context"):
        build_lm_onnx(FloatDecoder.from_manifest(manifest), 12, tmp_path / "x.onnx")


def test_float_reference_refuses_a_model_without_decoder() -> None:
    from zkai.models.demo import load_demo_manifest

    with pytest.raises(BenchmarkError, match="not a decoder"):
        FloatDecoder.from_manifest(load_demo_manifest("digits"))


def test_plaintext_section_generates_what_the_decoder_generates(manifest: Manifest) -> None:
    result = lm_plaintext_section(manifest, "abc", 5, 2)
    decoder = Decoder.from_manifest(manifest)
    expected = list(generate(manifest, decoder.encode("abc"), 5, local_linear(manifest)))
    assert result.quantised_text == decoder.decode(expected)
    assert len(result.float_text) == 5
    assert 0 <= result.tokens_agreeing <= 5
    assert result.quantised_ms_per_token > 0
    assert result.float_ms_per_token > 0
    assert result.to_json()["quantised_tokens_per_s"] > 0


def _part(part: int, rounds_max: int, budget: int, prove_ms: float) -> LmPartResult:
    return LmPartResult(
        part=part,
        schedule=(0, 1) if part == 0 else (2, 3, 4),
        rounds_max=rounds_max,
        max_budget=budget,
        constraints=1000,
        public_inputs=8,
        setup_ms=1.0,
        setup_fresh=False,
        setup_kind="dev",
        proving_key_bytes=1,
        witness_path="node",
        prove_ms=(prove_ms,),
        prove_ms_median=prove_ms,
        prove_ms_p90=prove_ms,
    )


def test_generation_is_derived_from_the_chunk_proofs(manifest: Manifest) -> None:
    parts = (_part(0, 2, 24, 100.0), _part(1, 3, 36, 300.0))
    derived = derive_generation(manifest, parts, prompt_len=3, new_tokens=4, shares=2)
    # 6 passes: part 0 serves 12 rounds (6 chunks of 2), part 1 18 rounds (6 chunks of 3).
    assert derived.passes == 6
    assert [(p.rounds, p.chunks) for p in derived.parts] == [(12, 6), (18, 6)]
    assert [p.prove_ms_per_node for p in derived.parts] == [600.0, 1800.0]
    assert derived.prove_ms_per_token == (600.0 + 1800.0) / 4
    data = derived.to_json()
    assert data["derived"] is True
    assert data["prove_ms_per_token_all_nodes"] == 2 * derived.prove_ms_per_token
    assert data["chunk_claims_per_node"] == {"0": 6, "1": 6}
    # A chunk that is not full still costs a whole R_max-slot proof.
    odd = derive_generation(manifest, parts, prompt_len=2, new_tokens=2, shares=2)
    assert [p.chunks for p in odd.parts] == [math.ceil(6 / 2), math.ceil(9 / 3)]


def test_generation_beyond_the_budget_is_refused(manifest: Manifest) -> None:
    parts = (_part(0, 2, 4, 100.0), _part(1, 3, 36, 300.0))
    with pytest.raises(BenchmarkError, match="exceed its max budget"):
        derive_generation(manifest, parts, prompt_len=3, new_tokens=4, shares=2)


def test_quick_plan_is_shorter_and_says_so() -> None:
    full, quick = lm_plan(BenchOptions()), lm_plan(BenchOptions(quick=True))
    assert full.new_tokens == 32
    assert not full.quick
    assert full.to_json()["quick_note"] is None
    assert quick.new_tokens < 32
    assert quick.quick
    assert str(quick.new_tokens) in quick.to_json()["quick_note"]
    assert full.ezkl
    assert not quick.ezkl
    assert isinstance(quick, LmPlan)


def _document(rate: float | None, proofs: float | None, speedup: float | None) -> dict[str, Any]:
    return {
        "language_model": {
            "plan": {"new_tokens": 32},
            "e2e": None
            if rate is None
            else {"tokens_per_s_median": rate, "proofs_after_last_token_s_max": proofs},
            "ratios": {
                "ezkl_over_prover_per_token": speedup,
                "prover_ms_per_token": 10.0,
                "ezkl_prove_ms_per_token": None if speedup is None else 10.0 * speedup,
            },
        }
    }


def test_lm_targets_are_judged() -> None:
    met = lm_targets(_document(6.0, 30.0, 12.0))
    assert {k: t.met for k, t in met.items()} == {
        "lm_tokens_per_s": True,
        "lm_proofs_after_last_token_s": True,
        "lm_ezkl_prover_speedup": True,
    }
    missed = lm_targets(_document(4.9, 61.0, 9.9))
    assert not any(t.met for t in missed.values())
    unknown = lm_targets(_document(None, None, None))
    assert all(t.met is None for t in unknown.values())
    assert set(met) <= set(targets_section(_document(6.0, 30.0, 12.0)).entries)


def test_lm_targets_say_when_fewer_tokens_were_generated() -> None:
    document = _document(6.0, 30.0, 12.0)
    document["language_model"]["plan"]["new_tokens"] = 8
    target = lm_targets(document)["lm_tokens_per_s"].to_json()
    assert "8 tokens" in target["note"]


def _outcome() -> dict[str, Any]:
    return {
        "tokens": [1, 2, 3, 4],
        "tokens_per_s": 5.5,
        "time_to_first_token_s": 1.2,
        "proofs_after_last_token_s": 20.0,
        "latency_s": 30.0,
        "verified": True,
        "gas": {"request": 400_000, "claims": 1_200_000, "claim_chunks": 4, "total": 1_600_000},
        "assignments": [
            {"part": 0, "node": "0xa", "chunks": [{}, {}]},
            {"part": 1, "node": "0xb", "chunks": [{}, {}]},
        ],
    }


def test_e2e_figures_are_read_from_the_generation() -> None:
    generation = LmGeneration.of(_outcome(), 4)
    assert generation.tokens_per_s == 5.5
    assert generation.gas_total == 1_600_000
    assert generation.chunks_per_assignment == {"part 0 / 0xa": 2, "part 1 / 0xb": 2}
    broken = _outcome()
    broken["proofs_after_last_token_s"] = None
    with pytest.raises(BenchmarkError, match="proofs_after_last_token_s"):
        LmGeneration.of(broken, 4)


@pytest.mark.slow
def test_chunk_circuits_prove_full_chunks_of_a_small_decoder(manifest: Manifest) -> None:
    from zkai.bench.lm_circuits import lm_circuits_section

    result = lm_circuits_section(manifest, prompt_len=3, new_tokens=4, shares=2, repeats=1)
    assert [p.rounds_max for p in result.parts] == [2, 3]
    for part in result.parts:
        assert part.constraints > 0
        assert part.prove_ms_median > 0
        assert len(part.prove_ms) == 1
    assert result.generation.prove_ms_per_token == pytest.approx(
        sum(6 * p.prove_ms_median for p in result.parts) / 4, rel=1e-3
    )
    assert result.to_json()["generation_derived"]["derived"] is True


@pytest.mark.slow
def test_ezkl_proves_one_token_of_a_small_decoder(manifest: Manifest, tmp_path: Path) -> None:
    from zkai.bench.lm_ezkl import lm_ezkl_section

    decoder = Decoder.from_manifest(manifest)
    result = lm_ezkl_section(
        manifest, decoder.encode("ab"), 3, tmp_path, repeats=1, configs=["best"]
    )
    best = result.configs["best"]
    assert best.result.prove_ms_median > 0
    assert best.result.logrows > 0
    assert best.result.input_visibility == "private"
    assert best.result.decomp_base == 128
    assert best.result.decomp_legs == 4
    # ezkl proved the logits of the float model, up to its fixed-point scale.
    assert best.argmax_matches
    assert best.logits_max_abs_error < 0.5  # fixed point at 2^7 or 2^8
    assert result.to_json()["attention_positions"] == 4
    with pytest.raises(BenchmarkError, match="ezkl configurations"):
        lm_ezkl_section(manifest, [1], 1, tmp_path, repeats=1, configs=["fastest"])


def test_gas_per_token_is_derived_from_the_gas_section(manifest: Manifest) -> None:
    from zkai.bench.lm_circuits import LmCircuitsResult
    from zkai.bench.ratios import lm_ratios

    parts = (_part(0, 2, 24, 100.0), _part(1, 3, 36, 300.0))
    circuits = LmCircuitsResult(
        parts, derive_generation(manifest, parts, prompt_len=3, new_tokens=4, shares=2)
    )
    gas = {"request_query_gas_2_parts": 500_000, "claim_gas_median": 300_000}
    ratios = lm_ratios(None, circuits, None, None, gas)
    # 2 nodes x (6 + 6 chunks) claims.
    assert ratios.gas_per_query_derived == 500_000 + 24 * 300_000
    assert ratios.gas_per_token_derived == (500_000 + 24 * 300_000) // 4
    assert ratios.ezkl_over_prover_per_token is None
    assert lm_ratios(None, circuits, None, None, None).gas_per_query_derived is None
