"""Part circuit builds: complete, cached by content hash, safe across processes; VK words and
hashes as the registry and VerifierFactory take them; development-only keys flagged."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from zkai.circuits.build import artifacts_key, load_part_artifacts
from zkai.circuits.part import part_artifacts
from zkai.circuits.part_source import part_source
from zkai.errors import CircuitBuildError, ModelFormatError

from ..conftest import PartBuild
from .toy import toy_manifest

TOY = toy_manifest()


def test_part_artifacts_are_complete_and_flagged_development_only() -> None:
    artifacts = part_artifacts(TOY, 0)
    assert artifacts.rounds == 3  # the part's max_rounds
    for role, path in artifacts.paths().items():
        assert path is not None, role
        assert path.exists(), role
    meta = json.loads((artifacts.directory / "artifacts.json").read_text())
    assert meta["setup"] == "development-single-party"
    assert meta["development_only"] is True
    assert "DEVELOPMENT ONLY" in meta["warning"]
    assert meta["manifest_hash"] == TOY.hash_hex
    assert (meta["part"], meta["rounds"], meta["schedule"]) == (0, 3, [0])
    assert meta["circuit_hash"] == "0x" + artifacts.circuit_hash.hex()
    assert meta["key_hash"] == "0x" + artifacts.key_hash.hex()
    assert artifacts.development_only
    assert artifacts.verifying_key.n_public == 8


def test_part_artifacts_vk_words_follow_the_factory_order() -> None:
    artifacts = part_artifacts(TOY, 1)
    vk = json.loads(artifacts.verification_key_path.read_text())
    words = artifacts.vk_words()
    assert len(words) == 2 + 3 * 4 + 2 * (8 + 1)
    assert words[:2] == tuple(int(v) for v in vk["vk_alpha_1"][:2])
    (bx0, bx1), (by0, by1) = vk["vk_beta_2"][0], vk["vk_beta_2"][1]
    assert words[2:6] == (int(bx1), int(bx0), int(by1), int(by0))  # EVM order: c1 first
    assert words[14:16] == tuple(int(v) for v in vk["IC"][0][:2])
    packed = b"".join(w.to_bytes(32, "big") for w in words)
    assert artifacts.key_hash == keccak(packed)
    assert artifacts.circuit_hash == keccak(part_source(TOY, 1, 1).encode())


def test_part_artifacts_unchanged_part_is_not_rebuilt() -> None:
    first = part_artifacts(TOY, 1)
    again = part_artifacts(toy_manifest(), 1)
    assert again.directory == first.directory
    assert again.setup_seconds == first.setup_seconds
    assert load_part_artifacts(TOY, 1) == first
    assert load_part_artifacts(TOY, 1, 7) is None  # never built with 7 slots


def test_part_artifacts_key_changes_with_circuit_and_setup() -> None:
    source = part_source(TOY, 0, 3)
    assert artifacts_key(source, "development-single-party") != artifacts_key(
        part_source(TOY, 0, 2), "development-single-party"
    )
    assert artifacts_key(source, "development-single-party") != artifacts_key(source, "ceremony")


def test_part_artifacts_bad_part_or_slot_count_is_refused() -> None:
    with pytest.raises(ModelFormatError, match=r"parts 0\.\.1"):
        part_artifacts(TOY, 2)
    with pytest.raises(CircuitBuildError, match="at least 1 slot"):
        part_artifacts(TOY, 0, 0)


def _build_in(root: str) -> str:
    return str(part_artifacts(TOY, 1, artifacts_root=Path(root)).directory)


def test_part_artifacts_concurrent_builders_produce_one_directory(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        directories = pool.map(_build_in, [str(tmp_path)] * 2)
    assert directories[0] == directories[1]
    entries = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert entries == [Path(directories[0]).name]  # no leftover staging directories


@pytest.mark.parametrize(
    ("name", "part", "low", "high"),
    [("digits", 0, 4_000, 5_000), ("digits-mlp", 0, 5_800, 6_800), ("digits-mlp", 1, 2_700, 3_400)],
)
def test_part_artifacts_demo_constraints_are_in_the_measured_range(
    demo_part: PartBuild, name: str, part: int, low: int, high: int
) -> None:
    artifacts = demo_part(name, part)
    assert artifacts.rounds == 1
    assert low < artifacts.constraints < high
    assert artifacts.wasm_path is not None  # the fast witness path was validated
