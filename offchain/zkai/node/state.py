"""What a node keeps between runs, on disk and in Redis, and the names of its keys and queue.

On disk, under `<data_dir>/nodes/<name>/state/<chain id>-<genesis hash>-<market>/` (so state of
a chain that was reset, or of another deployment, is never reused):

    rounds.sqlite3   the durable round store (`zkai.node.store`): only the node writes it
    heartbeat.json   the service's last heartbeat (also in Redis, with a TTL)

Redis holds only what may be lost: the claim task queue, claim locks, "enqueued" markers and
nonces. After a Redis restart the scheduler re-enqueues every due claim from the store.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis

from zkai.chain.client import ChainClient, with_retries
from zkai.node.nonce import NONCE_PREFIX

UNACKED_KEY, UNACKED_INDEX_KEY = "unacked", "unacked_index"
"""Where the Redis transport (kombu) keeps delivered, unacknowledged messages."""


def queue_name(address: str) -> str:
    """The Celery queue of one node: `zkai.node.<address lower>`."""
    return f"zkai.node.{address.lower()}"


def worker_name(node_name: str) -> str:
    """The Celery worker node name prefix of a node (`celery -n zkai-<name>@%h`)."""
    return f"zkai-{node_name}"


def chain_prefix(chain: str) -> str:
    """The prefix of every node's keys on one chain (`ChainClient.identity`)."""
    return f"zkai:node:{chain}"


class RedisKeys:
    """Redis key names of one node on one chain (`ChainClient.identity`): nodes, and networks
    reusing the same accounts (local anvils do), can share a database without reading each
    other's claim records."""

    def __init__(self, address: str, chain: str) -> None:
        self.prefix = f"{chain_prefix(chain)}:{address.lower()}"

    def queued(self, query: bytes, part: int, start: int = 0) -> str:
        """Set while a claim task for (query, part), after `start` rounds claimed (its chunk), is
        enqueued (expires: requeue after)."""
        return f"{self.prefix}:queued:{query.hex()}:{part}:{start}"

    @property
    def heartbeat(self) -> str:
        return f"{self.prefix}:heartbeat"


def forget_chain(client: redis.Redis, chain: str, addresses: Iterable[str]) -> int:
    """Delete what the nodes at `addresses` keep in Redis for `chain` (a network that is gone):
    their claim markers, locks and heartbeats, their nonces, and their task queues with
    the tasks delivered from them but never acknowledged. Returns the keys deleted. Only for a
    network whose nodes no longer run: the queues are per node address, not per chain."""
    patterns = [f"{chain_prefix(chain)}:*", f"{NONCE_PREFIX}:{chain}:*"]
    queues = {queue_name(address) for address in addresses}
    # The Redis transport keeps a queue's priority levels as lists named after it.
    patterns += [f"{queue}*" for queue in queues]
    deleted = 0
    for pattern in patterns:
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            deleted += int(client.delete(*keys))  # type: ignore[arg-type]
    unacked = cast(dict[bytes, bytes], client.hgetall(UNACKED_KEY))
    for tag, raw in unacked.items():
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key in queues:
            client.hdel(UNACKED_KEY, tag)  # type: ignore[arg-type]
            client.zrem(UNACKED_INDEX_KEY, tag)  # type: ignore[arg-type]
            deleted += 1
    return deleted


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class NodeState:
    """The on-disk state of one node on one deployment (see the module docstring)."""

    root: Path

    @property
    def heartbeat_path(self) -> Path:
        return self.root / "heartbeat.json"

    @classmethod
    def for_chain(cls, node_dir: Path, chain: ChainClient) -> NodeState:
        genesis = with_retries(lambda: chain.w3.eth.get_block(0))["hash"]
        market = chain.deployment.address("QueryMarket").lower()
        tag = f"{chain.deployment.chain_id}-{bytes(genesis).hex()[:12]}-{market[2:14]}"
        return cls(node_dir / "state" / tag)
