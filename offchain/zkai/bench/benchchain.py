"""The chain the gas section measures on: its own anvil on a free port, the project's contracts
deployed by `ape run deploy` (as `zkai up` does), the demo models registered with their part
verifiers from the `VerifierFactory` (`zkai.registration.register_model`), and four played nodes
(`zkai.bench.played`) registered and staked, each with its own encryption key and ack signer.

Hosting: a one-part model is hosted by every node; the two-part digits-mlp by nodes 1-2 (part 0)
and nodes 3-4 (part 1), so that no node holds the whole model. k = 2 for every part.
Everything runs from this process and is stopped by `down` (anvil by its process id).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from zkai.bench.common import Progress
from zkai.bench.played import PlayedNode, PlayedTransport
from zkai.chain.client import ChainClient, Deployment
from zkai.devservices import free_port
from zkai.errors import BenchmarkError
from zkai.localnet_state import DEMO_USER_INDEX, DEPLOYER_INDEX, FIRST_NODE_INDEX, anvil_account
from zkai.models.demo import load_demo_manifest
from zkai.models.manifest import Manifest
from zkai.registration import PartPricing, register_model
from zkai.toolchain import REPO_ROOT, require_tool
from zkai.units import ETHER

__all__ = ["PRICE", "SHARES", "BenchChain"]

CHAIN_ID = 31337
SHARES = 2
PRICE = ETHER
NODE_STAKE = 2_000 * ETHER
USER_TOKENS = 100_000 * ETHER
ANVIL_ACCOUNTS = 30


class BenchChain:
    """anvil, the contracts, the demo models and played nodes (module docstring)."""

    def __init__(self, root: Path, say: Progress, models: Sequence[str]) -> None:
        self.root = root
        self.say = say
        self.model_names = tuple(models)
        self.anvil: subprocess.Popen[bytes] | None = None
        self.rpc_url = ""
        self.model_ids: dict[str, int] = {}
        self.manifests: dict[str, Manifest] = {}
        self.nodes: list[PlayedNode] = []
        self.deployment = Deployment("local", CHAIN_ID, {})

    # -- lifecycle ------------------------------------------------------------------------------

    def up(self, node_count: int = 4) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.rpc_url = f"http://127.0.0.1:{port}"
        self.say(f"chain: anvil on {self.rpc_url}")
        log = open(self.root / "anvil.log", "wb")  # noqa: SIM115 - closed with the process
        self.anvil = subprocess.Popen(
            [
                require_tool("anvil"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--chain-id",
                str(CHAIN_ID),
                "--accounts",
                str(ANVIL_ACCOUNTS),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        probe = ChainClient(self.rpc_url, Deployment("local", CHAIN_ID, {}))
        deadline = time.monotonic() + 30
        while not probe.w3.is_connected():
            if self.anvil.poll() is not None or time.monotonic() > deadline:
                raise BenchmarkError(f"anvil did not start; see {self.root / 'anvil.log'}")
            time.sleep(0.1)
        self._deploy()
        chain = self.chain()
        deployer = anvil_account(DEPLOYER_INDEX)
        token = chain.contract("ZKAIToken")
        chain.transact(deployer, token.functions.transfer(self.user.address, USER_TOKENS))
        for name in self.model_names:
            manifest = load_demo_manifest(name)
            self.say(f"chain: registering {name} ({len(manifest.parts)} parts, k = {SHARES})")
            pricing = [PartPricing(price=PRICE, shares=SHARES) for _ in manifest.parts]
            self.model_ids[name], _ = register_model(chain, deployer, manifest, pricing)
            self.manifests[name] = manifest
        by_id = {self.model_ids[n]: m for n, m in self.manifests.items()}
        for i in range(node_count):
            node = PlayedNode(
                name=f"node-{i + 1}",
                account=anvil_account(FIRST_NODE_INDEX + i),
                manifests=by_id,
                new_chain=self.chain,
            )
            self._register(chain, deployer, node, i)
            self.nodes.append(node)

    def _deploy(self) -> None:
        self.say("chain: deploying the contracts (ape run deploy)")
        env = {
            **os.environ,
            "ZKAI_RPC_URL": self.rpc_url,
            "ZKAI_NETWORK": "local",
            "ZKAI_DEPLOYMENTS_DIR": str(self.root / "deployments"),
            "APE_FOUNDRY_HOST": self.rpc_url,
            "ZKAI_AGGREGATOR": anvil_account(DEPLOYER_INDEX).address,
        }
        ape = str(Path(sys.executable).parent / "ape")
        with open(self.root / "deploy.log", "wb") as log:
            done = subprocess.run(
                [ape, "run", "deploy", "--network", "ethereum:local:foundry"],
                env=env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=600,
                check=False,
            )
        record = self.root / "deployments" / "local.json"
        if done.returncode != 0 or not record.exists():
            tail = (self.root / "deploy.log").read_text(errors="replace")[-2000:]
            raise BenchmarkError(f"deployment failed ({done.returncode}):\n{tail}")
        self.deployment = Deployment.load(record)

    def _register(
        self, chain: ChainClient, deployer: LocalAccount, node: PlayedNode, index: int
    ) -> None:
        token = chain.contract("ZKAIToken")
        registry = chain.contract("NodeRegistry")
        chain.transact(deployer, token.functions.transfer(node.address, NODE_STAKE))
        chain.transact(node.account, token.functions.approve(registry.address, NODE_STAKE))
        chain.transact(
            node.account,
            registry.functions.register(
                node.keys.public_key, node.ack.address, node.endpoint, node.name, NODE_STAKE
            ),
        )
        for name, model_id in self.model_ids.items():
            parts = len(self.manifests[name].parts)
            hosted = [0] if parts == 1 else [(index // SHARES) % parts]
            chain.transact(node.account, registry.functions.setParts(model_id, hosted, True))

    def down(self) -> None:
        if self.anvil is not None and self.anvil.poll() is None:
            self.anvil.terminate()
            try:
                self.anvil.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.anvil.kill()
                self.anvil.wait()
        self.anvil = None

    # -- shared by the measurements -------------------------------------------------------------

    @property
    def user(self) -> LocalAccount:
        return anvil_account(DEMO_USER_INDEX)

    @property
    def deployer(self) -> LocalAccount:
        return anvil_account(DEPLOYER_INDEX)

    def chain(self) -> ChainClient:
        """A new client (web3 connections are not shared between threads)."""
        return ChainClient(self.rpc_url, self.deployment)

    def transport(self, chain: ChainClient) -> PlayedTransport:
        return PlayedTransport(chain, {n.endpoint: n for n in self.nodes})

    def node(self, address: str) -> PlayedNode:
        for n in self.nodes:
            if n.address.lower() == address.lower():
                return n
        raise BenchmarkError(f"{address} is not a played node")

    def warp(self, seconds: int) -> None:
        """Move anvil's clock forward and mine a block."""
        provider: Any = self.chain().w3.provider
        provider.make_request("evm_increaseTime", [seconds])
        provider.make_request("evm_mine", [])

    def trace(self, tx_hash: str) -> dict[str, Any]:
        """The transaction's call tree (anvil's callTracer)."""
        provider: Any = self.chain().w3.provider
        response = provider.make_request(
            "debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}]
        )
        result: dict[str, Any] = response["result"]
        return result
