"""A real v2 network with real events for the API tests: contracts deployed and wired by
scripts/deploy.py, a two-part model whose parts are verified by a factory verifier of a real
Groth16 circuit (the toy assignment circuit of tests/contracts, with the public inputs (tag, n,
T_n, O_{n-1}, O_n) of every part circuit), three staked nodes hosting
parts, queries requested, claimed with real proofs and Round signatures of their session keys,
one assignment slashed on its node's Ack (the Ack each slash sent is kept, to be compared with
what the index decoded from the slashing transaction), one query settled; a reward epoch and a
reward claim.
Then the API app on a fresh SQLite index of that chain, and helpers to serve it over real HTTP.
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
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from fastapi import FastAPI
from fastapi.testclient import TestClient

from zkai.api.app import create_app
from zkai.chain.client import Deployment
from zkai.config import Settings
from zkai.crypto.field import BN254_R
from zkai.devservices import free_port
from zkai.models.demo import load_demo_manifest
from zkai.models.store import ManifestStore
from zkai.protocol.ids import assignment_tag, new_salt, query_id
from zkai.protocol.market import NO_VALIDITY_PROOF, ValidityTerms
from zkai.protocol.messages import AckMessage, Domain, RoundMessage
from zkai.rewards import RewardTree, publish_distribution
from zkai.toolchain import load_module_from_path

ROOT = Path(__file__).resolve().parents[3]
ETHER = 10**18
PRICES = (2 * ETHER, 3 * ETHER)
"""Price per round of part 0 and part 1."""
SHARES = (2, 1)
"""k of part 0 and part 1."""
MAX_ROUNDS = 4
MAX_BUDGETS = (10, 4)
"""maxBudget of part 0 (claimed in chunks of at most MAX_ROUNDS above it) and part 1 (never)."""
MIN_PROOF_WINDOW = 60
BUDGETS = (3, 2)
DEMO_MODEL = "digits-mlp"
"""The model's manifest (served by the API under its hash, which the registry records)."""
ROTATED_ENDPOINT = "https://node0.example:9443"

deploy_script = load_module_from_path("zkai_deploy_script", ROOT / "scripts" / "deploy.py")
zk = load_module_from_path("zkai_contract_test_circuits", ROOT / "tests" / "contracts" / "zk.py")


@dataclass
class Assignment:
    """What a test knows of one assignment: what its claim's statement is made of (the toy
    circuit of tests/contracts binds T and O to the tag, n, O_{n-1} and a private w)."""

    query_id: bytes
    part: int
    node: Any
    budget: int
    tag: int
    commitment: int
    prev_output_transcript: int
    w: int

    last: Any = None
    """The statement of its latest claim (a next claim is a chunk continuing it)."""

    def statement(self, rounds: int) -> Any:
        if self.last is not None:
            return self.last.then(rounds, self.prev_output_transcript, self.w)
        return zk.Statement.make(self.tag, rounds, self.prev_output_transcript, self.w)


@dataclass(frozen=True)
class SentAck:
    """An Ack as a test sent it in a slashing transaction, and who signed it."""

    round: int
    input_transcript: int
    output_transcript: int
    signature: bytes
    signer: str


