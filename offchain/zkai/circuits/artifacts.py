"""A built part circuit's files (`zkai.circuits.build` makes them) and what is derived from them.

A module of its own so the dependency runs one way, build -> prove -> artifacts: proving reads
the artifacts, and the build proves once through the fast witness path to validate it.

Hashes the registry records for a part (`PartTerms.circuitHash`, `.keyHash`):
- `circuit_hash` = keccak256 of the circuit's circom source (`circuit.circom`, UTF-8);
- `key_hash` = keccak256 of the packed verification-key words (`vk_words()`, 32 bytes each,
  big-endian), i.e. what `Groth16Verifier.vkHash()` returns for the verifier deployed from them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, Protocol

import groth16py
from eth_hash.auto import keccak

from zkai.models.manifest import Manifest

__all__ = [
    "PUBLIC_INPUT_COUNT",
    "BuiltCircuit",
    "CircuitKeys",
    "PartArtifacts",
    "SetupKind",
    "vk_words_from_snarkjs",
]

SetupKind = Literal["development-single-party", "ceremony"]
PUBLIC_INPUT_COUNT = 8
"""(tag, n0, T_n0|0, O_n0|0, n, T_n, O_{n-1}, O_n): `part_source.PUBLIC_INPUTS`."""


class CircuitKeys(Protocol):
    """What proving and verifying read of a built circuit (part or validity artifacts)."""

    @property
    def directory(self) -> Path: ...

    @property
    def wasm_path(self) -> Path | None: ...

    @property
    def proving_key(self) -> groth16py.ProvingKey: ...

    @property
    def verifier(self) -> groth16py.Verifier: ...

    @property
    def n_public(self) -> int: ...


def vk_words_from_snarkjs(vk: dict[str, object]) -> tuple[int, ...]:
    """VerifierFactory's VK words from a snarkjs verification_key.json object.

    alpha1.x, alpha1.y, beta2, gamma2, delta2 (each x.c1, x.c0, y.c1, y.c0: the EVM pairing
    order), then the IC points (x, y), publicInputCount + 1 of them.
    """

    def g1(point: object) -> list[int]:
        assert isinstance(point, list)
        return [int(point[0]), int(point[1])]

    def g2(point: object) -> list[int]:
        assert isinstance(point, list)
        (x0, x1), (y0, y1) = point[0], point[1]
        return [int(x1), int(x0), int(y1), int(y0)]

    ic = vk["IC"]
    assert isinstance(ic, list)
    words = [
        *g1(vk["vk_alpha_1"]),
        *g2(vk["vk_beta_2"]),
        *g2(vk["vk_gamma_2"]),
        *g2(vk["vk_delta_2"]),
    ]
    for point in ic:
        words += g1(point)
    return tuple(words)


class BuiltCircuit:
    """What every built circuit directory holds and derives (part and validity circuits):
    circuit.circom, proving_key.bin, verification_key.json, and their hashes."""

    directory: Path
    setup_kind: SetupKind

    @property
    def circuit_path(self) -> Path:
        return self.directory / "circuit.circom"

    @property
    def proving_key_path(self) -> Path:
        return self.directory / "proving_key.bin"

    @property
    def verification_key_path(self) -> Path:
        return self.directory / "verification_key.json"

    @property
    def development_only(self) -> bool:
        """True for single-party setups, whose keys must never secure real value."""
        return self.setup_kind == "development-single-party"

    @cached_property
    def circuit_hash(self) -> bytes:
        """keccak256 of the circom source (bytes32)."""
        return bytes(keccak(self.circuit_path.read_bytes()))

    @cached_property
    def verification_key(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.verification_key_path.read_text())
        return data

    def vk_words(self) -> tuple[int, ...]:
        """The VK words `VerifierFactory.deploy` takes (v2-interfaces.md order)."""
        return vk_words_from_snarkjs(self.verification_key)

    @cached_property
    def key_hash(self) -> bytes:
        """keccak256 of the packed VK words (bytes32): the deployed verifier's `vkHash()`."""
        return bytes(keccak(b"".join(w.to_bytes(32, "big") for w in self.vk_words())))

    @cached_property
    def proving_key(self) -> groth16py.ProvingKey:
        return groth16py.ProvingKey.load(str(self.proving_key_path))

    @cached_property
    def verifying_key(self) -> groth16py.VerifyingKey:
        return groth16py.VerifyingKey.from_snarkjs(self.verification_key_path.read_text())

    @cached_property
    def verifier(self) -> groth16py.Verifier:
        return groth16py.Verifier(self.verifying_key)


@dataclass(frozen=True)
class PartArtifacts(BuiltCircuit):
    """A built part circuit: where its files are and what it cost. Keys load lazily."""

    directory: Path
    key: str
    manifest: Manifest
    part: int
    rounds: int
    constraints: int
    setup_seconds: float
    setup_kind: SetupKind
    groth16py_version: str

    @property
    def wasm_path(self) -> Path | None:
        """The witness calculator wasm, if the fast witness path was validated for it."""
        path = self.directory / "circuit.wasm"
        return path if path.exists() else None

    @property
    def n_public(self) -> int:
        return PUBLIC_INPUT_COUNT

    def paths(self) -> dict[str, Path | None]:
        """Every artifact file by role (for benchmarks and tooling)."""
        return {
            "directory": self.directory,
            "circuit": self.circuit_path,
            "proving_key": self.proving_key_path,
            "wasm": self.wasm_path,
            "verification_key": self.verification_key_path,
        }
