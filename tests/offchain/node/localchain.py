"""Test helpers: a private anvil, the v2 contracts deployed over web3, a user's side of a query
(deal, sign and seal rounds, as PROTOCOL.md v2 step 2), and `zkai node run`.

The node service talks to the chain only through web3, so its tests run their own anvil (which a
test may stop and start again, keeping its state in a file) instead of ape's, and never touch
deployments/local.json: the deployment record goes to a temporary ZKAI_DEPLOYMENTS_DIR.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD
from web3.types import TxReceipt

from zkai.chain.client import ChainClient, Deployment
from zkai.circuits.part import part_artifacts
from zkai.crypto.encryption import seal
from zkai.crypto.transcript import TranscriptState
from zkai.devservices import free_port
from zkai.localnet_state import anvil_account
from zkai.models.manifest import Manifest
from zkai.protocol.ids import assignment_tag, new_salt, query_id
from zkai.protocol.market import NO_VALIDITY_PROOF, ValidityTerms
from zkai.protocol.messages import Domain, RoundMessage
from zkai.protocol.payload import RoundHeader, RoundPayload, deal_round
from zkai.protocol.wire import RoundRequest

ETHER = 10**18
MIN_STAKE = 1_000 * ETHER
SLASH_AMOUNT = 100 * ETHER
PASSPHRASE = "node-test-passphrase"
UNBONDING = 7 * 24 * 3600
PROOF_FLOOR = 30
CHALLENGE_WINDOW = 600
UNBONDING_MARGIN = 60


class Anvil:
    """An anvil process on a fixed port whose state survives `restart` (--state file)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.state_file = workdir / "anvil-state.json"
        self.log = workdir / "anvil.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("anvil")
        assert binary, "anvil is not on PATH (export PATH=$PWD/.venv/bin:$PATH)"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--state", str(self.state_file), "--silent"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        w3 = Web3(Web3.HTTPProvider(self.url))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                _ = w3.eth.block_number
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("anvil did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: anvil dumps its state to the file
            self.process.wait(timeout=20)

    def restart(self) -> None:
        self.stop()
        self.start()


def deploy_system(
    rpc_url: str, record_dir: Path, *, unbonding: int = UNBONDING, floor: int = PROOF_FLOOR
) -> Deployment:
    """Deploy and wire the v2 contracts like scripts/deploy.py; write `<record_dir>/local.json`."""
    owner = anvil_account(0)
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    chain = ChainClient(rpc_url, Deployment("local", w3.eth.chain_id, {}))
    contracts: dict[str, str] = {}
    blocks: dict[str, int] = {}

    def deploy(name: str, *args: Any) -> str:
        address, receipt = chain.deploy(owner, name, args)
        contracts[name], blocks[name] = address, int(receipt["blockNumber"])
        return address

    token = deploy("ZKAIToken", owner.address, 10**9 * ETHER, owner.address, 10**8 * ETHER)
    registry = deploy("NodeRegistry", owner.address, token, MIN_STAKE, unbonding, owner.address)
    factory = deploy("VerifierFactory")
    models = deploy("ModelRegistry", factory)
    rewards = deploy("ContributorRewards", owner.address, token, 30 * 24 * 3600)
    deploy(
        "QueryMarket",
        token,
        registry,
        models,
        owner.address,
        rewards,
        500,
        1_000,
        SLASH_AMOUNT,
        floor,
        CHALLENGE_WINDOW,
        UNBONDING_MARGIN,
    )
    deployment = Deployment("local", w3.eth.chain_id, contracts, blocks)
    chain = ChainClient(rpc_url, deployment)
    chain.transact(
        owner, chain.contract("NodeRegistry").functions.setSlasher(contracts["QueryMarket"], True)
    )
    deployment.save(record_dir / "local.json")
    return deployment


def register_part_model(
    chain: ChainClient,
    manifest: Manifest,
    *,
    price: int,
    shares: int,
    min_proof_window: int = 60,
    max_budget: int | None = None,
) -> int:
    """Deploy each part's verifier through the factory and register the model (version 1).
    `max_budget` overrides every part's manifest max_budget on-chain (an owner's mistake)."""
    owner = anvil_account(0)
    factory = chain.contract("VerifierFactory")
    terms = []
    for p in range(len(manifest.parts)):
        artifacts = part_artifacts(manifest, p)
        words = list(artifacts.vk_words())
        chain.transact(owner, factory.functions.deploy(words))
        verifier = chain.call(factory.functions.deploy(words))  # idempotent: the existing one
        terms.append(
            (
                verifier,
                price,
                artifacts.rounds,
                manifest.part(p).max_budget if max_budget is None else max_budget,
                min_proof_window,
                shares,
                artifacts.circuit_hash,
                artifacts.key_hash,
            )
        )
    registry = chain.contract("ModelRegistry")
    receipt = chain.transact(
        owner,
        registry.functions.registerModel(
            manifest.hash, f"test:{manifest.name}", terms, ValidityTerms.NONE.as_tuple()
        ),
    )
    (event,) = registry.events.ModelRegistered().process_receipt(receipt, errors=DISCARD)
    return int(event["args"]["modelId"])


def fund(chain: ChainClient, address: str, *, eth: int = 10 * ETHER, tokens: int = 0) -> None:
    owner = anvil_account(0)
    if eth:
        chain.send_ether(owner, address, eth)
    if tokens:
        chain.transact(owner, chain.contract("ZKAIToken").functions.transfer(address, tokens))


def new_user(chain: ChainClient) -> LocalAccount:
    user: LocalAccount = Account.create()
    fund(chain, user.address, tokens=1_000 * ETHER)
    chain.transact(
        user,
        chain.contract("ZKAIToken").functions.approve(
            chain.deployment.address("QueryMarket"), 2**256 - 1
        ),
    )
    return user


def chain_time(chain: ChainClient) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def increase_time(chain: ChainClient, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@dataclass
class SentRound:
    """One round as the user built it for one node (what it signs, seals and expects)."""

    body: dict[str, Any]
    message: RoundMessage
    header: RoundHeader
    payload: RoundPayload
    commitment: int


@dataclass
class UserQuery:
    """A user's query to one part's k nodes: deals rounds, signs them, tracks each transcript."""

    chain: ChainClient
    user: LocalAccount
    manifest: Manifest
    model_id: int
    part: int
    nodes: list[str]
    budget: int
    salt: bytes = field(default_factory=new_salt)
    session: LocalAccount = field(default_factory=Account.create)
    states: dict[str, TranscriptState] = field(default_factory=dict)
    pending: dict[int, list[SentRound]] = field(default_factory=dict)

    @property
    def market(self) -> str:
        return self.chain.deployment.address("QueryMarket")

    @property
    def domain(self) -> Domain:
        return Domain(self.chain.deployment.chain_id, self.market)

    @property
    def query(self) -> bytes:
        return query_id(self.chain.deployment.chain_id, self.market, self.user.address, self.salt)

    def tag(self, node: str) -> int:
        return assignment_tag(
            self.chain.deployment.chain_id, self.market, self.query, self.part, node
        )

    def deal(self, i: int, x: list[int], keys: dict[str, bytes]) -> list[SentRound]:
        """Round i's payloads for every node (x: the block's input, field elements)."""
        block = self.manifest.part(self.part).block_for_round(i)
        linear = self.manifest.block(block)
        headers = [
            RoundHeader(
                self.chain.deployment.chain_id,
                self.market,
                self.query,
                self.part,
                node,
                i,
                block,
                linear.input_size,
                linear.output_size,
            )
            for node in self.nodes
        ]
        sent = []
        for node, header, payload in zip(self.nodes, headers, deal_round(x, headers), strict=True):
            state = self.states.setdefault(node, TranscriptState.start(self.tag(node)))
            c = payload.opening().commitment(self.tag(node), header)
            message = RoundMessage(
                self.query,
                self.part,
                node,
                i,
                c,
                state.next_input(block, c),
                state.output_transcript,
            )
            sent.append(
                SentRound(
                    self.body(message, seal(keys[node], payload.to_bytes())),
                    message,
                    header,
                    payload,
                    c,
                )
            )
        self.pending[i] = sent
        return sent

    def body(self, message: RoundMessage, sealed: bytes) -> dict[str, Any]:
        """The POST /v2/rounds body, in the shared wire format."""
        signature = message.sign(self.domain, self.session)
        return RoundRequest(message, signature, sealed).to_json()

    def accept(self, node: str, sent: SentRound, outputs: list[int]) -> None:
        """The node answered `sent` with `outputs`: advance the user's copy of its transcripts."""
        block = sent.header.block
        self.states[node] = self.states[node].advance(block, sent.commitment, outputs)

    def request(
        self,
        *,
        round_s: int = 600,
        proof_s: int = 600,
        proof: Sequence[int] = NO_VALIDITY_PROOF,
        first: Sequence[int] | None = None,
        later_parts: Sequence[Sequence[str]] = (),
    ) -> TxReceipt:
        """Post the request (round 1 must be dealt: its commitments go on-chain, or `first`),
        with a validity `proof` for a version that has an input rule. `later_parts`: the
        nodes of parts 1, 2, ... of a query of part 0 (one round each)."""
        now = chain_time(self.chain)
        if first is None:
            first = [s.commitment for s in self.pending[1]] if self.part == 0 else []
        request = (
            self.salt,
            self.model_id,
            1,
            10**30,
            [self.nodes, *map(list, later_parts)] if self.part == 0 else [[], self.nodes],
            [self.budget, *(1 for _ in later_parts)],
            now + round_s,
            now + round_s + proof_s,
            self.session.address,
            list(first),
        )
        market = self.chain.contract("QueryMarket")
        return self.chain.transact(
            self.user,
            market.functions.requestQuery(request, (0, 0, 0, b"\0" * 32, b"\0" * 32), list(proof)),
        )


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class NodeProcess:
    """`zkai node run <name>` as a child process, its JSON log in a file."""

    name: str
    env: dict[str, str]
    log_path: Path
    concurrency: int = 1
    process: subprocess.Popen[bytes] | None = None
    _seen: int = field(default=0)

    def start(self) -> NodeProcess:
        command = [sys.executable, "-m", "zkai.node", "run", self.name]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*command, "--concurrency", str(self.concurrency)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def events(self) -> Iterator[dict[str, Any]]:
        if not self.log_path.exists():
            return
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    def find(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events()
            if e.get("event") == event and all(e.get(k) == v for k, v in match.items())
        ]

    def wait_event(self, event: str, timeout: float = 60, **match: Any) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"node {self.name} exited ({self.process.returncode}):\n{self.tail()}"
                )
            found = self.find(event, **match)
            return found[0] if found else None

        try:
            return wait_for(check, timeout, f"{event} {match} from node {self.name}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- log of {self.name}:\n{self.tail()}") from None

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        # The worker is in the service's session: make sure nothing of it is left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