@dataclass
class Network:
    """The deployed system and the actors of the scenario."""

    deployment_path: Path
    contracts: dict[str, Any]
    owner: Any
    nodes: list[Any]
    ack_signers: list[LocalAccount]
    user: Any
    contributors: list[Any]
    model_id: int
    circuit: Any
    rng: random.Random
    queries: dict[bytes, list[Assignment]] = field(default_factory=dict)
    session_keys: dict[bytes, LocalAccount] = field(default_factory=dict)
    request_receipts: dict[bytes, Any] = field(default_factory=dict)
    claim_receipts: dict[tuple[bytes, int, str], Any] = field(default_factory=dict)
    trees: list[RewardTree] = field(default_factory=list)
    sent_acks: dict[tuple[bytes, int, str], list[SentAck]] = field(default_factory=dict)
    """The Ack(s) each slash sent, by (query id, part, node address)."""
    slash_receipts: dict[tuple[bytes, int, str], Any] = field(default_factory=dict)

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
    def models(self) -> Any:
        return self.contracts["ModelRegistry"]

    @property
    def rewards(self) -> Any:
        return self.contracts["ContributorRewards"]

    def deployment(self) -> Deployment:
        return Deployment.load(self.deployment_path)

    def domain(self, chain: Any) -> Domain:
        return Domain(chain.chain_id, self.market.address)

    def field_element(self) -> int:
        return self.rng.randrange(1, BN254_R)

    def request(
        self,
        chain: Any,
        assigned: tuple[list[int], list[int]] = ([0, 1], [2]),
        budgets: tuple[int, int] = BUDGETS,
    ) -> bytes:
        """A query of the model: part 0 to two nodes, part 1 to one (indexes into `nodes`)."""
        salt = new_salt()
        qid = query_id(chain.chain_id, self.market.address, self.user.address, salt)
        session = Account.create()
        nodes = [[self.nodes[i] for i in part] for part in assigned]
        firsts = [self.field_element() for _ in nodes[0]]
        now = chain.pending_timestamp
        round_deadline = now + 600
        proof_deadline = round_deadline + max(self.market.minProofWindowFloor(), MIN_PROOF_WINDOW)
        escrow = sum(len(n) * b * p for n, b, p in zip(nodes, budgets, PRICES, strict=True))
        request = (
            salt,
            self.model_id,
            1,
            escrow,
            [[n.address for n in part] for part in nodes],
            list(budgets),
            round_deadline,
            proof_deadline,
            session.address,
            firsts,
        )
        receipt = self.market.requestQuery(
            request, (0, 0, 0, b"\0" * 32, b"\0" * 32), list(NO_VALIDITY_PROOF), sender=self.user
        )
        self.request_receipts[qid] = receipt
        self.session_keys[qid] = session
        market = self.market.address
        self.queries[qid] = [
            Assignment(
                qid,
                part,
                node,
                budgets[part],
                assignment_tag(chain.chain_id, market, qid, part, node.address),
                firsts[j] if part == 0 else self.field_element(),
                self.field_element(),
                self.field_element(),
            )
            for part, part_nodes in enumerate(nodes)
            for j, node in enumerate(part_nodes)
        ]
        return qid

    def assignment(self, qid: bytes, part: int, node: Any) -> Assignment:
        return next(a for a in self.queries[qid] if a.part == part and a.node == node)

    def claim(self, chain: Any, qid: bytes, part: int, node: Any, rounds: int) -> Any:
        """Claim up to `rounds`: the assignment's first claim, or the chunk after its last."""
        a = self.assignment(qid, part, node)
        statement = a.statement(rounds)
        signature = RoundMessage(
            qid,
            part,
            node.address,
            rounds,
            a.commitment,
            statement.input_transcript,
            statement.prev_output_transcript,
        ).sign(self.domain(chain), self.session_keys[qid])
        receipt = self.market.claim(
            qid,
            part,
            rounds,
            a.commitment,
            statement.input_transcript,
            statement.prev_output_transcript,
            statement.output_transcript,
            statement.start_input_transcript,
            statement.start_output_transcript,
            signature,
            self.circuit.prove(statement),
            sender=node,
        )
        a.last = statement
        self.claim_receipts[(qid, part, node.address)] = receipt
        return receipt

    def sign_ack(
        self, chain: Any, qid: bytes, part: int, node_index: int, round_: int, t: int, o: int
    ) -> SentAck:
        """Node `node_index`'s Ack of (round, T, O), signed by its ack signer."""
        node, signer = self.nodes[node_index], self.ack_signers[node_index]
        ack = AckMessage(qid, part, node.address, round_, t, o)
        return SentAck(round_, t, o, ack.sign(self.domain(chain), signer), signer.address)

    def slash_unclaimed(
        self, chain: Any, qid: bytes, part: int, node_index: int, via: Any = None
    ) -> Any:
        """Slash an unclaimed assignment on its node's Ack of round 1 (after the proof deadline),
        sent to the market, or through the forwarding contract `via` when given."""
        node = self.nodes[node_index]
        round_1 = self.assignment(qid, part, node).statement(1)
        ack = self.sign_ack(
            chain, qid, part, node_index, 1, round_1.input_transcript, round_1.output_transcript
        )
        args = (qid, part, node.address, 1, ack.input_transcript, ack.output_transcript)
        if via is None:
            receipt = self.market.slash(*args, ack.signature, sender=self.owner)
        else:
            data = self.market.slash.encode_input(*args, ack.signature)
            receipt = self.owner.transfer(via, 0, data=data)
        self.sent_acks[(qid, part, node.address)] = [ack]
        self.slash_receipts[(qid, part, node.address)] = receipt
        return receipt

    def slash_equivocation(
        self, chain: Any, qid: bytes, part: int, node_index: int, acks: list[SentAck]
    ) -> Any:
        """Slash on two Acks of one round with different transcripts."""
        first, second = acks
        node = self.nodes[node_index]
        receipt = self.market.slashEquivocation(
            qid,
            part,
            node,
            first.round,
            first.input_transcript,
            first.output_transcript,
            first.signature,
            second.input_transcript,
            second.output_transcript,
            second.signature,
            sender=self.owner,
        )
        self.sent_acks[(qid, part, node.address)] = [first, second]
        self.slash_receipts[(qid, part, node.address)] = receipt
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


