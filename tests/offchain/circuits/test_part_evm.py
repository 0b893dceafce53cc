"""Part proofs on the EVM: the generic Groth16Verifier, deployed by VerifierFactory from the part's
VK words (anvil via ape), accepts prove_part's words and public inputs and rejects tampering."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from zkai.circuits.artifacts import PartArtifacts
from zkai.circuits.part import PartProof, part_artifacts, prove_part
from zkai.crypto.field import BN254_R

from ..conftest import PartBuild
from ..independent import IndependentChecks
from .toy import openings, toy_manifest


@pytest.fixture(scope="module")
def factory(demo_part: PartBuild, project: Any, accounts: Any) -> Any:
    # demo_part (session scope) first, so ape's isolation snapshots stay ordered
    return project.VerifierFactory.deploy(sender=accounts[0])


def deployed(project: Any, accounts: Any, factory: Any, artifacts: PartArtifacts) -> Any:
    words = list(artifacts.vk_words())
    factory.deploy(words, sender=accounts[0])
    verifier = project.Groth16Verifier.at(factory.verifierOf(artifacts.key_hash))
    assert factory.isVerifier(verifier.address)
    assert bytes(verifier.vkHash()) == artifacts.key_hash
    assert verifier.publicInputCount() == 8
    return verifier


def check_on_chain(verifier: Any, proof: PartProof) -> None:
    words, public = list(proof.proof), list(proof.public_inputs)
    assert verifier.verifyProof(words, public)
    tampered = [words[0], words[1] ^ 1, *words[2:]]
    assert not verifier.verifyProof(tampered, public)
    swapped = [*words[:2], words[3], words[2], *words[4:]]  # b.x's c1/c0 swapped
    assert not verifier.verifyProof(swapped, public)
    for index in range(8):
        wrong = list(public)
        wrong[index] = (wrong[index] + 1) % BN254_R
        assert not verifier.verifyProof(words, wrong)
    assert not verifier.verifyProof(words, [public[0] + BN254_R, *public[1:]])
    assert not verifier.verifyProof(words, public[:7])


def test_part_proof_verifies_on_the_evm_for_several_rounds(
    project: Any, accounts: Any, factory: Any, independent: IndependentChecks
) -> None:
    manifest = toy_manifest()
    artifacts = part_artifacts(manifest, 0)
    verifier = deployed(project, accounts, factory, artifacts)
    for n in (1, 3):
        proof = prove_part(
            artifacts, manifest, 0, secrets.randbelow(BN254_R), openings(manifest, 0, n)
        )
        check_on_chain(verifier, proof)
        independent.check(artifacts, proof, evm=True)  # and a snarkjs-style verifier


def test_part_proof_of_the_digits_demo_verifies_on_the_evm(
    demo_part: PartBuild, project: Any, accounts: Any, factory: Any
) -> None:
    artifacts = demo_part("digits", 0)
    manifest = artifacts.manifest
    verifier = deployed(project, accounts, factory, artifacts)
    proof = prove_part(artifacts, manifest, 0, secrets.randbelow(BN254_R), openings(manifest, 0, 1))
    check_on_chain(verifier, proof)
