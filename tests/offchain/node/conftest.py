"""Fixtures of the node tests (protocol v2): a private anvil with the v2 contracts, a small test
model whose one part has R_max 3 (three rounds of one 3 -> 2 block, like three generation steps),
registered nodes with their keys, and in-process round services or `zkai node run` processes."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from zkai.chain.client import ChainClient, Deployment
from zkai.config import get_settings
from zkai.models.demo import load_demo_manifest
from zkai.models.importers import from_linear
from zkai.models.manifest import Manifest, Part
from zkai.models.store import ManifestStore
from zkai.node.chainview import ChainView
from zkai.node.keys import UnlockedNode, unlock
from zkai.node.operator import PartRef, init_node, register_node
from zkai.node.parts import ServedParts
from zkai.node.rounds import RoundService
from zkai.node.settings import NodeSettings
from zkai.node.store import RoundStore
from zkai.wallet.keystore import Keystore

from .localchain import (
    ETHER,
    MIN_STAKE,
    PASSPHRASE,
    Anvil,
    NodeProcess,
    UserQuery,
    deploy_system,
    fund,
    new_user,
    register_part_model,
)

PRICE = 2 * ETHER
R_MAX = 3
CHUNK_R_MAX, CHUNK_BUDGET = 2, 5
"""The chunked test part: the digits demo block, R_max 2, max_budget 5 (= 2.5 x R_max)."""


def three_round_manifest() -> Manifest:
    """One 3-input, 2-output block; one part whose schedule repeats it for up to 3 rounds."""
    base = from_linear(
        [[0.5, -0.25, 1.0], [-1.0, 0.75, 0.125]],
        [0.1, -0.2],
        name="tiny-rounds",
        version=1,
        input_scale_bits=8,
        weight_scale_bits=8,
        postprocess="argmax",
        input_min=[-1, -1, -1],
        input_max=[1, 1, 1],
    )
    return dataclasses.replace(base, parts=(Part(0, (0,), R_MAX),))


def chunked_digits_manifest() -> Manifest:
    """The digits demo model (one 64 -> 10 block) as a part whose assignments may take up to 5
    rounds, claimed in chunks of at most 2 (a test manifest: max_rounds 2, max_budget 5)."""
    base = load_demo_manifest("digits")
    (part,) = base.parts
    chunked = Part(0, part.schedule, CHUNK_R_MAX, CHUNK_BUDGET)
    return dataclasses.replace(base, name="digits-chunked", parts=(chunked,))


@dataclass
class Network:
    anvil: Anvil
    chain: ChainClient
    record_dir: Path
    data_dir: Path
    manifest: Manifest
    model_id: int
    redis_url: str

    @property
    def keystore(self) -> Keystore:
        return Keystore(self.data_dir, scrypt_n=2**4)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a `zkai node run` process on this network."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZKAI_")}
        env.update(
            {
                "ZKAI_DATA_DIR": str(self.data_dir),
                "ZKAI_ARTIFACTS_DIR": str(artifacts_dir()),
                "ZKAI_DEPLOYMENTS_DIR": str(self.record_dir),
                "ZKAI_NETWORK": "local",
                "ZKAI_RPC_URL": self.anvil.url,
                "ZKAI_REDIS_URL": self.redis_url,
                "ZKAI_PASSPHRASE": PASSPHRASE,
                "ZKAI_NODE_POLL_INTERVAL_S": "0.3",
                "ZKAI_NODE_REQUEUE_AFTER_S": "3",
                "ZKAI_NODE_LOCK_TTL_S": "4",
                "ZKAI_NODE_VISIBILITY_TIMEOUT_S": "20",
                "ZKAI_NODE_DEADLINE_MARGIN_S": "2",
                "ZKAI_NODE_CAPACITY_MARGIN_S": "1",
            }
        )
        env.update(extra)
        return env

    def new_node(
        self,
        endpoint: str = "http://127.0.0.1:1",
        *,
        model_id: int | None = None,
        parts: Sequence[int] = (0,),
    ) -> UnlockedNode:
        """A fresh node: keys in the data dir, funded, registered for `parts` (part 0) of the
        test model, or of `model_id`, staked."""
        name = f"n{uuid.uuid4().hex[:8]}"
        init_node(self.keystore, name, PASSPHRASE)
        node = unlock(self.keystore, name, PASSPHRASE)
        fund(self.chain, node.address, tokens=2 * MIN_STAKE)
        register_node(
            self.chain,
            node,
            stake=2 * MIN_STAKE,
            endpoint=endpoint,
            parts=[PartRef(self.model_id if model_id is None else model_id, p) for p in parts],
            keystore=self.keystore,
        )
        return node

    def service(self, node: UnlockedNode, store_path: Path, **settings: float) -> RoundService:
        """The node's round logic in this process, on its own store file."""
        view = ChainView(self.chain, 0)
        parts = ServedParts(view, ManifestStore(self.data_dir / "manifests"))
        config = NodeSettings(
            deadline_margin_s=2,
            capacity_margin_s=1,
            **settings,  # type: ignore[arg-type]
        )
        return RoundService(node, view, RoundStore(store_path), parts, config)

    def user_query(
        self,
        nodes: list[UnlockedNode],
        budget: int = R_MAX,
        *,
        part: int = 0,
        model: tuple[int, Manifest] | None = None,
    ) -> UserQuery:
        model_id, manifest = (self.model_id, self.manifest) if model is None else model
        return UserQuery(
            self.chain,
            new_user(self.chain),
            manifest,
            model_id,
            part,
            [n.address for n in nodes],
            budget,
        )


def artifacts_dir() -> Path:
    """The test run's circuit cache, shared with the node processes."""
    return get_settings().artifacts_path.resolve()


def make_network(tmp: Path, redis_url: str) -> Network:
    anvil = Anvil(tmp)
    record_dir = tmp / "deployments"
    deployment = deploy_system(anvil.url, record_dir)
    chain = ChainClient(anvil.url, Deployment.load(record_dir / "local.json"))
    manifest = three_round_manifest()
    model_id = register_part_model(chain, manifest, price=PRICE, shares=1)
    data_dir = tmp / "data"
    ManifestStore(data_dir / "manifests").put(manifest)
    assert deployment.chain_id == chain.deployment.chain_id
    return Network(anvil, chain, record_dir, data_dir, manifest, model_id, redis_url)


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Network]:
    """One shared anvil for the node tests that do not stop it."""
    net = make_network(tmp_path_factory.mktemp("node-net"), redis_url)
    try:
        yield net
    finally:
        net.anvil.stop()


@pytest.fixture(scope="session")
def chunked_model(network: Network) -> tuple[int, Manifest]:
    """(model id, manifest) of `chunked_digits_manifest`, registered on the shared network."""
    manifest = chunked_digits_manifest()
    model_id = register_part_model(network.chain, manifest, price=PRICE, shares=1)
    ManifestStore(network.data_dir / "manifests").put(manifest)
    return model_id, manifest


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def nodes_running(network: Network, tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Factory: start `zkai node run` for a node; every process is stopped at the end."""
    started: list[NodeProcess] = []

    def start(node: UnlockedNode, port: int, concurrency: int = 1, **extra: str) -> NodeProcess:
        env = network.env(ZKAI_NODE_PORT=str(port), **extra)
        log = tmp_path / f"{node.name}-{len(started)}.log"
        proc = NodeProcess(node.name, env, log, concurrency).start()
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()
