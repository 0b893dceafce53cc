"""`zkai bench`'s cheapest meaningful part: the Groth16 section of the breast-cancer model with a
fresh setup, its plaintext section, the gas floor, the targets table and the command's wiring.
No timing assertions: only shapes, signs and consistency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from zkai.bench.common import percentile
from zkai.bench.ezkl_section import ezkl_scales
from zkai.bench.groth16 import groth16_model_section, verify_gas_floor
from zkai.bench.plaintext import plaintext_section
from zkai.bench.targets import targets_section
from zkai.circuits.build import circuit_info
from zkai.cli import app
from zkai.models.demo import load_demo_manifest, load_split


def test_floor_formula_is_exact() -> None:
    # l = 11 (digits: a commitment and 10 outputs): proof 256 bytes + 11 words = 608 bytes.
    assert verify_gas_floor(11) == 21_000 + 45_000 + 4 * 34_000 + 11 * 6_150 + 16 * 608
    assert verify_gas_floor(11) == 279_378
    assert verify_gas_floor(2) == 21_000 + 45_000 + 136_000 + 12_300 + 16 * 320
    assert verify_gas_floor(2, calldata_bytes=100) == 21_000 + 45_000 + 136_000 + 12_300 + 1_600


def test_percentile() -> None:
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


def test_groth16_section_of_breast_cancer(tmp_path: Path) -> None:
    manifest = load_demo_manifest("breast-cancer")
    x = [float(v) for v in load_split("breast-cancer").x_test[0]]
    messages: list[str] = []
    result, artifacts = groth16_model_section(manifest, x, tmp_path, repeats=2, say=messages.append)
    section = result.to_json()
    info = circuit_info(manifest, artifacts_root=tmp_path)
    assert section["constraints"] == info["constraints"] == artifacts.constraints > 0
    assert section["public_inputs"] == 1 + manifest.output_size == 2
    assert section["setup_fresh"] is True
    assert section["witness_path"] in ("node", "wasmi")
    assert len(section["prove_ms"]) == 2
    assert all(v > 0 for v in section["prove_ms"])
    assert min(section["prove_ms"]) <= section["prove_ms_median"] <= section["prove_ms_p90"]
    assert section["prove_ms_p90"] <= max(section["prove_ms"])
    assert section["verify_offchain_ms_median"] > 0
    assert section["proof_bytes"] == 256
    assert section["calldata_bytes_proof_and_inputs"] == 256 + 32 * 2
    assert section["verify_gas_floor"] == verify_gas_floor(2) == 219_420
    assert section["verifier_runtime_bytes"] == info["verifier_runtime_bytes"] > 0
    assert section["setup_ms"] > 0
    assert section["proving_key_bytes"] > 0
    json.dumps(section)  # JSON-ready
    assert messages

    plain = plaintext_section(manifest, x).to_json()
    for key in ("numpy_float_us", "integer_forward_us", "node_masked_output_us"):
        assert plain[key] > 0


def _results(**digits: Any) -> dict[str, Any]:
    groth16 = {"prove_ms_median": 200.0, "submit_result_gas_over_floor": 1.2} | digits
    return {
        "models": {
            "digits": {"groth16": groth16, "ezkl": {"prove_ms_median": 4000.0}},
            "breast-cancer": {"groth16": {"submit_result_gas_over_floor": 1.3}},
        },
        "ratios": {"digits": {"ezkl_prove_over_groth16_prove": 20.0}},
        "e2e": {"latency_s_median": 1.5, "throughput_qps": 1.0},
    }


def test_targets() -> None:
    targets = targets_section(_results()).to_json()
    assert set(targets) == {
        "prove_per_share_digits_ms",
        "ezkl_speedup_digits",
        "submit_result_gas_over_floor",
        "e2e_latency_median_s",
        "throughput_qps",
    }
    assert targets["prove_per_share_digits_ms"] == {
        "target": "< 250 ms",
        "measured": 200.0,
        "met": True,
    }
    assert targets["ezkl_speedup_digits"]["met"] is True
    assert targets["submit_result_gas_over_floor"]["met"] is False  # breast-cancer at 1.3
    assert targets["e2e_latency_median_s"]["met"] is True
    assert targets["throughput_qps"]["met"] is False
    skipped = targets_section({"models": {}, "e2e": None}).to_json()
    assert all(t["met"] is None for t in skipped.values())


def test_command_is_registered() -> None:
    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    for option in ("--quick", "--skip-e2e", "--skip-ezkl", "--repeats", "--users", "--out"):
        assert option in result.output
