"""Fixtures of the off-chain suite: demo manifests and their circuits, built once per session.

Circuit artifacts go to the on-disk cache under ZKAI_DATA_DIR (the test command sets
.zkai-test), so a second run of the suite does no setup at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.build import build_circuit_dev
from zkai.models.demo import load_demo_manifest

from .independent import IndependentChecks


@pytest.fixture(scope="session")
def demo_artifacts() -> Callable[[str], CircuitArtifacts]:
    """name -> the demo model's built circuit (development setup), built at most once."""
    built: dict[str, CircuitArtifacts] = {}

    def get(name: str) -> CircuitArtifacts:
        if name not in built:
            built[name] = build_circuit_dev(load_demo_manifest(name))
        return built[name]

    return get


@pytest.fixture(scope="session")
def independent() -> Iterator[IndependentChecks]:
    """snarkjs + the deployed Solidity verifier, to re-check every proof a test makes."""
    checks = IndependentChecks()
    try:
        yield checks
    finally:
        checks.close()
