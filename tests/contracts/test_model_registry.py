"""ModelRegistry v2: models with versions of parts; only factory verifiers of 8 public inputs;
a version's input rule (validity terms) checked and recorded with its parts."""

from __future__ import annotations

import ape
import pytest

from tests.contracts.conftest import (
    NO_VALIDITY,
    PART0,
    PART1,
    VALIDITY_CIRCUIT_HASH,
    ZERO_ADDRESS,
    part_terms,
    validity_terms,
)
from tests.contracts.zk import FIELD, VALIDITY_RULE

MANIFEST = b"\x51" * 32


@pytest.fixture
def register(model_registry, verifier, model_owner):
    def register(parts=None, manifest=MANIFEST, sender=None, validity=NO_VALIDITY):
        parts = parts if parts is not None else [part_terms(verifier, **PART0)]
        receipt = model_registry.registerModel(
            manifest, "ipfs://m", parts, validity, sender=sender or model_owner
        )
        return receipt, receipt.events.filter(model_registry.ModelRegistered)[0].modelId

    return register


def test_registerModel_records_model_version_and_parts(
    model_registry, verifier, model_owner, register
):
    terms = [part_terms(verifier, **PART0), part_terms(verifier, **PART1)]
    receipt, model_id = register(terms)
    [published] = receipt.events.filter(model_registry.ModelVersionPublished)
    assert (published.modelId, published.version, bytes(published.manifestHash)) == (
        model_id,
        1,
        MANIFEST,
    )
    assert published.partCount == 2
    model = model_registry.getModel(model_id)
    assert (model.owner, model.active, model.currentVersion, model.metadataURI) == (
        model_owner.address,
        True,
        1,
        "ipfs://m",
    )
    version = model_registry.getVersion(model_id, 1)
    assert (bytes(version.manifestHash), version.partCount) == (MANIFEST, 2)
    assert version.publishedAt > 0
    part1 = model_registry.getPart(model_id, 1, 1)
    assert (
        part1.verifier,
        part1.price,
        part1.maxRounds,
        part1.maxBudget,
        part1.minProofWindow,
        part1.shares,
    ) == (
        verifier.address,
        PART1["price"],
        PART1["maxRounds"],
        PART1["maxBudget"],
        PART1["minProofWindow"],
        PART1["shares"],
    )
    parts = model_registry.getParts(model_id, 1)
    assert [p.price for p in parts] == [PART0["price"], PART1["price"]]
    assert model_registry.modelCount() == model_id


def test_registerModel_non_factory_verifier_refused(
    project, model_registry, register, owner, circuit
):
    # The same code with the same key, but deployed outside the factory: not accepted.
    factory_copy = project.VerifierFactory.deploy(sender=owner)
    receipt = factory_copy.deploy(circuit.vk_words, sender=owner)
    foreign = receipt.events.filter(factory_copy.VerifierDeployed)[0].verifier
    with ape.reverts(model_registry.VerifierNotFromFactory, part=0, verifier=foreign):
        register([part_terms(foreign)])


def test_registerModel_key_hash_not_the_verifiers_refused(model_registry, register, verifier):
    """A part cannot declare a key (say, a ceremony's) that its verifier does not hold: nodes and
    users check the declared hash, so the two must be one."""
    declared = b"\x13" * 32
    with ape.reverts(
        model_registry.KeyHashMismatch,
        part=0,
        declared=declared,
        verifierKey=bytes(verifier.vkHash()),
    ):
        register([part_terms(verifier, keyHash=declared)])


def test_registerModel_eoa_verifier_refused(model_registry, register, stranger):
    with ape.reverts(model_registry.VerifierNotFromFactory):
        register([part_terms(stranger.address)])


def test_registerModel_verifier_with_other_input_count_refused(
    project, model_registry, factory, circuit, register, owner
):
    key = circuit.vk_words[: 14 + 2 * 3]  # two public inputs
    receipt = factory.deploy(key, sender=owner)
    two_inputs = receipt.events.filter(factory.VerifierDeployed)[0].verifier
    with ape.reverts(model_registry.VerifierShapeMismatch, publicInputs=2):
        register([part_terms(two_inputs)])


