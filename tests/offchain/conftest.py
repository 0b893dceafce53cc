"""Fixtures of the off-chain suite: demo manifests' part circuits, built once per session.

Circuit artifacts go to the on-disk cache under ZKAI_DATA_DIR (the test command sets
.zkai-test), so a second run of the suite does no setup at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from zkai.circuits.artifacts import PartArtifacts
from zkai.circuits.part import part_artifacts
from zkai.models.demo import load_demo_manifest

from .independent import IndependentChecks

PartBuild = Callable[..., PartArtifacts]


@pytest.fixture(scope="session")
def demo_part() -> PartBuild:
    """(name, part=0, rounds=None) -> the demo model's part circuit (development setup)."""
    built: dict[tuple[str, int, int | None], PartArtifacts] = {}

    def get(name: str, part: int = 0, rounds: int | None = None) -> PartArtifacts:
        key = (name, part, rounds)
        if key not in built:
            built[key] = part_artifacts(load_demo_manifest(name), part, rounds)
        return built[key]

    return get


@pytest.fixture(scope="session")
def independent() -> Iterator[IndependentChecks]:
    """snarkjs + a Solidity verifier on the test chain, to re-check the proofs a test makes."""
    checks = IndependentChecks()
    try:
        yield checks
    finally:
        checks.close()
