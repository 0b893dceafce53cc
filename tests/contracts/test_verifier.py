"""VerifierFactory and the generic Groth16Verifier: real proofs of the toy circuit, its key stored
with SSTORE2, EIP-197 precompiles; never a revert for a bad proof or bad inputs."""

from __future__ import annotations

import ape
import pytest

from tests.contracts.zk import BASE_FIELD, FIELD, Statement, vk_hash


@pytest.fixture(scope="module")
def statement() -> Statement:
    # a continuation chunk (n0 = 3 with its start transcripts): every one of the 8 inputs non-zero
    return Statement.make(
        tag=123456789,
        rounds=5,
        prev_output_transcript=987654321,
        w=42,
        start_rounds=3,
        start_input_transcript=1111,
        start_output_transcript=2222,
    )


@pytest.fixture(scope="module")
def proof(circuit, statement) -> list[int]:
    words = circuit.prove(statement)
    assert circuit.verify_offchain(words, statement.public_inputs)
    return words


def test_factory_deploy_records_verifier_and_emits(project, owner, circuit):
    factory = project.VerifierFactory.deploy(sender=owner)
    receipt = factory.deploy(circuit.vk_words, sender=owner)
    [event] = receipt.events.filter(factory.VerifierDeployed)
    assert bytes(event.vkHash) == vk_hash(circuit.vk_words)
    assert event.publicInputs == 8
    assert factory.isVerifier(event.verifier)
    assert factory.verifierOf(vk_hash(circuit.vk_words)) == event.verifier
    verifier = project.Groth16Verifier.at(event.verifier)
    assert verifier.publicInputCount() == 8
    assert bytes(verifier.vkHash()) == vk_hash(circuit.vk_words)
    assert list(verifier.verificationKey()) == circuit.vk_words


def test_factory_deploy_same_key_is_idempotent(factory, verifier, circuit, owner):
    receipt = factory.deploy(circuit.vk_words, sender=owner)
    assert not receipt.events.filter(factory.VerifierDeployed)
    assert factory.verifierOf(vk_hash(circuit.vk_words)) == verifier.address


def test_verifier_key_lives_in_a_data_contract_starting_with_stop(verifier, circuit, chain):
    code = bytes(chain.provider.get_code(verifier.vkData()))
    assert code[0] == 0
    words = [int.from_bytes(code[1 + 32 * i : 33 + 32 * i], "big") for i in range(len(code) // 32)]
    assert words == circuit.vk_words


def test_factory_not_a_verifier_for_other_addresses(factory, stranger, market):
    assert not factory.isVerifier(stranger)
    assert not factory.isVerifier(market)


@pytest.mark.parametrize("words", [0, 15, 17, 19])
def test_factory_deploy_bad_key_length_reverts(factory, owner, circuit, words):
    key = (circuit.vk_words * 2)[:words]
    with ape.reverts(factory.VerifierFactoryKeyLength, words=words):
        factory.deploy(key, sender=owner)


def test_factory_deploy_key_word_not_in_field_reverts(factory, owner, circuit):
    key = list(circuit.vk_words)
    key[3] = BASE_FIELD
    with ape.reverts(factory.VerifierFactoryKeyWordNotInField, index=3, word=BASE_FIELD):
        factory.deploy(key, sender=owner)


def test_factory_deploy_key_too_large_reverts(factory, owner):
    key = [1] * 768
    with ape.reverts(factory.VerifierFactoryKeyTooLarge, words=768, maxWords=767):
        factory.deploy(key, sender=owner)


def test_verifyProof_valid_proof_true(verifier, proof, statement):
    assert verifier.verifyProof(proof, statement.public_inputs) is True


@pytest.mark.parametrize("index", range(8))
def test_verifyProof_changed_input_false(verifier, proof, statement, index):
    inputs = list(statement.public_inputs)
    inputs[index] = (inputs[index] + 1) % FIELD
    assert verifier.verifyProof(proof, inputs) is False


def test_verifyProof_input_not_in_field_false(verifier, proof, statement):
    inputs = list(statement.public_inputs)
    inputs[0] += FIELD  # the same residue: accepted by a mod-r verifier, refused here
    assert verifier.verifyProof(proof, inputs) is False


@pytest.mark.parametrize("count", [0, 5, 7, 9])
def test_verifyProof_wrong_input_count_false(verifier, proof, statement, count):
    inputs = (statement.public_inputs * 2)[:count]
    assert verifier.verifyProof(proof, inputs) is False


@pytest.mark.parametrize("index", [0, 1, 6, 7])
def test_verifyProof_g1_point_off_curve_false(verifier, proof, statement, index):
    words = list(proof)
    words[index] = (words[index] + 1) % BASE_FIELD
    assert verifier.verifyProof(words, statement.public_inputs) is False


def test_verifyProof_coordinate_not_in_base_field_false(verifier, proof, statement):
    words = list(proof)
    words[2] = BASE_FIELD + 1
    assert verifier.verifyProof(words, statement.public_inputs) is False


def test_verifyProof_b_off_curve_false_not_revert(verifier, proof, statement):
    words = list(proof)
    words[3] = (words[3] + 1) % BASE_FIELD
    assert verifier.verifyProof(words, statement.public_inputs) is False


def test_verifyProof_other_statement_proof_false(verifier, circuit, statement):
    other = Statement.make(tag=statement.tag + 1, rounds=3, prev_output_transcript=5, w=9)
    assert verifier.verifyProof(circuit.prove(other), statement.public_inputs) is False
    assert verifier.verifyProof(circuit.prove(other), other.public_inputs) is True
