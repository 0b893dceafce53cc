"""Test helpers: a private anvil, the five contracts deployed over web3, and `zkai node run`.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

from zkai.chain.client import ChainClient, Deployment
from zkai.devservices import free_port
from zkai.inference import prepare_query
from zkai.localnet_state import anvil_account
from zkai.models.manifest import Manifest

ETHER = 10**18
MIN_STAKE = 1_000 * ETHER
SLASH_AMOUNT = 100 * ETHER
PASSPHRASE = "node-test-passphrase"


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


def deploy_system(rpc_url: str, record_dir: Path) -> Deployment:
    """Deploy and wire the contracts like scripts/deploy.py; write `<record_dir>/local.json`."""
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
    registry = deploy("NodeRegistry", owner.address, token, MIN_STAKE, 7 * 24 * 3600, owner.address)
    models = deploy("ModelRegistry")
    rewards = deploy("ContributorRewards", owner.address, token, 30 * 24 * 3600)
    deploy(
        "QueryMarket",
        (
            owner.address,
            token,
            registry,
            models,
            owner.address,
            rewards,
            500,
            1_000,
            SLASH_AMOUNT,
            24 * 3600,
        ),
    )
    deployment = Deployment("local", w3.eth.chain_id, contracts, blocks)
    chain = ChainClient(rpc_url, deployment)
    chain.transact(
        owner, chain.contract("NodeRegistry").functions.setSlasher(contracts["QueryMarket"], True)
    )
    deployment.save(record_dir / "local.json")
    return deployment


def fund(chain: ChainClient, address: str, *, eth: int = 10 * ETHER, tokens: int = 0) -> None:
    owner = anvil_account(0)
    if eth:
        tx = {
            "to": Web3.to_checksum_address(address),
            "value": eth,
            "from": owner.address,
            "nonce": chain.w3.eth.get_transaction_count(owner.address, "pending"),
            "gas": 21_000,
            "gasPrice": chain.w3.eth.gas_price,
            "chainId": chain.w3.eth.chain_id,
        }
        signed = owner.sign_transaction(tx)
        chain.w3.eth.wait_for_transaction_receipt(
            chain.w3.eth.send_raw_transaction(signed.raw_transaction)
        )
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


@dataclass
class PostedQuery:
    query_id: int
    block: int
    deadline: int
    fee: int
    nodes: list[str]
    posted_at: float


def post_query(
    chain: ChainClient,
    user: LocalAccount,
    manifest: Manifest,
    model_id: int,
    nodes: list[tuple[str, bytes]],
    *,
    x: list[float] | None = None,
    tamper: Callable[[int, int, bytes], tuple[int, bytes]] | None = None,
    deadline_s: int = 600,
) -> PostedQuery:
    """Post a query directly through QueryMarket.requestQuery (user already approved)."""
    prepared = prepare_query(manifest, x or [0.5] * manifest.input_size, [k for _, k in nodes])
    commitments = [r.commitment for r in prepared.requests]
    payloads = [r.ciphertext for r in prepared.requests]
    if tamper is not None:
        for j in range(len(nodes)):
            commitments[j], payloads[j] = tamper(j, commitments[j], payloads[j])
    now = chain.w3.eth.get_block("latest")["timestamp"]
    market = chain.contract("QueryMarket")
    posted_at = time.time()
    receipt = chain.transact(
        user,
        market.functions.requestQuery(
            model_id, [a for a, _ in nodes], commitments, payloads, now + deadline_s
        ),
    )
    (event,) = market.events.QueryRequested().process_receipt(receipt, errors=DISCARD)
    return PostedQuery(
        int(event["args"]["queryId"]),
        int(receipt["blockNumber"]),
        int(event["args"]["deadline"]),
        int(event["args"]["fee"]),
        [a for a, _ in nodes],
        posted_at,
    )


def share_status(chain: ChainClient, query_id: int, index: int) -> int:
    return int(chain.call(chain.contract("QueryMarket").functions.getShare(query_id, index))[1])


def results_of(chain: ChainClient, query_id: int) -> list[Any]:
    return list(
        chain.events(
            "QueryMarket",
            "ResultSubmitted",
            chain.deployment.start_block,
            chain.w3.eth.block_number,
            {"queryId": query_id},
        )
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
        zkai = Path(sys.executable).with_name("zkai")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(zkai), "node", "run", self.name, "--concurrency", str(self.concurrency)],
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
