"""`zkai bench` for protocol v2: the quick bench end to end (part circuits, plaintext and
run_local baselines, gas on its own anvil with played nodes, ezkl), its JSON checked for
positive numbers, evaluated targets and present baselines; the cheap parts on their own.
No timing assertions: only shapes, signs and consistency.

The network sections (`zkai up`: e2e, API load, recovery) need the v2 node service; the quick
bench here skips them (`--skip-e2e --skip-reliability`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from zkai.bench.circuits import (
    V1_DIGITS_REFERENCE,
    part_section,
    random_openings,
    verify_gas_floor_formula,
)
from zkai.bench.cli import bench
from zkai.bench.common import percentile
from zkai.bench.ezkl_section import ezkl_scales
from zkai.bench.plaintext import plaintext_section
from zkai.bench.targets import targets_section
from zkai.errors import BenchmarkError
from zkai.models.demo import load_demo_manifest, load_split

pytestmark = pytest.mark.slow


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(bench)
    return app


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One quick bench run (module-scoped: it takes minutes)."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    result = CliRunner().invoke(
        _app(), ["--quick", "--skip-e2e", "--skip-reliability", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def test_floor_formula_is_exact() -> None:
    # l = 5 (tag, n, T_n, O_{n-1}, O_n): proof 256 bytes + 5 words = 416 bytes.
    assert verify_gas_floor_formula(5) == 21_000 + 45_000 + 4 * 34_000 + 5 * 6_150 + 16 * 416
    assert verify_gas_floor_formula(5) == 239_406


def test_percentile_interpolates() -> None:
    assert percentile([3.0], 0.9) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([5.0, 1.0, 2.0, 3.0, 4.0], 0.9) == pytest.approx(4.6)


def test_ezkl_scales_fit_float32() -> None:
    digits = load_demo_manifest("digits")
    x = digits.quantise_input([float(v) for v in load_split("digits").x_test[0]])
    assert ezkl_scales(digits, x) == (0, 0)  # the digits integers fit as they are
    cancer = load_demo_manifest("breast-cancer")
    x = cancer.quantise_input([float(v) for v in load_split("breast-cancer").x_test[0]])
    dx, dw = ezkl_scales(cancer, x)
    assert dx + dw > 0  # its bias at 2^32 does not


def test_part_section_of_breast_cancer_proves_a_real_query() -> None:
    manifest = load_demo_manifest("breast-cancer")
    x = [float(v) for v in load_split("breast-cancer").x_test[0]]
    messages: list[str] = []
    [(result, artifacts, proof)] = part_section(manifest, x, repeats=2, say=messages.append)
    section = result.to_json()
    assert section["constraints"] == artifacts.constraints > 0
    assert section["rounds_max"] == section["rounds_proved"] == 1
    assert section["public_inputs"] == 8 == len(proof.public_inputs)
    assert proof.rounds == 1
    assert section["witness_path"] in ("node", "wasmi")
    assert len(section["prove_ms"]) == 2
    assert all(v > 0 for v in section["prove_ms"])
    assert min(section["prove_ms"]) <= section["prove_ms_median"] <= section["prove_ms_p90"]
    assert section["verify_offchain_ms_median"] > 0
    assert section["proving_key_bytes"] > 0
    assert section["setup_ms"] > 0
    assert section["calldata_bytes_proof_and_inputs"] == 256 + 32 * 8  # 8 proof words + 8 inputs
    assert messages


def test_plaintext_section_checks_run_local_against_evaluate() -> None:
    manifest = load_demo_manifest("digits-mlp")
    inputs = [[float(v) for v in load_split("digits-mlp").x_test[i]] for i in range(2)]
    plain = plaintext_section(manifest, inputs, 2).to_json()
    assert plain["evaluate_us"] > 0
    assert plain["run_local_ms_median"] > 0
    assert plain["run_local_exact"] is True
    assert plain["run_local_samples"] == 2
    with pytest.raises(BenchmarkError, match="needs an input"):
        plaintext_section(manifest, [], 1)


def test_random_openings_have_the_block_sizes() -> None:
    manifest = load_demo_manifest("digits-mlp")
    [opening] = random_openings(manifest, 1, 1)
    assert (len(opening.share), len(opening.mask)) == (32, 10)


def _document(**digits_part: Any) -> dict[str, Any]:
    part = {"prove_ms_median": 200.0} | digits_part
    return {
        "models": {"digits": {"parts": [part], "ezkl": {"prove_ms_median": 4000.0}}},
        "ratios": {"digits": {"ezkl_prove_over_groth16_prove": 20.0}},
        "gas": {"claim_over_floor": 1.4},
        "e2e": {"models": {"digits-mlp": {"answer_s_median": 1.5}}, "throughput_qps": 1.0},
    }


def test_targets_are_judged_from_the_document() -> None:
    targets = targets_section(_document()).to_json()
    assert set(targets) == {
        "prove_part_digits_ms",
        "ezkl_speedup_digits",
        "claim_gas_over_floor",
        "e2e_answer_median_digits_mlp_s",
        "throughput_qps",
        "lm_tokens_per_s",
        "lm_proofs_after_last_token_s",
        "lm_ezkl_prover_speedup",
        "validity_snarkjs_prove_s",
        "validity_verify_gas",
    }
    # No language_model or validity section in this document: those targets are unmeasured.
    unmeasured = (
        "lm_tokens_per_s",
        "lm_ezkl_prover_speedup",
        "validity_snarkjs_prove_s",
        "validity_verify_gas",
    )
    assert all(not targets[k]["met"] for k in unmeasured)
    assert targets["prove_part_digits_ms"]["met"] is True
    assert targets["ezkl_speedup_digits"]["met"] is True
    assert targets["claim_gas_over_floor"]["met"] is False  # 1.4 > 1.3
    assert targets["e2e_answer_median_digits_mlp_s"]["met"] is True
    assert targets["throughput_qps"]["met"] is False
    assert (
        targets_section(_document(prove_ms_median=300.0)).to_json()["prove_part_digits_ms"]["met"]
        is False
    )
    skipped = targets_section({"models": {}, "e2e": None, "gas": None}).to_json()
    assert all(t["met"] is None for t in skipped.values())


def test_command_has_its_options() -> None:
    result = CliRunner().invoke(_app(), ["--help"])
    assert result.exit_code == 0
    for option in (
        "--quick",
        "--skip-gas",
        "--skip-e2e",
        "--skip-ezkl",
        "--skip-reliability",
        "--repeats",
        "--users",
        "--out",
    ):
        assert option in result.output


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


def test_quick_bench_measures_every_part(quick: dict[str, Any]) -> None:
    assert quick["errors"] == {}
    for name, parts in (("breast-cancer", 1), ("digits", 1), ("digits-mlp", 2)):
        model = quick["models"][name]
        assert len(model["parts"]) == parts
        for part in model["parts"]:
            for key in ("constraints", "setup_ms", "prove_ms_median", "verify_offchain_ms_median"):
                assert _positive(part[key]), (name, key)
    circuits = quick["circuits"]
    assert circuits["v1_reference_digits"] == V1_DIGITS_REFERENCE
    assert _positive(circuits["v2_digits_part_0"]["constraints_over_v1"])
    rounds = circuits["rounds"]
    assert rounds["rounds_max"] == 4
    assert rounds["constraints"] > 3 * rounds["constraints_r_max_1"]
    assert [(r["rounds_max"], r["rounds_proved"]) for r in rounds["rows"]] == [
        (1, 1),
        (4, 1),
        (4, 4),
    ]
    assert all(_positive(r["prove_ms_median"]) for r in rounds["rows"])


def test_quick_bench_has_its_baselines(quick: dict[str, Any]) -> None:
    for name, model in quick["models"].items():
        plain = model["plaintext"]
        assert _positive(plain["evaluate_us"])
        assert _positive(plain["run_local_ms_median"])
        assert plain["run_local_exact"] is True
        ezkl = model["ezkl"]
        assert ezkl is not None, name
        assert _positive(ezkl["prove_ms_median"])
        assert _positive(ezkl["verify_gas"])
        ratios = quick["ratios"][name]
        assert _positive(ratios["ezkl_prove_over_groth16_prove"])
        assert _positive(ratios["groth16_prove_over_evaluate"])
    assert quick["models"]["digits-mlp"]["ezkl"]["outputs"] == 10


def test_quick_bench_measures_gas_on_chain(quick: dict[str, Any]) -> None:
    gas = quick["gas"]
    assert gas["request_query_gas_2_parts"] > gas["request_query_gas_1_part"] > 21_000
    # A claim verifies the same proof as the floor transaction, and does more.
    assert gas["claim_gas_median"] > gas["floor_verify_proof_gas"] > 181_000
    assert gas["claim_over_floor"] == round(
        gas["claim_gas_median"] / gas["floor_verify_proof_gas"], 4
    )
    assert gas["claim_breakdown"]["verifier_frame"] > 0
    for key in ("settle_gas_all_claimed", "settle_after_deadline_gas", "slash_gas"):
        assert gas[key] > 21_000, key
    assert int(gas["slash_amount_zkai_wei"]) > 0
    # The withholding node's round is refunded: one round at one ZKAI.
    assert int(gas["settle_after_deadline_refund_zkai_wei"]) == 10**18
    mlp = gas["models"]["digits-mlp"]
    assert mlp["assignments_per_query"] == 4
    assert int(mlp["cost_zkai_wei"]) == int(mlp["escrow_zkai_wei"]) == 4 * 10**18


def test_quick_bench_evaluates_targets(quick: dict[str, Any]) -> None:
    targets = quick["targets"]
    for key in ("prove_part_digits_ms", "ezkl_speedup_digits", "claim_gas_over_floor"):
        assert targets[key]["met"] in (True, False), key
        assert targets[key]["measured"] is not None
    # Skipped by the options: not measured, and said so.
    assert targets["e2e_answer_median_digits_mlp_s"]["met"] is None
    assert quick["e2e"] is None
    assert quick["recovery"] is None


def test_quick_bench_document_is_json_ready(quick: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "again.json"
    path.write_text(json.dumps(quick))
    assert json.loads(path.read_text()) == quick
    assert quick["metadata"]["options"]["quick"] is True


def test_quick_bench_measures_the_language_model(quick: dict[str, Any]) -> None:
    lm = quick["language_model"]
    assert lm["model"] == "tiny-lm"
    plan = lm["plan"]
    assert plan["quick"] is True
    assert plan["new_tokens"] < 32
    assert "--quick" in plan["quick_note"]
    assert _positive(lm["plaintext"]["quantised_ms_per_token"])
    assert _positive(lm["plaintext"]["float_reference_ms_per_token"])
    parts = lm["circuits"]["parts"]
    assert [p["part"] for p in parts] == [0, 1]
    for part in parts:
        assert _positive(part["constraints"])
        assert _positive(part["chunk_prove_ms_median"])
        assert part["chunk_rounds_proved"] == part["rounds_max"]
    derived = lm["circuits"]["generation_derived"]
    assert derived["derived"] is True
    assert derived["new_tokens"] == plan["new_tokens"]
    assert _positive(derived["prove_ms_per_token_one_node_per_part"])
    # --quick has no ezkl baseline of the language model and --skip-e2e no generation: the
    # targets say "not measured".
    assert lm["ezkl"] is None
    assert lm["e2e"] is None
    targets = quick["targets"]
    for key in ("lm_tokens_per_s", "lm_proofs_after_last_token_s", "lm_ezkl_prover_speedup"):
        assert targets[key]["met"] is None, key
    assert _positive(lm["ratios"]["prover_ms_per_token_over_plaintext"])