@pytest.mark.parametrize("shares", [0, 9])
def test_registerModel_shares_out_of_bounds_refused(model_registry, verifier, register, shares):
    with ape.reverts(model_registry.ShareCountOutOfBounds, shares=shares):
        register([part_terms(verifier, shares=shares)])


def test_registerModel_max_rounds_zero_refused(model_registry, verifier, register):
    with ape.reverts(model_registry.MaxRoundsZero, part=0):
        register([part_terms(verifier, maxRounds=0)])


def test_registerModel_max_budget_below_max_rounds_refused(model_registry, verifier, register):
    with ape.reverts(model_registry.MaxBudgetBelowMaxRounds, part=0, maxBudget=3, maxRounds=4):
        register([part_terms(verifier, maxRounds=4, maxBudget=3)])


def test_registerModel_max_budget_above_max_rounds_recorded(model_registry, verifier, register):
    _, model_id = register(
        [
            part_terms(verifier, maxRounds=4, maxBudget=4),
            part_terms(verifier, maxRounds=2, maxBudget=9),
        ]
    )
    parts = model_registry.getParts(model_id, 1)
    assert [(p.maxRounds, p.maxBudget) for p in parts] == [(4, 4), (2, 9)]


def test_registerModel_max_rounds_above_16_bits_refused(model_registry, verifier, register):
    with ape.reverts(model_registry.MaxRoundsTooLarge, part=0, maxRounds=2**16, max=2**16 - 1):
        register([part_terms(verifier, maxRounds=2**16)])
    _, model_id = register([part_terms(verifier, maxRounds=2**16 - 1)])
    assert model_registry.getPart(model_id, 1, 0).maxRounds == 2**16 - 1


@pytest.mark.parametrize("window", [0, 86_401])
def test_registerModel_min_proof_window_out_of_bounds_refused(
    model_registry, verifier, register, window
):
    with ape.reverts(model_registry.MinProofWindowOutOfBounds, minProofWindow=window):
        register([part_terms(verifier, minProofWindow=window)])


def test_registerModel_zero_hashes_refused(model_registry, verifier, register):
    with ape.reverts(model_registry.PartHashZero, part=0):
        register([part_terms(verifier, circuitHash=b"\x00" * 32)])
    with ape.reverts(model_registry.ManifestHashZero):
        register(manifest=b"\x00" * 32)


@pytest.mark.parametrize("count", [0, 17])
def test_registerModel_part_count_out_of_bounds_refused(model_registry, verifier, register, count):
    with ape.reverts(model_registry.PartCountOutOfBounds, parts=count, max=16):
        register([part_terms(verifier)] * count)


def test_registerModel_sixteen_parts_accepted(model_registry, verifier, register):
    _, model_id = register([part_terms(verifier)] * 16)
    assert model_registry.getVersion(model_id, 1).partCount == 16


def test_publishVersion_new_current_version_old_kept(
    model_registry, verifier, register, model_owner
):
    _, model_id = register()
    receipt = model_registry.publishVersion(
        model_id, b"\x52" * 32, [part_terms(verifier, price=5)] * 2, NO_VALIDITY, sender=model_owner
    )
    assert receipt.events.filter(model_registry.ModelVersionPublished)[0].version == 2
    assert model_registry.getModel(model_id).currentVersion == 2
    assert model_registry.getPart(model_id, 2, 1).price == 5
    assert model_registry.getPart(model_id, 1, 0).price == PART0["price"]
    assert model_registry.getVersion(model_id, 1).partCount == 1


def test_publishVersion_not_owner_reverts(model_registry, verifier, register, stranger):
    _, model_id = register()
    with ape.reverts(model_registry.NotModelOwner, modelId=model_id, caller=stranger.address):
        model_registry.publishVersion(
            model_id, MANIFEST, [part_terms(verifier)], NO_VALIDITY, sender=stranger
        )


def test_publishVersion_unknown_model_reverts(model_registry, verifier, stranger):
    with ape.reverts(model_registry.ModelNotFound, modelId=999):
        model_registry.publishVersion(
            999, MANIFEST, [part_terms(verifier)], NO_VALIDITY, sender=stranger
        )


