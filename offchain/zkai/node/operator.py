"""What a node operator does besides running the service (protocol version 2).

Library functions, free of CLI concerns (the `zkai node` commands and `zkai up` call them):

- `init_node`: the operator account (Ethereum keyfile, `Keystore.create_node`) and the first
  generation of query keys (ack signer + X25519 encryption key, `zkai.node.keys`).
- `register_node`: approve the stake, `NodeRegistry.register(encryptionKey, ackSigner, endpoint,
  metadataURI, amount)`, then `setParts` for every hosted part. Idempotent: a registered node
  whose keys or endpoint differ is updated, a stake below the one asked for is topped up.
- `set_parts` (`zkai node parts add/remove`), `update_endpoint`, `rotate_keys` (a new key
  generation registered with `updateNode`; the old ones are kept for queries in flight, whose
  assignments recorded them).
- `add_stake`, `request_unstake`, `withdraw`; `node_status`.

Hosted parts are also listed in `<node dir>/parts.json` (the service warms their circuits at
start-up and reports them in /v2/health); the chain (`hostsPart`) is what the market checks.
Amounts are in token wei. A part is written MODEL:PART, MODEL a model id, PART 0-based.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.logs import DISCARD
from web3.types import TxReceipt

from zkai.chain.client import ChainClient, with_retries
from zkai.errors import InvalidInputError, KeystoreError, NodeNotRegisteredError
from zkai.node.chainview import ChainView, NodeOnChain
from zkai.node.keys import NodeKeys, UnlockedNode
from zkai.node.state import RedisKeys, queue_name, read_json, write_json_atomic
from zkai.wallet.keystore import Keystore, WalletInfo

__all__ = [
    "PartRef",
    "add_stake",
    "hosted_parts",
    "init_node",
    "node_record",
    "node_status",
    "parse_part",
    "register_node",
    "request_unstake",
    "require_registered",
    "rotate_keys",
    "set_parts",
    "update_endpoint",
    "withdraw",
]

MAX_ENDPOINT_BYTES = 256


@dataclass(frozen=True, order=True)
class PartRef:
    model_id: int
    part: int

    def __str__(self) -> str:
        return f"{self.model_id}:{self.part}"


def parse_part(text: str) -> PartRef:
    """MODEL:PART (both integers, PART 0-based) -> PartRef; `InvalidInputError` otherwise."""
    model, sep, part = text.partition(":")
    if not sep or not model.strip().isdigit() or not part.strip().isdigit():
        raise InvalidInputError(
            f"{text!r} is not MODEL:PART (a model id and a 0-based part index, e.g. 1:0)"
        )
    return PartRef(int(model), int(part))


def _parts_file(keystore: Keystore, name: str) -> Path:
    return keystore.node_dir(name) / "parts.json"


def hosted_parts(keystore: Keystore, name: str) -> list[PartRef]:
    data = read_json(_parts_file(keystore, name)) or []
    return sorted(PartRef(int(m), int(p)) for m, p in data)


def _save_parts(keystore: Keystore, name: str, parts: Iterable[PartRef]) -> None:
    write_json_atomic(
        _parts_file(keystore, name), [[p.model_id, p.part] for p in sorted(set(parts))]
    )


def init_node(
    keystore: Keystore, name: str, passphrase: str, private_key: str | bytes | None = None
) -> WalletInfo:
    """Create node `name`: operator account (new unless `private_key`) and query keys."""
    if not passphrase:
        raise KeystoreError("a node identity needs a non-empty passphrase")
    info = keystore.create_node(name, passphrase, private_key)
    NodeKeys(keystore, name).create(passphrase)
    return info


def node_record(chain: ChainClient, address: str) -> NodeOnChain:
    return ChainView(chain).node(address)


def require_registered(chain: ChainClient, address: str, name: str) -> NodeOnChain:
    record = node_record(chain, address)
    if not record.registered:
        raise NodeNotRegisteredError(
            f"node {name!r} ({address}) is not registered on this chain; run `zkai node "
            f"register {name} --stake <ZKAI> --endpoint <URL> --part <MODEL:PART>`"
        )
    return record


def _approve(chain: ChainClient, account: LocalAccount, spender: str, amount: int) -> None:
    token = chain.contract("ZKAIToken")
    allowance = int(chain.call(token.functions.allowance(account.address, spender)))
    if allowance < amount:
        chain.transact(account, token.functions.approve(spender, amount))


def _check_endpoint(endpoint: str) -> None:
    if not endpoint or len(endpoint.encode()) > MAX_ENDPOINT_BYTES:
        raise InvalidInputError(
            f"the endpoint must be a URL of 1..{MAX_ENDPOINT_BYTES} bytes, e.g. https://node:8710"
        )
    if not endpoint.startswith(("http://", "https://")):
        raise InvalidInputError(f"the endpoint {endpoint!r} must start with http:// or https://")


def _metadata(name: str) -> str:
    return "zkai-node:" + json.dumps({"name": name}, separators=(",", ":"))


def register_node(
    chain: ChainClient,
    node: UnlockedNode,
    *,
    stake: int,
    endpoint: str,
    parts: Sequence[PartRef] = (),
    keystore: Keystore | None = None,
) -> NodeOnChain:
    """Register (or update) the node with its current keys and endpoint, stake up to `stake`,
    and host `parts` (module docstring)."""
    _check_endpoint(endpoint)
    registry = chain.contract("NodeRegistry")
    account = node.operator
    keys = node.current
    record = node_record(chain, node.address)
    if not record.registered:
        if stake:
            _approve(chain, account, registry.address, stake)
        chain.transact(
            account,
            registry.functions.register(
                keys.encryption_key, keys.ack_signer, endpoint, _metadata(node.name), stake
            ),
        )
    else:
        if (
            record.encryption_key != keys.encryption_key
            or record.ack_signer.lower() != keys.ack_signer.lower()
            or record.endpoint != endpoint
        ):
            chain.transact(
                account,
                registry.functions.updateNode(
                    keys.encryption_key, keys.ack_signer, endpoint, record.metadata_uri
                ),
            )
        if stake > record.stake and not record.unlock_time:
            add_stake(chain, account, stake - record.stake)
    if parts:
        set_parts(chain, node, parts, hosted=True, keystore=keystore)
    return node_record(chain, node.address)


def set_parts(
    chain: ChainClient,
    node: UnlockedNode,
    parts: Sequence[PartRef],
    *,
    hosted: bool,
    keystore: Keystore | None = None,
) -> list[PartRef]:
    """Host (or stop hosting) `parts`: one `setParts` per model; returns the local list."""
    require_registered(chain, node.address, node.name)
    registry = chain.contract("NodeRegistry")
    by_model: dict[int, list[int]] = {}
    for ref in parts:
        by_model.setdefault(ref.model_id, []).append(ref.part)
    for model_id, indices in sorted(by_model.items()):
        chain.transact(
            node.operator, registry.functions.setParts(model_id, sorted(set(indices)), hosted)
        )
    if keystore is None:
        return list(parts)
    current = set(hosted_parts(keystore, node.name))
    current = current | set(parts) if hosted else current - set(parts)
    _save_parts(keystore, node.name, current)
    return sorted(current)


def update_endpoint(chain: ChainClient, node: UnlockedNode, endpoint: str) -> NodeOnChain:
    _check_endpoint(endpoint)
    record = require_registered(chain, node.address, node.name)
    chain.transact(
        node.operator,
        chain.contract("NodeRegistry").functions.updateNode(
            record.encryption_key, record.ack_signer, endpoint, record.metadata_uri
        ),
    )
    return node_record(chain, node.address)


def rotate_keys(
    chain: ChainClient, keystore: Keystore, name: str, passphrase: str
) -> dict[str, Any]:
    """A new key generation, registered with `updateNode`; returns its public parts."""
    node = NodeKeys(keystore, name).unlock(passphrase)
    record = require_registered(chain, node.address, name)
    public = NodeKeys(keystore, name).create(passphrase)
    chain.transact(
        node.operator,
        chain.contract("NodeRegistry").functions.updateNode(
            bytes.fromhex(public["encryption_key"].removeprefix("0x")),
            public["ack_signer"],
            record.endpoint,
            record.metadata_uri,
        ),
    )
    return public


def add_stake(chain: ChainClient, account: LocalAccount, amount: int) -> TxReceipt:
    registry = chain.contract("NodeRegistry")
    _approve(chain, account, registry.address, amount)
    return chain.transact(account, registry.functions.stake(amount))


def request_unstake(chain: ChainClient, account: LocalAccount) -> int:
    """Start unbonding the whole stake; returns when it can be withdrawn (unix time)."""
    registry = chain.contract("NodeRegistry")
    chain.transact(account, registry.functions.requestUnstake())
    return node_record(chain, account.address).unlock_time


def withdraw(chain: ChainClient, account: LocalAccount) -> int:
    registry = chain.contract("NodeRegistry")
    receipt = chain.transact(account, registry.functions.withdraw())
    logs = registry.events.Withdrawn().process_receipt(receipt, errors=DISCARD)
    return int(logs[0]["args"]["amount"]) if logs else 0


def _redis_facts(redis_url: str, address: str, chain: str) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
    try:
        heartbeat = client.get(RedisKeys(address, chain).heartbeat)
        return {
            "redis": "ok",
            "queue_length": int(client.llen(queue_name(address))),  # type: ignore[arg-type]
            "heartbeat_in_redis": heartbeat is not None,
        }
    except redis.RedisError as exc:
        return {"redis": f"unreachable: {exc}"}
    finally:
        client.close()


def node_status(
    chain: ChainClient,
    address: str,
    *,
    node_name: str,
    keystore: Keystore,
    heartbeat_path: Path | None = None,
    redis_url: str | None = None,
) -> dict[str, Any]:
    """Everything `zkai node status` shows, as one JSON-ready dict (no secrets)."""
    view = ChainView(chain)
    record = view.node(address)
    registry = chain.contract("NodeRegistry")
    token = chain.contract("ZKAIToken")
    parts = hosted_parts(keystore, node_name)
    status: dict[str, Any] = {
        "name": node_name,
        "address": record.address,
        "registered": record.registered,
        "endpoint": record.endpoint,
        "stake": record.stake,
        "min_stake": int(chain.call(registry.functions.minStake())),
        "unbonding": bool(record.unlock_time),
        "unlock_time": record.unlock_time,
        "eligible": bool(chain.call(registry.functions.isEligible(record.address))),
        "ack_signer": record.ack_signer,
        "encryption_key": "0x" + record.encryption_key.hex(),
        "key_generations": len(NodeKeys(keystore, node_name).paths()),
        "parts": [str(p) for p in parts],
        "parts_on_chain": [
            str(p) for p in parts if record.registered and view.hosts_part(address, *astuple(p))
        ],
        "token_balance": int(chain.call(token.functions.balanceOf(record.address))),
        "eth_balance": int(
            with_retries(lambda: chain.w3.eth.get_balance(to_checksum_address(record.address)))
        ),
    }
    heartbeat = None if heartbeat_path is None else read_json(heartbeat_path)
    if heartbeat is not None:
        age = time.time() - float(heartbeat["ts"])
        status["service"] = {**heartbeat, "age_s": round(age, 1)}
        status["listener_alive"] = age < max(10.0, 3 * float(heartbeat.get("interval_s", 1)))
        status["worker_alive"] = bool(heartbeat.get("worker_alive")) and status["listener_alive"]
    else:
        status["listener_alive"] = status["worker_alive"] = False
    if redis_url is not None:
        status.update(_redis_facts(redis_url, record.address, chain.identity))
    status["running"] = bool(status["listener_alive"] and status["worker_alive"])
    if not record.registered:
        status["hint"] = f"not registered: run `zkai node register {node_name} ...`"
    return status


def astuple(ref: PartRef) -> tuple[int, int]:
    return ref.model_id, ref.part
