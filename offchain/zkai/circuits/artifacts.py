"""A built circuit's files (`zkai.circuits.build` makes them) and the keys loaded from them.

A module of its own so the dependency runs one way, build -> prove -> artifacts: proving reads
the artifacts, and the build proves once through the fast witness path to validate it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import groth16py

from zkai.models.manifest import Manifest

from .source import public_input_count

__all__ = ["CircuitArtifacts", "SetupKind"]

SetupKind = Literal["development-single-party", "ceremony"]


@dataclass(frozen=True)
class CircuitArtifacts:
    """A built circuit: where its files are and what it cost. Load keys lazily from here."""

    directory: Path
    key: str
    manifest: Manifest
    constraints: int
    setup_seconds: float
    setup_kind: SetupKind
    groth16py_version: str

    @property
    def circuit_path(self) -> Path:
        return self.directory / "circuit.circom"

    @property
    def proving_key_path(self) -> Path:
        return self.directory / "proving_key.bin"

    @property
    def wasm_path(self) -> Path | None:
        """The witness calculator wasm, if the fast witness path was validated for it."""
        path = self.directory / "circuit.wasm"
        return path if path.exists() else None

    @property
    def verification_key_path(self) -> Path:
        return self.directory / "verification_key.json"

    @property
    def verifier_source_path(self) -> Path:
        return self.directory / "Verifier.sol"

    @property
    def verifier_build_path(self) -> Path:
        return self.directory / "verifier.json"

    @property
    def n_public(self) -> int:
        return public_input_count(self.manifest)

    @property
    def development_only(self) -> bool:
        """True for single-party setups, whose keys must never secure real value."""
        return self.setup_kind == "development-single-party"

    @cached_property
    def proving_key(self) -> groth16py.ProvingKey:
        return groth16py.ProvingKey.load(str(self.proving_key_path))

    @cached_property
    def verifying_key(self) -> groth16py.VerifyingKey:
        return groth16py.VerifyingKey.from_snarkjs(self.verification_key_path.read_text())

    @cached_property
    def verifier(self) -> groth16py.Verifier:
        return groth16py.Verifier(self.verifying_key)

    @cached_property
    def verifier_build(self) -> dict[str, Any]:
        """{"contract", "abi", "bytecode", "deployed_bytecode"} of the compiled verifier."""
        data: dict[str, Any] = json.loads(self.verifier_build_path.read_text())
        return data

    def paths(self) -> dict[str, Path | None]:
        """Every artifact file by role (for benchmarks and tooling)."""
        return {
            "directory": self.directory,
            "circuit": self.circuit_path,
            "proving_key": self.proving_key_path,
            "wasm": self.wasm_path,
            "verification_key": self.verification_key_path,
            "verifier_source": self.verifier_source_path,
            "verifier_build": self.verifier_build_path,
        }