def test_setActive_toggles_by_owner_only(model_registry, register, model_owner, stranger):
    _, model_id = register()
    receipt = model_registry.setActive(model_id, False, sender=model_owner)
    assert not receipt.events.filter(model_registry.ModelActiveSet)[0].active
    assert model_registry.getModel(model_id).active is False
    with ape.reverts(model_registry.NotModelOwner):
        model_registry.setActive(model_id, True, sender=stranger)


def test_getters_unknown_version_or_part_revert(model_registry, register):
    _, model_id = register()
    with ape.reverts(model_registry.VersionNotFound, modelId=model_id, version=2):
        model_registry.getVersion(model_id, 2)
    with ape.reverts(model_registry.VersionNotFound, version=0):
        model_registry.getParts(model_id, 0)
    with ape.reverts(model_registry.PartNotFound, modelId=model_id, version=1, part=1):
        model_registry.getPart(model_id, 1, 1)
    with ape.reverts(model_registry.ModelNotFound, modelId=12345):
        model_registry.getVersion(12345, 1)
    assert model_registry.getModel(12345).currentVersion == 0


# ------------------------------------------------------------------ input rules (validity terms)


def test_validity_terms_recorded_per_version_with_event(
    model_registry, verifier, validity_verifier, register, model_owner
):
    terms = validity_terms(validity_verifier)
    receipt, model_id = register(validity=terms)
    [event] = receipt.events.filter(model_registry.ValidityRuleSet)
    assert (event.modelId, event.version, event.verifier, event.ruleHash) == (
        model_id,
        1,
        validity_verifier.address,
        VALIDITY_RULE,
    )
    assert (bytes(event.circuitHash), bytes(event.keyHash)) == (
        VALIDITY_CIRCUIT_HASH,
        bytes(validity_verifier.vkHash()),
    )
    stored = model_registry.getValidity(model_id, 1)
    assert (stored.verifier, stored.ruleHash, bytes(stored.circuitHash), bytes(stored.keyHash)) == (
        validity_verifier.address,
        VALIDITY_RULE,
        VALIDITY_CIRCUIT_HASH,
        bytes(validity_verifier.vkHash()),
    )
    # Version 2 without a rule: no event, all zero; version 1 keeps its rule.
    receipt = model_registry.publishVersion(
        model_id, b"\x53" * 32, [part_terms(verifier, **PART0)], NO_VALIDITY, sender=model_owner
    )
    assert not receipt.events.filter(model_registry.ValidityRuleSet)
    none = model_registry.getValidity(model_id, 2)
    assert (none.verifier, none.ruleHash, bytes(none.circuitHash), bytes(none.keyHash)) == (
        ZERO_ADDRESS,
        0,
        b"\x00" * 32,
        b"\x00" * 32,
    )
    assert model_registry.getValidity(model_id, 1).verifier == validity_verifier.address
    # Version 3 with a rule again (another rule hash).
    receipt = model_registry.publishVersion(
        model_id,
        b"\x54" * 32,
        [part_terms(verifier, **PART0)],
        validity_terms(validity_verifier, 77),
        sender=model_owner,
    )
    assert receipt.events.filter(model_registry.ValidityRuleSet)[0].version == 3
    assert model_registry.getValidity(model_id, 3).ruleHash == 77


def test_model_without_rule_reads_zero_validity(model_registry, register):
    receipt, model_id = register()
    assert not receipt.events.filter(model_registry.ValidityRuleSet)
    assert model_registry.getValidity(model_id, 1).verifier == ZERO_ADDRESS


def test_getValidity_unknown_model_or_version_reverts(model_registry, register):
    _, model_id = register()
    with ape.reverts(model_registry.VersionNotFound, modelId=model_id, version=2):
        model_registry.getValidity(model_id, 2)
    with ape.reverts(model_registry.VersionNotFound, version=0):
        model_registry.getValidity(model_id, 0)
    with ape.reverts(model_registry.ModelNotFound, modelId=12345):
        model_registry.getValidity(12345, 1)


