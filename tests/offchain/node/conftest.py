"""Fixtures of the node-service tests: a private anvil with the contracts and a small model,
registered nodes, and `zkai node run` processes (see localchain.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from zkai.chain.client import ChainClient, Deployment
from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.build import build_circuit_dev
from zkai.config import get_settings
from zkai.models.catalog import ModelCatalog
from zkai.models.importers import from_linear
from zkai.models.manifest import Manifest
from zkai.node.operator import register_node
from zkai.registration import register_model
from zkai.wallet.keystore import Keystore, NodeIdentity

from .localchain import (
    ETHER,
    MIN_STAKE,
    PASSPHRASE,
    Anvil,
    NodeProcess,
    deploy_system,
    fund,
)

SHARES = 2
PRICE = 2 * ETHER


def small_manifest() -> Manifest:
    """A 3-input, 2-output linear model: its circuit builds in well under a second."""
    return from_linear(
        [[0.5, -0.25, 1.0], [-1.0, 0.75, 0.125]],
        [0.1, -0.2],
        name="tiny",
        version=1,
        input_scale_bits=8,
        weight_scale_bits=8,
        postprocess="argmax",
        input_min=[-1, -1, -1],
        input_max=[1, 1, 1],
    )


@dataclass
class Network:
    """A chain with the contracts, the small model registered, and a data dir for nodes."""

    anvil: Anvil
    chain: ChainClient
    record_dir: Path
    data_dir: Path
    manifest: Manifest
    artifacts: CircuitArtifacts
    model_id: int
    redis_url: str

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a `zkai node run` process on this network."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZKAI_")}
        env.update(
            {
                "ZKAI_DATA_DIR": str(self.data_dir),
                "ZKAI_ARTIFACTS_DIR": str(self.artifacts.directory.parent),
                "ZKAI_DEPLOYMENTS_DIR": str(self.record_dir),
                "ZKAI_NETWORK": "local",
                "ZKAI_RPC_URL": self.anvil.url,
                "ZKAI_REDIS_URL": self.redis_url,
                "ZKAI_PASSPHRASE": PASSPHRASE,
                "ZKAI_NODE_POLL_INTERVAL_S": "0.2",
                "ZKAI_NODE_RECONCILE_INTERVAL_S": "1",
                "ZKAI_NODE_CLAIM_INTERVAL_S": "1",
                "ZKAI_NODE_REQUEUE_AFTER_S": "3",
                "ZKAI_NODE_LOCK_TTL_S": "4",
                "ZKAI_NODE_VISIBILITY_TIMEOUT_S": "20",
            }
        )
        env.update(extra)
        return env

    def new_node(self, stake: int = 2 * MIN_STAKE) -> NodeIdentity:
        """A fresh node identity in the data dir, funded, registered for the model, staked."""
        name = f"n{uuid.uuid4().hex[:8]}"
        keystore = Keystore(self.data_dir, scrypt_n=2**4)
        keystore.create_node(name, PASSPHRASE)
        identity = keystore.unlock_node(name, PASSPHRASE)
        fund(self.chain, identity.account.address, tokens=stake)
        register_node(self.chain, identity, models=[self.model_id], stake=stake)
        return identity

    def node_process(
        self, identity: NodeIdentity, tmp: Path, concurrency: int = 1, **extra: str
    ) -> NodeProcess:
        return NodeProcess(
            identity.name, self.env(**extra), tmp / f"{identity.name}.log", concurrency=concurrency
        )

    def increase_time(self, seconds: int) -> None:
        self.chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_artifacts() -> CircuitArtifacts:
    return build_circuit_dev(small_manifest(), artifacts_root=get_settings().artifacts_path)


def make_network(tmp: Path, artifacts: CircuitArtifacts, redis_url: str) -> Network:
    anvil = Anvil(tmp)
    record_dir = tmp / "deployments"
    deployment = deploy_system(anvil.url, record_dir)
    chain = ChainClient(anvil.url, Deployment.load(record_dir / "local.json"))
    from zkai.localnet_state import anvil_account

    manifest = artifacts.manifest
    model_id, _ = register_model(
        chain, anvil_account(0), manifest, price=PRICE, shares=SHARES, artifacts=artifacts
    )
    data_dir = tmp / "data"
    manifest_path = data_dir / "models" / "tiny.json"
    manifest_path.parent.mkdir(parents=True)
    manifest.save(manifest_path)
    ModelCatalog(deployment.chain_id, root=data_dir).add("tiny", model_id, str(manifest_path))
    return Network(anvil, chain, record_dir, data_dir, manifest, artifacts, model_id, redis_url)


@pytest.fixture(scope="session")
def network(
    tmp_path_factory: pytest.TempPathFactory, tiny_artifacts: CircuitArtifacts, redis_url: str
) -> Iterator[Network]:
    """One shared anvil for the node tests that do not stop it."""
    net = make_network(tmp_path_factory.mktemp("node-net"), tiny_artifacts, redis_url)
    try:
        yield net
    finally:
        net.anvil.stop()


@pytest.fixture
def nodes_running(network: Network, tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Factory: start `zkai node run` for an identity; every process is stopped at the end."""
    started: list[NodeProcess] = []

    def start(
        identity: NodeIdentity, concurrency: int = 1, net: Network | None = None, **extra: str
    ) -> NodeProcess:
        proc = (net or network).node_process(identity, tmp_path, concurrency, **extra).start()
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()
