"""Putting a model version on-chain: its verifier, its adapter and its ModelRegistry entry.

`register_model` and `publish_version` take a manifest, build (or load from the cache) its
circuit, deploy the circuit's generated Groth16 verifier and a `Groth16VerifierAdapter` in front of
it (one adapter per version: the adapter fixes the public input count 1 + outputs), and record
the version in `ModelRegistry` with the manifest's content hash as the weights commitment. Nodes
check that hash, and the verifier's runtime code, before they prove anything for the model.

Artifacts default to the development setup (`build_circuit_dev`): pass ceremony artifacts
(`zkai.circuits.import_ceremony_zkey`) for keys that secure real value. These functions know
nothing about the command line; `zkai up` and the CLI call them.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from web3.logs import DISCARD
from web3.types import TxReceipt

from zkai.chain.client import ChainClient
from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.build import build_circuit_dev
from zkai.errors import ChainError
from zkai.models.manifest import Manifest

__all__ = ["DeployedVerifier", "deploy_verifier", "publish_version", "register_model"]

ADAPTER_CONTRACT = "Groth16VerifierAdapter"


@dataclass(frozen=True)
class DeployedVerifier:
    """The generated verifier of one circuit and the adapter the registry points at."""

    verifier: ChecksumAddress
    adapter: ChecksumAddress


def deploy_verifier(
    chain: ChainClient, owner: LocalAccount, artifacts: CircuitArtifacts
) -> DeployedVerifier:
    """Deploy `artifacts`' generated verifier and a Groth16VerifierAdapter in front of it."""
    build = artifacts.verifier_build
    verifier, _ = chain.deploy(owner, (build["abi"], "0x" + build["bytecode"].removeprefix("0x")))
    adapter, _ = chain.deploy(owner, ADAPTER_CONTRACT, (verifier, artifacts.n_public))
    return DeployedVerifier(to_checksum_address(verifier), to_checksum_address(adapter))


def _artifacts(manifest: Manifest, artifacts: CircuitArtifacts | None) -> CircuitArtifacts:
    if artifacts is None:
        return build_circuit_dev(manifest)
    if artifacts.manifest.content_hash != manifest.content_hash:
        raise ChainError(
            f"the artifacts given are for model {artifacts.manifest.name!r} "
            f"(0x{artifacts.manifest.content_hash.hex()}), not for this manifest "
            f"(0x{manifest.content_hash.hex()})"
        )
    return artifacts


def _event_arg(chain: ChainClient, receipt: TxReceipt, event: str, arg: str) -> int:
    contract_event = getattr(chain.contract("ModelRegistry").events, event)()
    logs = contract_event.process_receipt(receipt, errors=DISCARD)
    if not logs:
        raise ChainError(f"ModelRegistry emitted no {event} in {receipt['transactionHash'].hex()}")
    return int(logs[0]["args"][arg])


def register_model(
    chain: ChainClient,
    owner: LocalAccount,
    manifest: Manifest,
    *,
    price: int,
    shares: int,
    artifacts: CircuitArtifacts | None = None,
) -> tuple[int, int]:
    """Register `manifest` as a new model owned by `owner`; returns (model id, version 1).

    `price` is the fee per query in token wei (divisible by `shares`), `shares` the number of
    nodes k a query is split into.
    """
    deployed = deploy_verifier(chain, owner, _artifacts(manifest, artifacts))
    registry = chain.contract("ModelRegistry")
    receipt = chain.transact(
        owner,
        registry.functions.registerModel(
            deployed.adapter,
            manifest.content_hash,
            manifest.input_size,
            manifest.output_size,
            shares,
            price,
        ),
    )
    model_id = _event_arg(chain, receipt, "ModelRegistered", "modelId")
    version = _event_arg(chain, receipt, "ModelVersionPublished", "version")
    return model_id, version


def publish_version(
    chain: ChainClient,
    owner: LocalAccount,
    model_id: int,
    manifest: Manifest,
    *,
    price: int,
    shares: int,
    artifacts: CircuitArtifacts | None = None,
) -> int:
    """Publish `manifest` as the new current version of `model_id`; returns the version."""
    deployed = deploy_verifier(chain, owner, _artifacts(manifest, artifacts))
    registry = chain.contract("ModelRegistry")
    receipt = chain.transact(
        owner,
        registry.functions.publishVersion(
            model_id,
            deployed.adapter,
            manifest.content_hash,
            manifest.input_size,
            manifest.output_size,
            shares,
            price,
        ),
    )
    return _event_arg(chain, receipt, "ModelVersionPublished", "version")