def test_validity_verifier_not_from_factory_refused(
    project, model_registry, register, owner, validity_circuit, stranger
):
    copy = project.VerifierFactory.deploy(sender=owner)
    receipt = copy.deploy(validity_circuit.vk_words, sender=owner)
    foreign = project.Groth16Verifier.at(receipt.events.filter(copy.VerifierDeployed)[0].verifier)
    with ape.reverts(model_registry.ValidityVerifierNotFromFactory, verifier=foreign.address):
        register(validity=validity_terms(foreign))
    with ape.reverts(model_registry.ValidityVerifierNotFromFactory, verifier=stranger.address):
        register(validity=validity_terms(stranger.address))


@pytest.mark.parametrize(
    "fields",
    [
        (VALIDITY_RULE, b"\x00" * 32, b"\x00" * 32),
        (0, VALIDITY_CIRCUIT_HASH, b"\x00" * 32),
        (0, b"\x00" * 32, b"\x02" * 32),
    ],
    ids=["rule_hash", "circuit_hash", "key_hash"],
)
def test_validity_fields_without_verifier_refused(model_registry, register, fields):
    """All zero is "no rule"; any non-zero field with a zero verifier is refused."""
    with ape.reverts(model_registry.ValidityVerifierNotFromFactory, verifier=ZERO_ADDRESS):
        register(validity=(ZERO_ADDRESS, *fields))


def test_validity_verifier_with_other_input_count_refused(
    model_registry, verifier, validity_verifier, register
):
    # 5 inputs (k = 2) for a part 0 of k = 1: 3 expected.
    with ape.reverts(
        model_registry.ValidityShapeMismatch,
        verifier=validity_verifier.address,
        inputs=5,
        expected=3,
    ):
        register([part_terms(verifier, shares=1)], validity=validity_terms(validity_verifier))
    # A part verifier (8 inputs) as the validity verifier of k = 2.
    with ape.reverts(
        model_registry.ValidityShapeMismatch, verifier=verifier.address, inputs=8, expected=5
    ):
        register(validity=validity_terms(verifier))


def test_validity_shape_follows_part_zero_only(
    model_registry, verifier, validity_verifier, register
):
    """k is part 0's shares (the parts after it take no round-1 commitments from the request)."""
    _, model_id = register(
        [part_terms(verifier, shares=2), part_terms(verifier, shares=1)],
        validity=validity_terms(validity_verifier),
    )
    assert model_registry.getValidity(model_id, 1).verifier == validity_verifier.address


@pytest.mark.parametrize("rule_hash", [0, FIELD, 2**256 - 1])
def test_rule_hash_out_of_field_refused(model_registry, validity_verifier, register, rule_hash):
    with ape.reverts(model_registry.RuleHashOutOfField, ruleHash=rule_hash):
        register(validity=validity_terms(validity_verifier, rule_hash))


def test_rule_hash_below_field_accepted(model_registry, validity_verifier, register):
    _, model_id = register(validity=validity_terms(validity_verifier, FIELD - 1))
    assert model_registry.getValidity(model_id, 1).ruleHash == FIELD - 1


@pytest.mark.parametrize("field", ["circuitHash", "keyHash"])
def test_validity_zero_hashes_refused(model_registry, validity_verifier, register, field):
    with ape.reverts(model_registry.ValidityHashZero):
        register(validity=validity_terms(validity_verifier, **{field: b"\x00" * 32}))


def test_validity_key_hash_not_the_verifiers_refused(model_registry, validity_verifier, register):
    declared = b"\x14" * 32
    with ape.reverts(
        model_registry.ValidityKeyHashMismatch,
        declared=declared,
        held=bytes(validity_verifier.vkHash()),
    ):
        register(validity=validity_terms(validity_verifier, keyHash=declared))


def test_publishVersion_bad_validity_refused_nothing_published(
    model_registry, verifier, validity_verifier, register, model_owner
):
    _, model_id = register()
    with ape.reverts(model_registry.RuleHashOutOfField, ruleHash=0):
        model_registry.publishVersion(
            model_id,
            b"\x55" * 32,
            [part_terms(verifier, **PART0)],
            validity_terms(validity_verifier, 0),
            sender=model_owner,
        )
    assert model_registry.getModel(model_id).currentVersion == 1


def test_constructor_factory_without_code_reverts(project, owner, stranger):
    with ape.reverts():
        project.ModelRegistry.deploy(stranger, sender=owner)
