"""Proving and verifying shares: valid proofs verify, every kind of wrong one does not, and
implementations the project did not write (snarkjs, py_ecc's pairing) agree."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.prove import (
    ShareProof,
    _circuit_inputs,
    _prove_with_node,
    proof_from_snarkjs,
    proof_to_snarkjs,
    prove_share,
    public_to_snarkjs,
    verify_share_proof,
)
from zkai.crypto.field import BN254_R
from zkai.crypto.sharing import ShareOpening, deal
from zkai.errors import ProofError
from zkai.toolchain import REPO_ROOT

from ..independent import IndependentChecks, py_ecc_verify

SNARKJS = REPO_ROOT / "node_modules" / "snarkjs" / "cli.js"
Build = Callable[[str], CircuitArtifacts]


def opening_for(artifacts: CircuitArtifacts, value: int = 3) -> ShareOpening:
    m = artifacts.manifest
    return deal([value] * m.input_size, 2, m.output_size)[0].opening()


@pytest.fixture(scope="module")
def digits_proof(
    demo_artifacts: Build, independent: IndependentChecks
) -> tuple[CircuitArtifacts, ShareProof]:
    artifacts = demo_artifacts("digits")
    proof = prove_share(artifacts, opening_for(artifacts))
    independent.check(artifacts, proof)
    return artifacts, proof


@pytest.mark.parametrize("name", ["breast-cancer", "digits"])
@pytest.mark.parametrize("witness", ["node", "wasmi"])
def test_proof_verifies(
    demo_artifacts: Build, independent: IndependentChecks, name: str, witness: str
) -> None:
    artifacts = demo_artifacts(name)
    opening = opening_for(artifacts)
    proof = prove_share(artifacts, opening, witness=witness)  # type: ignore[arg-type]
    assert proof.commitment == opening.commitment
    assert list(proof.outputs) == artifacts.manifest.masked_output(opening.share, opening.mask)
    assert verify_share_proof(artifacts, proof.proof, proof.public_inputs)
    independent.check(artifacts, proof)


def test_wrong_output_does_not_verify(digits_proof: tuple[CircuitArtifacts, ShareProof]) -> None:
    artifacts, proof = digits_proof
    for index in range(1, len(proof.public_inputs)):
        public = list(proof.public_inputs)
        public[index] = (public[index] + 1) % BN254_R
        assert not verify_share_proof(artifacts, proof.proof, public)


def test_wrong_commitment_does_not_verify(
    digits_proof: tuple[CircuitArtifacts, ShareProof],
) -> None:
    artifacts, proof = digits_proof
    other = opening_for(artifacts).commitment
    assert not verify_share_proof(artifacts, proof.proof, [other, *proof.outputs])


def test_proof_for_other_public_inputs_does_not_verify(
    digits_proof: tuple[CircuitArtifacts, ShareProof], independent: IndependentChecks
) -> None:
    artifacts, proof = digits_proof
    other = prove_share(artifacts, opening_for(artifacts, value=4))
    independent.check(artifacts, other)
    assert verify_share_proof(artifacts, other.proof, other.public_inputs)
    assert not verify_share_proof(artifacts, proof.proof, other.public_inputs)
    assert not verify_share_proof(artifacts, other.proof, proof.public_inputs)


def test_tampered_proof_bytes_do_not_verify(
    digits_proof: tuple[CircuitArtifacts, ShareProof],
) -> None:
    artifacts, proof = digits_proof
    for index in (5, 40, 100, 200, 255):
        tampered = bytearray(proof.proof)
        tampered[index] ^= 1
        assert not verify_share_proof(artifacts, bytes(tampered), proof.public_inputs)


def test_a_proof_of_another_model_does_not_verify(
    demo_artifacts: Build, digits_proof: tuple[CircuitArtifacts, ShareProof]
) -> None:
    _, proof = digits_proof
    cancer = demo_artifacts("breast-cancer")
    assert not verify_share_proof(cancer, proof.proof, proof.public_inputs[:2])


def test_malformed_calls_raise_proof_error(
    digits_proof: tuple[CircuitArtifacts, ShareProof],
) -> None:
    artifacts, proof = digits_proof
    with pytest.raises(ProofError, match="256 bytes"):
        verify_share_proof(artifacts, proof.proof[:100], proof.public_inputs)
    with pytest.raises(ProofError, match="11 public inputs"):
        verify_share_proof(artifacts, proof.proof, proof.public_inputs[:3])
    with pytest.raises(ProofError, match="not a field element"):
        verify_share_proof(artifacts, proof.proof, [BN254_R, *proof.outputs])


def test_inconsistent_opening_fails_at_witness_generation(demo_artifacts: Build) -> None:
    artifacts = demo_artifacts("breast-cancer")
    good = opening_for(artifacts)
    public = [good.commitment + 1, *artifacts.manifest.masked_output(good.share, good.mask)]
    assert artifacts.wasm_path is not None
    inputs = _circuit_inputs(good, public)
    with pytest.raises(ProofError, match="Assert Failed"):
        _prove_with_node(artifacts, artifacts.wasm_path, inputs)


def test_snarkjs_format_round_trips(digits_proof: tuple[CircuitArtifacts, ShareProof]) -> None:
    artifacts, proof = digits_proof
    as_json = proof_to_snarkjs(proof.proof)
    assert proof_from_snarkjs(as_json) == proof.proof
    assert artifacts.verifier.verify_snarkjs(
        json.dumps(as_json), json.dumps(public_to_snarkjs(proof.public_inputs))
    )


def _snarkjs_verify(vk: Path, public: list[str], proof: dict[str, object], tmp: Path) -> bool:
    (tmp / "public.json").write_text(json.dumps(public))
    (tmp / "proof.json").write_text(json.dumps(proof))
    result = subprocess.run(
        [
            "node",
            str(SNARKJS),
            "groth16",
            "verify",
            str(vk),
            str(tmp / "public.json"),
            str(tmp / "proof.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode == 0 and "OK" in result.stdout


@pytest.mark.parametrize("name", ["breast-cancer", "digits"])
def test_snarkjs_cli_verifies_the_same_proof(
    demo_artifacts: Build, independent: IndependentChecks, name: str, tmp_path: Path
) -> None:
    artifacts = demo_artifacts(name)
    proof = prove_share(artifacts, opening_for(artifacts))
    independent.check(artifacts, proof)
    vk = artifacts.verification_key_path
    public = public_to_snarkjs(proof.public_inputs)
    assert _snarkjs_verify(vk, public, proof_to_snarkjs(proof.proof), tmp_path)
    wrong = [public[0], str((int(public[1]) + 1) % BN254_R), *public[2:]]
    assert not _snarkjs_verify(vk, wrong, proof_to_snarkjs(proof.proof), tmp_path)


def test_py_ecc_pairing_check_accepts_and_rejects(
    demo_artifacts: Build, independent: IndependentChecks
) -> None:
    artifacts = demo_artifacts("breast-cancer")
    proof = prove_share(artifacts, opening_for(artifacts))
    independent.check(artifacts, proof)
    assert py_ecc_verify(artifacts, proof.proof, proof.public_inputs)
    wrong = [proof.public_inputs[0], (proof.public_inputs[1] + 1) % BN254_R]
    assert not py_ecc_verify(artifacts, proof.proof, wrong)
