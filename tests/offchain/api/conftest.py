"""A real network with real events for the API tests: contracts deployed and wired by
scripts/deploy.py, a model verified by the test circuit's Groth16 verifier, three staked nodes,
queries proven with real proofs, a payout claim, a reward epoch and a reward claim. Then the API
app on a fresh SQLite index of that chain, and helpers to serve it over real HTTP.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from zkai.api.app import create_app
from zkai.chain.client import Deployment
from zkai.config import Settings
from zkai.devservices import free_port
from zkai.rewards import RewardTree, publish_distribution
from zkai.toolchain import load_module_from_path

ROOT = Path(__file__).resolve().parents[3]
ETHER = 10**18
PRICE = 3 * ETHER
SHARES = 3


deploy_script = load_module_from_path("zkai_deploy_script", ROOT / "scripts" / "deploy.py")
zk = load_module_from_path("zkai_contract_test_circuits", ROOT / "tests" / "contracts" / "zk.py")


@dataclass
class Network:
    """The deployed system and the actors of the scenario."""

    deployment_path: Path
    contracts: dict[str, Any]
    owner: Any
    nodes: list[Any]
    user: Any
    contributors: list[Any]
    circuit: Any
    model_id: int
    rng: random.Random
    queries: dict[int, list[Any]] = field(default_factory=dict)
    submit_receipts: dict[tuple[int, int], Any] = field(default_factory=dict)
    trees: list[RewardTree] = field(default_factory=list)

    @property
    def token(self) -> Any:
        return self.contracts["ZKAIToken"]

    @property
    def market(self) -> Any:
        return self.contracts["QueryMarket"]

    @property
    def registry(self) -> Any:
        return self.contracts["NodeRegistry"]

    @property
    def rewards(self) -> Any:
        return self.contracts["ContributorRewards"]

    def deployment(self) -> Deployment:
        return Deployment.load(self.deployment_path)

    def request(self, chain: Any) -> int:
        shares = [self.circuit.random_share(self.rng) for _ in range(SHARES)]
        receipt = self.market.requestQuery(
            self.model_id,
            self.nodes,
            [s.commitment for s in shares],
            [self.rng.randbytes(64) for _ in shares],
            chain.pending_timestamp + 3600,
            sender=self.user,
        )
        query_id = int(receipt.events.filter(self.market.QueryRequested)[0].queryId)
        self.queries[query_id] = shares
        return query_id

    def submit(self, query_id: int, index: int) -> Any:
        share = self.queries[query_id][index]
        receipt = self.market.submitResult(
            query_id, index, share.outputs, self.circuit.prove(share), sender=self.nodes[index]
        )
        self.submit_receipts[(query_id, index)] = receipt
        return receipt

    def post_epoch(self, amounts: list[int], distributions: Path) -> tuple[int, RewardTree]:
        tree = RewardTree.of(
            (c.address, amount) for c, amount in zip(self.contributors, amounts, strict=True)
        )
        self.token.transfer(self.rewards, tree.total, sender=self.owner)
        receipt = self.rewards.postEpoch(tree.root, tree.total, sender=self.owner)
        publish_distribution(distributions, tree)
        self.trees.append(tree)
        return int(receipt.events[0].epoch), tree

    def claim_reward(self, epoch: int, tree: RewardTree, index: int) -> Any:
        account, amount = tree.entries[index]
        return self.rewards.claim(
            epoch, account, amount, tree.proof(account, amount), sender=self.owner
        )


def build_network(accounts: Any, project: Any, chain: Any, folder: Path) -> Network:
    """Deploy, register, query, prove, claim: every event kind the dashboard shows."""
    owner = accounts[0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "deployment.json"
    contracts = deploy_script.deploy(owner, path, deploy_script.Parameters())
    token, registry = contracts["ZKAIToken"], contracts["NodeRegistry"]
    circuit = zk.load_circuit("share_2x3.circom", 3)
    verifier = owner.deploy(circuit.verifier_container())
    adapter = project.Groth16VerifierAdapter.deploy(verifier, circuit.outputs + 1, sender=owner)
    receipt = contracts["ModelRegistry"].registerModel(
        adapter, b"\x42" * 32, 2, 3, SHARES, PRICE, sender=owner
    )
    model_id = int(receipt.events[0].modelId)
    nodes = [accounts[2], accounts[3], accounts[4]]
    min_stake = registry.minStake()
    for i, node in enumerate(nodes):
        stake = (2 + i) * min_stake
        token.transfer(node, stake, sender=owner)
        token.approve(registry, stake, sender=node)
        registry.register(bytes([i + 1]) * 32, f"https://node{i}.example", stake, sender=node)
    user = accounts[5]
    token.transfer(user, 100 * PRICE, sender=owner)
    token.approve(contracts["QueryMarket"], 2**256 - 1, sender=user)
    contracts["ContributorRewards"].setAggregator(owner, True, sender=owner)
    network = Network(
        path,
        contracts,
        owner,
        nodes,
        user,
        [accounts[6], accounts[7]],
        circuit,
        model_id,
        random.Random(7),
    )
    first, second = network.request(chain), network.request(chain)
    for index in range(SHARES):
        network.submit(first, index)
    network.submit(second, 0)
    network.submit(second, 1)
    network.market.claimPayouts([first, second], [0, 0], sender=nodes[0])
    epoch, tree = network.post_epoch([5 * ETHER, 7 * ETHER], folder / "rewards")
    network.claim_reward(epoch, tree, 0)
    return network


def api_settings(
    network: Network, rpc_url: str, database_dir: Path | None = None, redis_url: str | None = None
) -> Settings:
    """The network's folder as data dir (its published reward distributions are there); the
    index database in `database_dir` (a fresh index) or there too; the training rounds in the
    tests' Redis when `redis_url` is given."""
    folder = network.deployment_path.parent
    return Settings(
        data_dir=folder,
        rpc_url=rpc_url,
        **({"redis_url": redis_url} if redis_url else {}),
        database_url=f"sqlite:///{(database_dir or folder) / 'index.db'}",
        index_poll_interval=0.2,
    )


@pytest.fixture(scope="module")
def network(accounts, project, chain, tmp_path_factory) -> Network:
    return build_network(accounts, project, chain, tmp_path_factory.mktemp("network"))


@pytest.fixture(scope="module")
def indexed_app(network, chain, redis_url) -> Iterator[tuple[FastAPI, TestClient]]:
    """The app on a fresh index of `network`, synced once (its indexer thread is off)."""
    app = create_app(
        api_settings(network, chain.provider.uri, redis_url=redis_url),
        deployment=network.deployment(),
        run_indexer=False,
    )
    with TestClient(app) as client:
        app.state.zkai.indexer.sync_once()
        yield app, client


@pytest.fixture(scope="module")
def client(indexed_app) -> TestClient:
    return indexed_app[1]


class LiveServer:
    """The API served by uvicorn on a free port, in a thread of the test process."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn exited during start-up"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "uvicorn did not stop"


def wait_for(condition: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def api_schema(indexed_app) -> Any:
    import schemathesis

    app, _ = indexed_app
    return schemathesis.openapi.from_asgi("/openapi.json", app)
