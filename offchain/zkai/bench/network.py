"""The local network the end-to-end sections measure on: `zkai up`'s LocalNetwork (anvil, a
private Redis, the contracts, four node services, k = 2 per part, the API) in a temporary data
folder on free ports, with the helpers those sections share (a chain client, a verified private
query through `QueryClient.run`, funded accounts, node logs)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zkai.bench.common import JSONDict, Progress
from zkai.errors import ZKAIError
from zkai.models.manifest import Manifest
from zkai.units import ETHER

__all__ = ["FIRST_USER_INDEX", "NetworkBench", "NetworkInfo"]

# Throughput users take anvil's accounts from this index on, past the deployer, the demo user
# and the four nodes.
FIRST_USER_INDEX = 6
NODES, SHARES = 4, 2


class NetworkBench:
    """A LocalNetwork in a temporary data folder, and what the measurements on it share."""

    def __init__(self, data_dir: Path, artifacts_root: Path, say: Progress) -> None:
        from zkai.localnet.network import LocalNetwork

        self.data_dir = data_dir
        self.artifacts_root = artifacts_root
        self.say = say
        self.network = LocalNetwork(data_dir, say=lambda m: say(f"localnet: {m}"))
        self.saved_env: dict[str, str | None] = {}
        self.started = False

    # -- lifecycle ------------------------------------------------------------------------------

    def _set_env(self, values: dict[str, str]) -> None:
        from zkai.config import get_settings

        for key, value in values.items():
            self.saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        get_settings.cache_clear()

    def up(self) -> JSONDict:
        from zkai.devservices import free_port
        from zkai.localnet.network import UpOptions

        # A private Redis (the URL below answers nothing, so the network starts its own) and the
        # bench's artifacts root, shared with the nodes.
        for key in ("ZKAI_RPC_URL", "ZKAI_NETWORK", "ZKAI_DEPLOYMENTS_DIR"):
            self.saved_env.setdefault(key, os.environ.get(key))
        self._set_env(
            {
                "ZKAI_DATA_DIR": str(self.data_dir),
                "ZKAI_ARTIFACTS_DIR": str(self.artifacts_root),
                "ZKAI_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            }
        )
        self.options = UpOptions(
            nodes=NODES,
            shares=SHARES,
            rpc_port=free_port(),
            api_port=free_port(),
            node_port=free_port(),
        )
        started = time.perf_counter()
        self.started = True
        status = self.network.up(self.options)
        self.up_s = time.perf_counter() - started
        self.status = status
        self.rpc_url = str(status["endpoints"]["rpc"])
        return status

    def down(self) -> None:
        from zkai.config import get_settings

        if self.started:
            with contextlib.suppress(Exception):
                self.say("localnet: stopping")
            self.network.down()
            self.started = False
        for key, value in self.saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()

    # -- shared by the measurements ---------------------------------------------------------------

    def chain(self) -> Any:
        from zkai.chain.client import ChainClient, Deployment, deployment_path

        return ChainClient(self.rpc_url, Deployment.load(deployment_path("local")))

    def model(self, name: str) -> tuple[int, Manifest]:
        from zkai.localnet.network import ANVIL_CHAIN_ID
        from zkai.models.catalog import ModelCatalog

        entry = ModelCatalog(ANVIL_CHAIN_ID, self.data_dir).get(name)
        return entry.model_id, entry.manifest()

    def node_logs(self) -> dict[str, Path]:
        return {
            p.name: Path(p.log) for p in self.network.state.processes if p.name.startswith("node-")
        }

    def query_once(self, chain: Any, account: Any, name: str, x: Sequence[float]) -> Any:
        """One private query through `QueryClient.run`, answered, every proof accepted, and
        checked against the plaintext model."""
        from zkai.client.query import QueryClient

        model_id, manifest = self.model(name)
        outcome = QueryClient(chain, account).run(name, manifest, model_id, x)
        if not outcome.verified:
            raise ZKAIError(f"a {name} query's proofs were not all accepted before the deadline")
        expected = list(manifest.evaluate(manifest.quantise_input(x)).outputs)
        if outcome.outputs != expected:
            raise ZKAIError(f"a {name} query answered {outcome.outputs}, plaintext {expected}")
        return outcome

    def fund_users(self, chain: Any, users: int) -> list[Any]:
        """`users` anvil accounts from FIRST_USER_INDEX on, with tokens (and ether if low)."""
        from zkai.localnet_state import DEPLOYER_INDEX, anvil_account

        deployer = anvil_account(DEPLOYER_INDEX)
        token = chain.contract("ZKAIToken")
        accounts = [anvil_account(FIRST_USER_INDEX + i) for i in range(users)]
        for account in accounts:
            chain.transact(deployer, token.functions.transfer(account.address, 1_000 * ETHER))
            if chain.w3.eth.get_balance(account.address) < ETHER:
                self.send_eth(chain, deployer, account.address, 100 * ETHER)
        return accounts

    @staticmethod
    def send_eth(chain: Any, sender: Any, to: str, value: int) -> None:
        tx = {
            "to": to,
            "value": value,
            "gas": 21_000,
            "nonce": chain.w3.eth.get_transaction_count(sender.address, "pending"),
            "chainId": chain.deployment.chain_id,
            "maxFeePerGas": 2 * chain.w3.eth.gas_price + 1,
            "maxPriorityFeePerGas": 1,
        }
        signed = sender.sign_transaction(tx)
        tx_hash = chain.w3.eth.send_raw_transaction(signed.raw_transaction)
        chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)


@dataclass(frozen=True)
class NetworkInfo:
    """How long the local network took to start, and its RPC endpoint."""

    up_s: float
    rpc: str

    @classmethod
    def of(cls, net: NetworkBench) -> NetworkInfo:
        return cls(up_s=round(net.up_s, 1), rpc=net.rpc_url)

    def to_json(self) -> JSONDict:
        return asdict(self)
