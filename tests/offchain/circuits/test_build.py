"""Building circuits: contents, the content-hash cache, concurrent builders."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.build import artifacts_key, build_circuit_dev, circuit_info, load_artifacts
from zkai.models.manifest import Manifest

TINY = Manifest(
    name="tiny",
    version=1,
    input_size=2,
    output_size=1,
    input_scale_bits=0,
    weight_scale_bits=0,
    weights=((3, -5),),
    bias=(1,),
    postprocess="none",
    input_min=(-10, -10),
    input_max=(10, 10),
)


def test_artifacts_are_complete(demo_artifacts: Callable[[str], CircuitArtifacts]) -> None:
    artifacts = demo_artifacts("digits")
    for role, path in artifacts.paths().items():
        assert path is not None, role
        assert path.exists(), role
    meta = json.loads((artifacts.directory / "artifacts.json").read_text())
    assert meta["setup"] == "development-single-party"
    assert artifacts.development_only
    assert meta["manifest_hash"] == artifacts.manifest.content_hash_hex
    assert artifacts.constraints > 1000
    assert artifacts.verifier_build["bytecode"]
    assert "pragma solidity ^0.8.24" in artifacts.verifier_source_path.read_text()
    assert artifacts.verifying_key.n_public == 11


def test_unchanged_model_is_not_rebuilt(
    demo_artifacts: Callable[[str], CircuitArtifacts],
) -> None:
    first = demo_artifacts("breast-cancer")
    stamp = (first.directory / "proving_key.bin").stat().st_mtime_ns
    started = time.perf_counter()
    again = build_circuit_dev(first.manifest)
    assert time.perf_counter() - started < 0.5
    assert again.directory == first.directory
    assert (again.directory / "proving_key.bin").stat().st_mtime_ns == stamp
    assert load_artifacts(first.manifest) == again


def test_a_changed_model_gets_a_new_key() -> None:
    other = Manifest.from_dict({**TINY.to_dict(), "weights": [[3, -4]]})
    assert artifacts_key(TINY, "development-single-party") != artifacts_key(
        other, "development-single-party"
    )
    assert artifacts_key(TINY, "development-single-party") != artifacts_key(TINY, "ceremony")


def _build_in(root: str) -> str:
    return str(build_circuit_dev(TINY, artifacts_root=Path(root)).directory)


def test_concurrent_builders_produce_one_directory(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        directories = pool.map(_build_in, [str(tmp_path)] * 2)
    assert directories[0] == directories[1]
    entries = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert entries == [Path(directories[0]).name]  # no leftover staging directories
    info = circuit_info(TINY, artifacts_root=tmp_path)
    assert (
        info["constraints"]
        == json.loads((Path(directories[0]) / "artifacts.json").read_text())["constraints"]
    )
    assert info["setup_seconds"] > 0
    assert info["verifier_runtime_bytes"] > 0


def test_circuit_info_reports_what_benchmarks_need(
    demo_artifacts: Callable[[str], CircuitArtifacts],
) -> None:
    artifacts = demo_artifacts("digits")
    info = circuit_info(artifacts.manifest)
    assert info["constraints"] == artifacts.constraints
    assert info["public_inputs"] == 11
    assert info["paths"]["proving_key"] == str(artifacts.proving_key_path)
    assert info["fast_witness"] is True


@pytest.mark.parametrize("name", ["breast-cancer", "digits"])
def test_constraint_counts_are_in_the_expected_range(
    demo_artifacts: Callable[[str], CircuitArtifacts], name: str
) -> None:
    # ~40 constraints per committed value with wide Poseidon (TOOLCHAIN.md: 3,010 for digits)
    artifacts = demo_artifacts(name)
    committed = artifacts.manifest.input_size + artifacts.manifest.output_size + 1
    assert 30 * committed < artifacts.constraints < 50 * committed
