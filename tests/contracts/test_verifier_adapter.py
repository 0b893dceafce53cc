"""Groth16VerifierAdapter over the generated verifier, with real groth16py proofs."""

from __future__ import annotations

import ape
import pytest
from eth_utils.abi import function_signature_to_4byte_selector

from tests.contracts.zk import FIELD, snarkjs_args


@pytest.fixture(scope="module")
def proven(circuit10, rng):
    share = circuit10.random_share(rng)
    return share, circuit10.prove(share)


def test_proof_blob_is_a_b_c_in_verifier_word_order(circuit10, verifier10, proven):
    verifier, _ = verifier10
    share, proof = proven
    assert circuit10.verify_offchain(proof, share.public_inputs)
    assert verifier.verifyProof(*snarkjs_args(proof, share.public_inputs))


def test_verify_accepts_valid_proof(verifier10, proven):
    _, adapter = verifier10
    share, proof = proven
    assert adapter.verify(share.public_inputs, proof)


def test_verify_rejects_changed_public_input(verifier10, proven):
    _, adapter = verifier10
    share, proof = proven
    for index in (0, 1, 10):
        inputs = list(share.public_inputs)
        inputs[index] = (inputs[index] + 1) % FIELD
        assert not adapter.verify(inputs, proof)


@pytest.mark.parametrize("byte_index", [5, 70, 130, 200, 255])
def test_verify_rejects_changed_proof_byte(verifier10, proven, byte_index):
    _, adapter = verifier10
    share, proof = proven
    tampered = bytearray(proof)
    tampered[byte_index] ^= 0x01
    assert not adapter.verify(share.public_inputs, bytes(tampered))


def test_verify_returns_false_for_input_outside_field(verifier10, proven):
    _, adapter = verifier10
    share, proof = proven
    assert not adapter.verify([share.commitment + FIELD, *share.outputs], proof)


def test_verify_wrong_input_count_reverts(verifier10, proven):
    _, adapter = verifier10
    share, proof = proven
    with ape.reverts(adapter.PublicInputCountMismatch, expected=11, actual=10):
        adapter.verify(share.public_inputs[:-1], proof)


def test_verify_wrong_proof_length_reverts(verifier10, proven):
    _, adapter = verifier10
    share, proof = proven
    with ape.reverts(adapter.ProofLengthInvalid, expected=256, actual=255):
        adapter.verify(share.public_inputs, proof[:-1])


def test_constructor_records_shape_and_selector(verifier10):
    verifier, adapter = verifier10
    assert adapter.groth16Verifier() == verifier.address
    assert adapter.publicInputCount() == 11
    signature = verifier.contract_type.abi[0].selector
    assert signature == "verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[11])"
    assert adapter.verifyProofSelector() == function_signature_to_4byte_selector(signature)


def test_constructor_verifier_without_code_reverts(project, owner, stranger):
    with ape.reverts(project.Groth16VerifierAdapter.VerifierHasNoCode, verifier=stranger.address):
        project.Groth16VerifierAdapter.deploy(stranger, 11, sender=owner)


def test_constructor_zero_inputs_reverts(project, owner, verifier10):
    verifier, _ = verifier10
    with ape.reverts(project.Groth16VerifierAdapter.PublicInputCountInvalid, publicInputCount=0):
        project.Groth16VerifierAdapter.deploy(verifier, 0, sender=owner)
