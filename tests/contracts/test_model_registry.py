"""ModelRegistry: registration, versions, (de)activation, readable history."""

from __future__ import annotations

import ape
import pytest

from tests.contracts.conftest import PRICE, SHARES

WEIGHTS = b"\x42" * 32


def test_registerModel_records_version_one(model_registry, model10, verifier10, model_owner):
    _, adapter = verifier10
    model = model_registry.getModel(model10)
    assert (model.owner, model.latestVersion, model.active) == (model_owner.address, 1, True)
    version = model_registry.getVersion(model10, 1)
    assert version.verifier == adapter.address
    assert bytes(version.weightsCommitment) == WEIGHTS
    assert (version.inputSize, version.outputSize, version.shares) == (2, 10, SHARES)
    assert version.pricePerQuery == PRICE
    assert model_registry.modelCount() == model10


def test_registerModel_emits_events(model_registry, verifier10, stranger):
    _, adapter = verifier10
    receipt = model_registry.registerModel(adapter, WEIGHTS, 4, 10, 2, 10, sender=stranger)
    [registered] = receipt.events.filter(model_registry.ModelRegistered)
    assert registered.owner == stranger.address
    [published] = receipt.events.filter(model_registry.ModelVersionPublished)
    assert (published.modelId, published.version, published.verifier) == (
        registered.modelId,
        1,
        adapter.address,
    )


@pytest.mark.parametrize("shares", [1, 17])
def test_registerModel_share_count_out_of_bounds_reverts(
    model_registry, verifier10, stranger, shares
):
    _, adapter = verifier10
    with ape.reverts(model_registry.ShareCountOutOfBounds, shares=shares, min=2, max=16):
        model_registry.registerModel(adapter, WEIGHTS, 2, 10, shares, 0, sender=stranger)


def test_registerModel_zero_size_reverts(model_registry, verifier10, stranger):
    _, adapter = verifier10
    with ape.reverts(model_registry.SizeZero, inputSize=0, outputSize=10):
        model_registry.registerModel(adapter, WEIGHTS, 0, 10, 2, 0, sender=stranger)


def test_registerModel_zero_weights_reverts(model_registry, verifier10, stranger):
    _, adapter = verifier10
    with ape.reverts(model_registry.WeightsCommitmentZero):
        model_registry.registerModel(adapter, b"\x00" * 32, 2, 10, 2, 0, sender=stranger)


def test_registerModel_indivisible_price_reverts(model_registry, verifier10, stranger):
    _, adapter = verifier10
    with ape.reverts(model_registry.PriceNotDivisible, pricePerQuery=10, shares=3):
        model_registry.registerModel(adapter, WEIGHTS, 2, 10, 3, 10, sender=stranger)


def test_registerModel_verifier_without_code_reverts(model_registry, stranger):
    with ape.reverts(model_registry.VerifierNotContract, verifier=stranger.address):
        model_registry.registerModel(stranger, WEIGHTS, 2, 10, 2, 0, sender=stranger)


def test_registerModel_verifier_shape_mismatch_reverts(model_registry, verifier10, stranger):
    _, adapter = verifier10
    with ape.reverts(
        model_registry.VerifierShapeMismatch,
        verifier=adapter.address,
        expectedPublicInputs=4,
        actualPublicInputs=11,
    ):
        model_registry.registerModel(adapter, WEIGHTS, 2, 3, 2, 0, sender=stranger)


def test_publishVersion_keeps_history(
    model_registry, model10, model_owner, circuit3, deploy_verifier
):
    _, adapter3 = deploy_verifier(circuit3)
    receipt = model_registry.publishVersion(
        model10, adapter3, b"\x43" * 32, 2, 3, 2, 4, sender=model_owner
    )
    assert receipt.events.filter(model_registry.ModelVersionPublished)[0].version == 2
    assert model_registry.getModel(model10).latestVersion == 2
    assert model_registry.getVersion(model10, 1).outputSize == 10
    assert model_registry.getVersion(model10, 2).verifier == adapter3.address
    model, current = model_registry.getCurrent(model10)
    assert model[1] == 2  # latestVersion
    assert current[4] == 3  # outputSize


def test_publishVersion_not_owner_reverts(
    model_registry, model10, verifier10, stranger, model_owner
):
    _, adapter = verifier10
    with ape.reverts(
        model_registry.NotModelOwner,
        modelId=model10,
        caller=stranger.address,
        owner=model_owner.address,
    ):
        model_registry.publishVersion(model10, adapter, WEIGHTS, 2, 10, 3, 3, sender=stranger)


def test_publishVersion_unknown_model_reverts(model_registry, verifier10, stranger):
    _, adapter = verifier10
    with ape.reverts(model_registry.ModelNotFound, modelId=99):
        model_registry.publishVersion(99, adapter, WEIGHTS, 2, 10, 3, 3, sender=stranger)


def test_setActive_deactivates_and_reactivates(model_registry, model10, model_owner):
    receipt = model_registry.setActive(model10, False, sender=model_owner)
    assert not receipt.events.filter(model_registry.ModelActiveSet)[0].active
    assert not model_registry.getModel(model10).active
    assert model_registry.getVersion(model10, 1).outputSize == 10
    model_registry.setActive(model10, True, sender=model_owner)
    assert model_registry.getModel(model10).active


def test_setActive_not_owner_reverts(model_registry, model10, stranger):
    with ape.reverts(model_registry.NotModelOwner, caller=stranger.address):
        model_registry.setActive(model10, False, sender=stranger)


def test_getVersion_unknown_version_reverts(model_registry, model10):
    with ape.reverts(model_registry.VersionNotFound, modelId=model10, version=2):
        model_registry.getVersion(model10, 2)


def test_getVersion_unknown_model_reverts(model_registry):
    with ape.reverts(model_registry.ModelNotFound, modelId=12345):
        model_registry.getVersion(12345, 1)


def test_getModel_unknown_model_is_inactive_zero(model_registry):
    model = model_registry.getModel(12345)
    assert (model.owner, model.latestVersion, model.active) == (ape.utils.ZERO_ADDRESS, 0, False)
