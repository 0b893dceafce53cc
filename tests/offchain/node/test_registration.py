"""register_model / publish_version, and the node's start-up checks of a model against the chain."""

from __future__ import annotations

import dataclasses

import pytest

from zkai.circuits.build import build_circuit_dev
from zkai.config import get_settings
from zkai.errors import ModelMismatchError
from zkai.localnet_state import anvil_account
from zkai.node.served import check_version
from zkai.registration import publish_version, register_model

from .conftest import PRICE, SHARES, Network


def test_register_model_records_the_manifest_hash_and_a_working_verifier(
    network: Network,
) -> None:
    registry = network.chain.contract("ModelRegistry")
    _model, version = network.chain.call(registry.functions.getCurrent(network.model_id))
    assert bytes(version[2]) == network.manifest.content_hash
    assert (version[3], version[4], version[5], version[1]) == (3, 2, SHARES, PRICE)
    served = check_version(network.chain, network.model_id, network.manifest, network.artifacts)
    assert served.version == 1
    assert served.verifier == version[0]


def test_publish_version_and_nodes_refuse_a_stale_manifest_or_foreign_keys(
    network: Network,
) -> None:
    owner = anvil_account(0)
    model_id, _ = register_model(
        network.chain,
        owner,
        network.manifest,
        price=PRICE,
        shares=SHARES,
        artifacts=network.artifacts,
    )
    newer = dataclasses.replace(network.manifest, version=2)
    artifacts = build_circuit_dev(newer, artifacts_root=get_settings().artifacts_path)
    assert (
        publish_version(
            network.chain, owner, model_id, newer, price=PRICE, shares=SHARES, artifacts=artifacts
        )
        == 2
    )
    with pytest.raises(ModelMismatchError, match="fetch the current manifest"):
        check_version(network.chain, model_id, network.manifest, network.artifacts)
    # Same manifest hash, but keys from another setup: the on-chain verifier is not theirs.
    with pytest.raises(ModelMismatchError, match="would be rejected"):
        check_version(
            network.chain,
            model_id,
            newer,
            dataclasses.replace(artifacts, directory=network.artifacts.directory),
        )
    assert check_version(network.chain, model_id, newer, artifacts).version == 2
