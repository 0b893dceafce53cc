"""The generated Solidity verifier, deployed on a real EVM (anvil via ape), accepts the
project's proofs and rejects tampered ones."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.prove import prove_share
from zkai.crypto.field import BN254_R
from zkai.crypto.sharing import deal

from ..independent import IndependentChecks

Build = Callable[[str], CircuitArtifacts]


@pytest.mark.parametrize("name", ["breast-cancer", "digits"])
def test_verifier_accepts_a_valid_proof_and_rejects_tampering(
    demo_artifacts: Build, independent: IndependentChecks, name: str
) -> None:
    artifacts = demo_artifacts(name)
    manifest = artifacts.manifest
    opening = deal([7] * manifest.input_size, 3, manifest.output_size)[1].opening()
    proof = prove_share(artifacts, opening)
    evm = independent.evm
    assert evm.verify(artifacts, proof.proof, proof.public_inputs)

    tampered = bytearray(proof.proof)
    tampered[63] ^= 1  # a.y: no longer on the curve
    assert not evm.verify(artifacts, bytes(tampered), proof.public_inputs)
    swapped = proof.proof[:64] + proof.proof[96:128] + proof.proof[64:96] + proof.proof[128:]
    assert not evm.verify(artifacts, swapped, proof.public_inputs)  # B's coordinates swapped

    wrong_output = list(proof.public_inputs)
    wrong_output[-1] = (wrong_output[-1] + 1) % BN254_R
    assert not evm.verify(artifacts, proof.proof, wrong_output)
    wrong_commitment = [opening.commitment ^ 1, *proof.outputs]
    assert not evm.verify(artifacts, proof.proof, wrong_commitment)
    out_of_field = [proof.public_inputs[0] + BN254_R, *proof.outputs]
    assert not evm.verify(artifacts, proof.proof, out_of_field)


def test_verifier_size_and_gas_are_in_the_measured_range(
    demo_artifacts: Build, independent: IndependentChecks
) -> None:
    artifacts = demo_artifacts("digits")
    manifest = artifacts.manifest
    proof = prove_share(artifacts, deal([1] * 64, 1, manifest.output_size)[0].opening())
    independent.check(artifacts, proof)
    runtime = len(artifacts.verifier_build["deployed_bytecode"]) // 2
    assert runtime < 24_576  # EIP-170
    gas = independent.evm.gas(artifacts, proof.proof, proof.public_inputs)
    # EIP-1108 floor is 45,000 + 4 x 34,000 for the pairing alone; ~7.7k per public input
    assert 181_000 < gas < 400_000
