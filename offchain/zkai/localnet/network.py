"""A whole ZKAI network on this machine: `zkai up`, `zkai down`, `zkai status`.

`up` starts anvil and (when none answers) a private redis-server, deploys and wires the contracts
with `ape run deploy` (the deployer owns the demo models and may post reward epochs), funds the demo
accounts, builds the demo models' circuits and registers them (development-only single-party
setup), registers and stakes k nodes, then starts each node's service, the training aggregation
worker and the API as background processes. Everything it starts is recorded in
`<data_dir>/localnet/state.json`; `down` stops exactly those processes, each with its whole
process group (so also what a process killed outright left behind: `zkai status` lists such
orphans). The accounts are anvil's public test accounts: this is for local development only, and
it refuses to run in production.

Every `up` starts a new chain (anvil keeps no state) and starts clean in every respect, so nothing
of an earlier network is ever served as this one's: the API's index (`<data_dir>/localnet/
index.db`), the deployment record, the catalogue of chain 31337, the cursors, assignment books and
rejections of the network's nodes, and what the earlier network's nodes kept in Redis (share
records, locks, nonces, task queues), which `down` deletes too. The API refuses an index recorded
for another genesis block in any case (`zkai.api.indexer`). Training rounds in a shared Redis are
not tied to a chain and are left as they are (a private Redis goes with the network).
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests
from eth_account.signers.local import LocalAccount

from zkai.chain.client import ChainClient, Deployment, deployment_path
from zkai.config import api_url_for, get_settings
from zkai.devservices import (
    free_port,
    redis_reachable,
    redis_server_binary,
    redis_server_command,
    wait_for_redis,
)
from zkai.errors import ConfigError, ZKAIError
from zkai.localnet.processes import start_background, stop_process, tail
from zkai.localnet_state import (
    DEMO_USER_INDEX,
    DEPLOYER_INDEX,
    FIRST_NODE_INDEX,
    LocalnetState,
    ProcessRecord,
    anvil_account,
    load_state,
    state_path,
)
from zkai.models.catalog import ModelCatalog
from zkai.models.demo import SHIPPED_MODELS, load_demo_manifest
from zkai.models.store import ManifestStore
from zkai.node.keys import unlock as unlock_node_keys
from zkai.node.operator import PartRef, init_node, register_node
from zkai.node.state import forget_chain
from zkai.registration import DEFAULT_MIN_PROOF_WINDOW_S, PartPricing, register_model
from zkai.toolchain import REPO_ROOT, require_tool
from zkai.units import ETHER, format_amount
from zkai.wallet import Keystore

ANVIL_CHAIN_ID = 31337
# A passphrase for the throw-away keystores of a local network's nodes (anvil test keys).
LOCAL_PASSPHRASE = "zkai-local-development-only"  # noqa: S105 - anvil test keys, no value

Say = Callable[[str], None]


@dataclass(frozen=True)
class UpOptions:
    nodes: int = 4
    shares: int = 2
    rpc_port: int = 8545
    api_port: int = 8000
    node_port: int = 9100
    worker_concurrency: int = 1
    demo_user_tokens: int = 10_000 * ETHER
    node_stake: int = 2_000 * ETHER
    price: dict[str, int] | None = None

    def price_of(self, name: str) -> int:
        """Price of one round of one part, per node."""
        default = {
            "digits": ETHER,
            "breast-cancer": ETHER // 2,
            "digits-mlp": ETHER,
            # A generation is hundreds of rounds: 0.01 ZKAI a round.
            "tiny-lm": ETHER // 100,
        }
        return (self.price or default).get(name, ETHER)

    def proof_window_of(self, name: str) -> int:
        """Each part's minimum proof window, registered with its terms: the nodes must be able to
        prove every chunk still owed after t_R. A tiny-lm generation of a full context is up to
        8 chunks of about 20 s each per node on this 2-core machine, shared by four nodes."""
        return 900 if name == "tiny-lm" else DEFAULT_MIN_PROOF_WINDOW_S

    def parts_of(self, node_index: int, parts: int) -> list[int]:
        """The parts node `node_index` (0-based) hosts of a model with `parts` parts.

        A one-part model is hosted by every node. A model in several parts is split so that no
        node hosts all of it: node i hosts part i // shares (mod the part count), so the first k
        nodes host part 0, the next k part 1, and so on.
        """
        if parts == 1:
            return [0]
        return [(node_index // self.shares) % parts]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_until(
    check: Callable[[], bool], what: str, record: ProcessRecord, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not record.running:
            raise ZKAIError(f"{what} exited; its log {record.log} ends with:\n{tail(record.log)}")
        if check():
            return
        time.sleep(0.2)
    raise ZKAIError(f"{what} did not come up within {timeout:.0f} s; see {record.log}")


def _endpoint_up(endpoint: str) -> bool:
    try:
        return bool(requests.get(f"{endpoint}/v2/health", timeout=1).status_code == 200)
    except requests.RequestException:
        return False


def _zkai_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "zkai.cli", *args]


class LocalNetwork:
    def __init__(self, data_dir: Path | None = None, say: Say | None = None) -> None:
        self.data_dir = data_dir or get_settings().data_dir
        self.root = self.data_dir / "localnet"
        self.say: Say = say or (lambda _msg: None)

    @property
    def state(self) -> LocalnetState:
        return load_state(self.data_dir)

    def status(self) -> dict[str, Any]:
        return self.state.as_status()

    # -- up -----------------------------------------------------------------------------------

    def up(self, options: UpOptions) -> dict[str, Any]:
        if get_settings().environment == "production":
            raise ConfigError("`zkai up` starts a development network; refusing in production")
        state = self.state
        if any(p.running for p in state.processes):
            self.say("a local network is already running (`zkai down` stops it)")
            return state.as_status()
        nodes = {f"node-{i + 1}" for i in range(options.nodes)} | set(state.info.get("nodes", {}))
        if state.processes or state.info:
            self.say("stopping what the previous network left behind and forgetting its state")
            self._stop_all(state)
        self._start_clean(nodes)
        state = LocalnetState(state_path(self.data_dir))
        try:
            self._up(state, options)
        except BaseException:
            self.say("start-up failed: stopping what was started")
            self._stop_all(state)
            raise
        return state.as_status()

    def _up(self, state: LocalnetState, options: UpOptions) -> None:
        logs = self.root / "logs"
        rpc = f"http://127.0.0.1:{options.rpc_port}"
        if not _port_free(options.rpc_port):
            raise ConfigError(
                f"port {options.rpc_port} is in use; stop what listens there or pass --rpc-port"
            )
        self.say(f"starting anvil on {rpc}")
        anvil = start_background(
            "anvil",
            [
                require_tool("anvil"),
                "--host",
                "127.0.0.1",
                "--port",
                str(options.rpc_port),
                "--chain-id",
                str(ANVIL_CHAIN_ID),
            ],
            logs / "anvil.log",
        )
        state.add(anvil)
        probe = ChainClient(rpc, Deployment("local", ANVIL_CHAIN_ID, {}))
        _wait_until(lambda: probe.w3.is_connected(), "anvil", anvil, 30)

        redis_url = self._redis(state, logs)
        deployments_dir = self.root / "deployments"
        env = {
            "ZKAI_RPC_URL": rpc,
            "ZKAI_REDIS_URL": redis_url,
            "ZKAI_NETWORK": "local",
            "ZKAI_DEPLOYMENTS_DIR": str(deployments_dir),
            "ZKAI_DATA_DIR": str(self.data_dir),
            "ZKAI_API_URL": api_url_for("127.0.0.1", options.api_port),
            "ZKAI_DATABASE_URL": f"sqlite:///{self.index_path}",
        }
        state.info["env"] = env
        state.endpoints.update({"rpc": rpc, "redis": redis_url})
        state.save()
        os.environ.update(env)
        get_settings.cache_clear()

        self.say("deploying contracts (ape run deploy)")
        self._deploy(env, logs)
        chain = ChainClient(rpc, Deployment.load(deployment_path("local")))
        chain.check_chain()
        state.info["chain_identity"] = chain.identity
        state.save()
        deployer = anvil_account(DEPLOYER_INDEX)
        token = chain.contract("ZKAIToken")
        user = anvil_account(DEMO_USER_INDEX)
        chain.transact(deployer, token.functions.transfer(user.address, options.demo_user_tokens))
        self.say(
            f"demo wallet {user.address} funded with {format_amount(options.demo_user_tokens)} ZKAI"
        )

        catalog = ModelCatalog(ANVIL_CHAIN_ID, self.data_dir)
        model_ids: list[int] = []
        part_counts: list[int] = []
        for name in SHIPPED_MODELS:
            manifest = load_demo_manifest(name)
            self.say(
                f"building and registering model {name}: part circuits, its users' validity "
                "circuit (circom2 + snarkjs: minutes the first time; development-only trusted "
                "setup)"
            )
            pricing = [
                PartPricing(
                    price=options.price_of(name),
                    shares=options.shares,
                    min_proof_window=options.proof_window_of(name),
                )
                for _ in manifest.parts
            ]
            model_id, _version = register_model(chain, deployer, manifest, pricing)
            catalog.add(name, model_id, f"demo:{name}")
            # The API serves it to nodes and contributors.
            ManifestStore(self.data_dir / "manifests").put(manifest)
            model_ids.append(model_id)
            part_counts.append(len(manifest.parts))
        state.info["models"] = {e.name: e.model_id for e in catalog.entries()}
        state.save()

        self._start_nodes(state, chain, deployer, options, model_ids, part_counts, env, logs)
        self.say("starting the training aggregation worker (public CKKS contexts only)")
        state.add(
            start_background(
                "aggregator",
                _zkai_command("train", "worker", "--concurrency", "1"),
                logs / "aggregator.log",
                env=env,
            )
        )
        self._start_api(state, options, env, logs)
        state.info["demo_wallet"] = user.address
        state.save()

    def _redis(self, state: LocalnetState, logs: Path) -> str:
        configured = get_settings().redis_url
        if redis_reachable(configured):
            self.say(f"using the Redis at {configured}")
            return configured
        port = free_port()
        workdir = self.root / "redis"
        workdir.mkdir(parents=True, exist_ok=True)
        self.say(f"starting redis-server on 127.0.0.1:{port}")
        record = start_background(
            "redis", redis_server_command(redis_server_binary(), port, workdir), logs / "redis.log"
        )
        state.add(record)
        url = f"redis://127.0.0.1:{port}/0"
        wait_for_redis(url)
        return url

    def _deploy(self, env: dict[str, str], logs: Path) -> None:
        ape = str(Path(sys.executable).parent / "ape")
        record = start_background(
            "deploy",
            [ape, "run", "deploy", "--network", "ethereum:local:foundry"],
            logs / "deploy.log",
            # The deployer is the demo models' owner and the reward pool's aggregator.
            env={
                **env,
                "APE_FOUNDRY_HOST": env["ZKAI_RPC_URL"],
                "ZKAI_AGGREGATOR": anvil_account(DEPLOYER_INDEX).address,
            },
            cwd=REPO_ROOT,
        )
        deadline = time.monotonic() + 300
        while record.running and time.monotonic() < deadline:
            time.sleep(0.2)
        path = deployment_path("local")
        if record.running or not path.exists():
            stop_process(record)
            raise ZKAIError(f"deployment failed; {record.log} ends with:\n{tail(record.log)}")

    def _start_nodes(
        self,
        state: LocalnetState,
        chain: ChainClient,
        deployer: LocalAccount,
        options: UpOptions,
        model_ids: list[int],
        part_counts: list[int],
        env: dict[str, str],
        logs: Path,
    ) -> None:
        keystore = Keystore(self.data_dir, scrypt_n=2**10)
        token = chain.contract("ZKAIToken")
        records = []
        for i in range(options.nodes):
            name = f"node-{i + 1}"
            key = anvil_account(FIRST_NODE_INDEX + i).key
            if not keystore.node_dir(name).exists():
                init_node(keystore, name, LOCAL_PASSPHRASE, key)
            identity = unlock_node_keys(keystore, name, LOCAL_PASSPHRASE)
            chain.transact(deployer, token.functions.transfer(identity.address, options.node_stake))
            port = options.node_port + i if _port_free(options.node_port + i) else free_port()
            endpoint = f"http://127.0.0.1:{port}"
            parts = [
                PartRef(model_id, part)
                for model_id, count in zip(model_ids, part_counts, strict=True)
                for part in options.parts_of(i, count)
            ]
            register_node(
                chain,
                identity,
                endpoint=endpoint,
                parts=parts,
                stake=options.node_stake,
                keystore=keystore,
            )
            state.info.setdefault("nodes", {})[name] = identity.address
            state.endpoints[name] = endpoint
            state.save()
            hosted = ", ".join(str(p) for p in parts)
            self.say(
                f"{name} {identity.address} registered at {endpoint} (parts {hosted}), "
                f"staked {format_amount(options.node_stake)} ZKAI; starting its service"
            )
            record = start_background(
                name,
                _zkai_command(
                    "node",
                    "run",
                    name,
                    "--concurrency",
                    str(options.worker_concurrency),
                ),
                logs / f"{name}.log",
                env={
                    **env,
                    "ZKAI_PASSPHRASE": LOCAL_PASSPHRASE,
                    "ZKAI_NODE_HOST": "127.0.0.1",
                    "ZKAI_NODE_PORT": str(port),
                },
            )
            state.add(record)
            records.append((name, endpoint, record))
        for name, endpoint, record in records:
            _wait_until(
                functools.partial(_endpoint_up, endpoint),
                f"{name}'s round endpoint",
                record,
                120,
            )

    def _start_api(
        self, state: LocalnetState, options: UpOptions, env: dict[str, str], logs: Path
    ) -> None:
        url = api_url_for("127.0.0.1", options.api_port)
        if not _port_free(options.api_port):
            raise ConfigError(
                f"port {options.api_port} is in use; stop what listens there or pass --api-port"
            )
        self.say(f"starting the API and dashboard on {url}")
        record = start_background(
            "api",
            _zkai_command("api", "--host", "127.0.0.1", "--port", str(options.api_port)),
            logs / "api.log",
            env=env,
        )
        state.add(record)

        def answers() -> bool:
            try:
                return bool(requests.get(f"{url}/api/health", timeout=1).status_code < 500)
            except requests.RequestException:
                return False

        _wait_until(answers, "the API", record, 60)
        state.endpoints["api"] = url
        state.endpoints["dashboard"] = f"{url}/"
        state.save()

    # -- down ---------------------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        """The API's index of the local network (its own, apart from `ZKAI_DATABASE_URL`'s)."""
        return self.root / "index.db"

    def _stop_all(self, state: LocalnetState) -> list[str]:
        """Stop every recorded process group, then forget the network's state in Redis."""
        stopped = []
        for record in reversed(state.processes):
            if stop_process(record):
                stopped.append(record.name)
        self._forget_redis_state(state)
        state.processes = []
        state.endpoints = {}
        state.info = {}
        state.save()
        return stopped

    def _forget_redis_state(self, state: LocalnetState) -> None:
        """What the network's nodes kept in its Redis, if that Redis still answers (a private
        one was just stopped, and took everything with it)."""
        identity = state.info.get("chain_identity")
        redis_url = state.endpoints.get("redis") or state.info.get("env", {}).get("ZKAI_REDIS_URL")
        if not identity or not redis_url or not redis_reachable(redis_url):
            return
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=10)
        try:
            forget_chain(client, identity, dict(state.info.get("nodes", {})).values())
        except redis.RedisError as exc:
            self.say(f"could not forget the network's Redis state at {redis_url}: {exc}")
        finally:
            client.close()

    def _start_clean(self, node_names: set[str]) -> None:
        """Forget every file an earlier local network left that describes its chain."""
        index = self.index_path
        for path in (
            index,
            index.with_name(index.name + "-wal"),
            index.with_name(index.name + "-shm"),
            self.root / "deployments" / "local.json",
            ModelCatalog(ANVIL_CHAIN_ID, self.data_dir).path,
        ):
            path.unlink(missing_ok=True)
        keystore = Keystore(self.data_dir)
        for name in sorted(node_names):
            for stale in sorted((keystore.node_dir(name) / "state").glob(f"{ANVIL_CHAIN_ID}-*")):
                shutil.rmtree(stale, ignore_errors=True)

    def down(self) -> list[str]:
        stopped = self._stop_all(self.state)
        return stopped
