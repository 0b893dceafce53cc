"""Real Groth16 material for the contract tests: the test circuits, shares, proofs, verifiers.

A circuit is compiled and set up (single-party, development only) once per content hash and cached
under $ZKAI_DATA_DIR/test-circuits (default .zkai-test in the repository). Its verifier is
generated from the verifying key, compiled with the project's pinned compiler and deployed behind
a `Groth16VerifierAdapter`: no mocks anywhere.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import groth16py
import light_poseidon_python
from ape.contracts import ContractContainer
from ethpm_types import ContractType

from zkai.chain.solidity import compile_solidity
from zkai.toolchain import REPO_ROOT

FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617
CIRCUITS = Path(__file__).parent / "circuits"
SHARE_INPUTS = 2  # n of the test circuits (private share length)


def poseidon2(a: int, b: int) -> int:
    return int(light_poseidon_python.poseidon_hash([a, b]))


@dataclass(frozen=True)
class Share:
    """One node's share of a query: the private witness and the public signals."""

    s: list[int]
    m: list[int]
    salt: int

    @property
    def commitment(self) -> int:
        h = self.salt
        for x in [*self.s, *self.m]:
            h = poseidon2(h, x)
        return h

    @property
    def outputs(self) -> list[int]:
        return [
            (sum((i + j + 1) * si for i, si in enumerate(self.s)) + mj) % FIELD
            for j, mj in enumerate(self.m)
        ]

    @property
    def public_inputs(self) -> list[int]:
        return [self.commitment, *self.outputs]

    def witness(self) -> dict[str, object]:
        return {"s": self.s, "m": self.m, "salt": self.salt}


@dataclass
class Circuit:
    """A set-up test circuit: proving and verifying keys and its output size."""

    name: str
    outputs: int
    pk: groth16py.ProvingKey
    vk: groth16py.VerifyingKey

    def random_share(self, rng: random.Random) -> Share:
        return Share(
            s=[rng.randrange(FIELD) for _ in range(SHARE_INPUTS)],
            m=[rng.randrange(FIELD) for _ in range(self.outputs)],
            salt=rng.randrange(FIELD),
        )

    def prove(self, share: Share) -> bytes:
        proof = groth16py.prove(self.pk, share.witness())
        assert len(proof) == 256
        return proof

    def verify_offchain(self, proof: bytes, public_inputs: list[int]) -> bool:
        return bool(groth16py.Verifier(self.vk).verify(proof, public_inputs))

    def verifier_container(self) -> ContractContainer:
        """The generated snarkjs-style Solidity verifier, compiled, ready to deploy with ape."""
        if self.name not in _COMPILED:
            _COMPILED[self.name] = self._compile_verifier()
        return _COMPILED[self.name]

    def _compile_verifier(self) -> ContractContainer:
        name = f"Groth16Verifier{self.outputs + 1}"
        source = self.vk.to_solidity(pragma="^0.8.24", contract_name=name, style="snarkjs")
        compiled = compile_solidity(source, name)
        contract_type = ContractType.model_validate(
            {
                "contractName": name,
                "abi": compiled.abi,
                "deploymentBytecode": {"bytecode": compiled.bytecode},
                "runtimeBytecode": {"bytecode": compiled.runtime_bytecode},
            }
        )
        return ContractContainer(contract_type)


_COMPILED: dict[str, ContractContainer] = {}


def _cache_dir() -> Path:
    base = Path(os.environ.get("ZKAI_DATA_DIR", REPO_ROOT / ".zkai-test"))
    return base / "test-circuits"


def load_circuit(main_file: str, outputs: int) -> Circuit:
    """Set up `circuits/<main_file>` once per content hash (keys cached on disk)."""
    digest = hashlib.sha256()
    for path in sorted(CIRCUITS.glob("*.circom")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(groth16py.__version__.encode())
    folder = _cache_dir() / f"{Path(main_file).stem}-{digest.hexdigest()[:16]}"
    pk_path, vk_path = folder / "proving.key", folder / "verifying.key"
    if pk_path.exists() and vk_path.exists():
        pk, vk = groth16py.ProvingKey.load(str(pk_path)), groth16py.VerifyingKey.load(str(vk_path))
    else:
        pk, vk = groth16py.setup_circom(str(CIRCUITS / main_file), [groth16py.circomlib_path(2)])
        folder.mkdir(parents=True, exist_ok=True)
        pk.save(str(pk_path) + ".tmp")
        vk.save(str(vk_path) + ".tmp")
        os.replace(str(pk_path) + ".tmp", pk_path)
        os.replace(str(vk_path) + ".tmp", vk_path)
    assert vk.n_public == outputs + 1
    return Circuit(Path(main_file).stem, outputs, pk, vk)


def proof_words(proof: bytes) -> list[int]:
    return [int.from_bytes(proof[i : i + 32], "big") for i in range(0, 256, 32)]


def snarkjs_args(proof: bytes, public_inputs: list[int]) -> tuple[Any, ...]:
    """The proof blob as the generated verifier's (a, b, c, input) arguments."""
    w = proof_words(proof)
    return ([w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]], public_inputs)
