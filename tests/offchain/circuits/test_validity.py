"""Validity circuits: the rule is what the circuit proves, in Python and in snarkjs, on the EVM.

A small ranges rule (4 features, one signed range, one single value) keeps the build short; the
demo models' rules are built and used on anvil in tests/offchain/node/test_validity_chain.py.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.offchain.circuits.validity_openings import Opening, deal_openings
from zkai.circuits.validity import (
    ValidityArtifacts,
    ValidityProof,
    prove_validity,
    prove_validity_snarkjs,
    validity_artifacts,
    validity_public_inputs,
    verify_validity,
)
from zkai.circuits.validity_source import public_input_names, validity_source
from zkai.crypto.field import BN254_R
from zkai.crypto.sharing import random_field_element
from zkai.errors import InputRangeError, ProofError
from zkai.models.demo import load_demo_manifest
from zkai.models.rule import ValidityRule, rule_for

RULE = ValidityRule(
    model="toy",
    version=1,
    manifest_hash="0x00",
    shares=2,
    block=0,
    input_size=4,
    mask_size=2,
    kind="ranges",
    minimum=(0, -5, 3, 7),
    maximum=(16, 5, 1000, 7),
)


def deal(x: list[int], k: int = 2) -> list[Opening]:
    return deal_openings(RULE, x, k)


@pytest.fixture(scope="module")
def artifacts() -> ValidityArtifacts:
    return validity_artifacts(RULE)


def test_rule_hash_is_the_rules_and_not_the_versions() -> None:
    digits = load_demo_manifest("digits")
    rule = rule_for(digits, 2)
    assert rule.hash < BN254_R
    assert rule.minimum == digits.input_min
    assert rule.maximum == digits.input_max
    # a retrained version with the same input rule shares the circuit; another k does not
    again = ValidityRule(**{**rule.__dict__, "version": 2, "manifest_hash": "0x11"})
    assert again.hash == rule.hash
    assert validity_source(again) == validity_source(rule)
    assert rule_for(digits, 3).hash != rule.hash
    assert rule_for(load_demo_manifest("breast-cancer"), 2).hash != rule.hash
    assert public_input_names(2) == ["ruleHash", "tag0", "commitment0", "tag1", "commitment1"]


def test_the_rule_refuses_in_the_clear_what_the_circuit_would() -> None:
    RULE.check([16, -5, 3, 7])
    with pytest.raises(InputRangeError, match=r"input\[2\] = 1001"):
        RULE.check([0, 0, 1001, 7])


def test_a_valid_input_proves_and_verifies_and_binds_its_tags(
    artifacts: ValidityArtifacts, tags: list[int]
) -> None:
    assert artifacts.development_only
    assert artifacts.n_public == 5
    for x in ([0, -5, 3, 7], [16, 5, 1000, 7], [random.randint(0, 16), 0, 500, 7]):
        proof = prove_validity(artifacts, tags, deal(x))
        assert verify_validity(artifacts, proof)
    public = list(proof.public_inputs)
    assert public[0] == RULE.hash
    assert public[1::2] == tags
    for index in range(5):  # every public input is bound
        moved = [*public]
        moved[index] = (moved[index] + 1) % BN254_R
        assert not verify_validity(artifacts, ValidityProof(proof.proof, tuple(moved)))
    swapped = (public[0], public[3], public[4], public[1], public[2])  # the two assignments swapped
    assert not verify_validity(artifacts, ValidityProof(proof.proof, swapped))


@pytest.mark.parametrize(
    "x",
    [
        [17, 0, 3, 7],
        [-1, 0, 3, 7],
        [0, -6, 3, 7],
        [0, 6, 3, 7],
        [0, 0, 2, 7],
        [0, 0, 1001, 7],
        [0, 0, 3, 8],
    ],
)
def test_an_input_out_of_its_rule_cannot_be_proven(
    artifacts: ValidityArtifacts, tags: list[int], x: list[int]
) -> None:
    with pytest.raises(ProofError, match="does not satisfy the validity rule"):
        prove_validity(artifacts, tags, deal(x))


def test_shares_that_sum_to_another_input_than_committed_do_not_verify(
    artifacts: ValidityArtifacts, tags: list[int]
) -> None:
    good, bad = deal([1, 1, 4, 7]), deal([1, 1, 4000, 7])
    proof = prove_validity(artifacts, tags, good)
    # the request posts the commitments of what the nodes get (bad): the proof does not hold
    posted = validity_public_inputs(RULE, tags, bad)
    assert not verify_validity(artifacts, ValidityProof(proof.proof, posted))


def test_snarkjs_proves_what_the_python_client_proves(
    artifacts: ValidityArtifacts, tags: list[int], project: Any, accounts: Any
) -> None:
    openings = deal([3, -2, 10, 7])
    proof, seconds = prove_validity_snarkjs(artifacts, tags, openings)
    assert seconds > 0
    assert proof.public_inputs == validity_public_inputs(RULE, tags, openings)
    assert verify_validity(artifacts, proof)
    # and the deployed verifier of the fixed form accepts the browser's proof
    factory = project.VerifierFactory.deploy(sender=accounts[0])
    factory.deploy(list(artifacts.vk_words()), sender=accounts[0])
    verifier = project.Groth16Verifier.at(factory.verifierOf(artifacts.key_hash))
    assert bytes(verifier.vkHash()) == artifacts.key_hash
    assert verifier.publicInputCount() == 5
    assert verifier.verifyProof(list(proof.proof), list(proof.public_inputs))
    other = [random_field_element(), tags[1]]
    assert not verifier.verifyProof(
        list(proof.proof), list(validity_public_inputs(RULE, other, openings))
    )
    with pytest.raises(ProofError, match="snarkjs refused"):
        prove_validity_snarkjs(artifacts, tags, deal([0, 0, 1001, 7]))


def test_rules_the_circuit_could_not_enforce_are_refused() -> None:
    from dataclasses import replace

    from zkai.errors import ModelFormatError
    from zkai.models.manifest import Part
    from zkai.models.rule import MAX_BOUND

    # a range too wide for the two-sided bit check
    with pytest.raises(ModelFormatError, match="too wide"):
        ValidityRule(**{**RULE.__dict__, "minimum": (0, -MAX_BOUND, 3, 7)})
    # part 0 selling more rounds of block 0 than one pass: later inputs would go unproven
    digits = load_demo_manifest("digits")
    longer = replace(digits, parts=(Part(index=0, schedule=(0,), max_rounds=1, max_budget=4),))
    with pytest.raises(ModelFormatError, match="more than one forward pass"):
        rule_for(longer, 2)