def forwarder_bytecode(target: str) -> bytes:
    """Init code of a minimal forwarding contract: every call is passed on to `target` with the
    same calldata (a revert is passed back). A slash sent through it is a call to the market by
    another contract: the slashing transaction's own calldata is addressed to the forwarder.

    Runtime: CALLDATACOPY(0, 0, size); CALL(gas, target, 0, 0, size, 0, 0);
    RETURNDATACOPY(0, 0, rds); success ? RETURN(0, rds) : REVERT(0, rds)."""
    address = bytes.fromhex(target.removeprefix("0x"))
    assert len(address) == 20
    runtime = (
        bytes.fromhex("365f5f375f5f365f5f73")
        + address
        + bytes.fromhex("5af13d5f5f3e602a573d5ffd5b3d5ff3")
    )
    assert runtime[42] == 0x5B, "the jump target is the JUMPDEST"
    # PUSH1 len; DUP1; PUSH1 9 (where the runtime starts); PUSH0; CODECOPY; PUSH0; RETURN
    init = bytes.fromhex(f"60{len(runtime):02x}8060095f395ff3")
    assert len(init) == 9
    return init + runtime


def build_network(accounts: Any, project: Any, chain: Any, folder: Path) -> Network:
    """Deploy, register, request, claim, slash, settle: every event kind the dashboard shows.

    Query 1: every assignment claimed (fewer rounds than budgeted), then settled.
    Query 2: one claim; after its proof deadline node 1's unclaimed assignment is slashed.
    Query 3 (requested after that): nothing claimed yet."""
    owner = accounts[0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "deployment.json"
    contracts = deploy_script.deploy(owner, path, deploy_script.Parameters())
    token, registry = contracts["ZKAIToken"], contracts["NodeRegistry"]
    circuit = zk.load_circuit()
    words = circuit.vk_words
    factory = contracts["VerifierFactory"]
    factory.deploy(words, sender=owner)
    verifier = factory.deploy.call(words)
    terms = [
        (
            verifier,
            price,
            MAX_ROUNDS,
            max_budget,
            MIN_PROOF_WINDOW,
            shares,
            keccak((zk.CIRCUITS / zk.TOY_CIRCUIT).read_bytes()),
            zk.vk_hash(words),
        )
        for price, shares, max_budget in zip(PRICES, SHARES, MAX_BUDGETS, strict=True)
    ]
    manifest = load_demo_manifest(DEMO_MODEL)  # two parts, as the terms
    ManifestStore(folder / "manifests").put(manifest)
    receipt = contracts["ModelRegistry"].registerModel(
        manifest.hash,
        "ipfs://zkai-test-model",
        terms,
        ValidityTerms.NONE.as_tuple(),
        sender=owner,
    )
    model_id = int(receipt.events.filter(contracts["ModelRegistry"].ModelRegistered)[0].modelId)
    nodes = [accounts[2], accounts[3], accounts[4]]
    ack_signers = [Account.create() for _ in nodes]
    hosted = ([0], [0], [1])
    min_stake = registry.minStake()
    for i, node in enumerate(nodes):
        stake = (2 + i) * min_stake
        token.transfer(node, stake, sender=owner)
        token.approve(registry, stake, sender=node)
        registry.register(
            bytes([i + 1]) * 32,
            ack_signers[i].address,
            f"https://node{i}.example:8443",
            f"ipfs://node{i}",
            stake,
            sender=node,
        )
        registry.setParts(model_id, hosted[i], True, sender=node)
    registry.setParts(model_id, [0, 1], True, sender=nodes[2])  # hosts both for a while,
    registry.setParts(model_id, [0], False, sender=nodes[2])  # then part 1 only again
    registry.updateNode(  # a rotation: the index follows NodeUpdated
        bytes([9]) * 32,
        ack_signers[0].address,
        ROTATED_ENDPOINT,
        "ipfs://node0-rotated",
        sender=nodes[0],
    )
    user = accounts[5]
    token.transfer(user, 1_000 * ETHER, sender=owner)
    token.approve(contracts["QueryMarket"], 2**256 - 1, sender=user)
    contracts["ContributorRewards"].setAggregator(owner, True, sender=owner)
    network = Network(
        path,
        contracts,
        owner,
        nodes,
        ack_signers,
        user,
        [accounts[6], accounts[7]],
        model_id,
        circuit,
        random.Random(7),
    )
    first = network.request(chain)
    network.claim(chain, first, 0, nodes[0], 3)
    network.claim(chain, first, 0, nodes[1], 2)
    network.claim(chain, first, 1, nodes[2], 1)
    network.market.settle(first, sender=user)
    second = network.request(chain)
    network.claim(chain, second, 0, nodes[0], 1)
    chain.pending_timestamp = network.market.getQuery(second).proofDeadline + 1
    network.slash_unclaimed(chain, second, 0, 1)
    network.request(chain)
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
