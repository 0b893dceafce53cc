"""What a node keeps between runs, on disk and in Redis, and the names of its keys and queue.

On disk, under `<data_dir>/nodes/<name>/state/<chain id>-<genesis hash>-<market>/` (so a cursor of
a chain that was reset, or of another deployment, is never reused):

    cursor.json        the last block whose ShareAssigned events were recorded and enqueued
    assignments.json   shares assigned to this node that are not settled yet (the listener's book)
    rejected/<q>-<i>.json  shares the node refused for good (bad payload), with the reason
    heartbeat.json     the listener's last heartbeat (also in Redis, with a TTL)

The listener is the only writer of the cursor, the book and the heartbeat; workers write only
rejection records (one file each, created atomically). Redis holds only what may be lost: the
task queue, processing locks, "enqueued" markers, signed-transaction records and nonces. After a
Redis restart the listener's reconciliation re-enqueues whatever the chain still shows as open.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
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
    other's share records."""

    def __init__(self, address: str, chain: str) -> None:
        self.prefix = f"{chain_prefix(chain)}:{address.lower()}"

    def queued(self, query_id: int, share_index: int) -> str:
        return f"{self.prefix}:queued:{query_id}:{share_index}"

    def lock(self, query_id: int, share_index: int) -> str:
        return f"{self.prefix}:lock:{query_id}:{share_index}"

    def tx(self, query_id: int, share_index: int) -> str:
        return f"{self.prefix}:tx:{query_id}:{share_index}"

    @property
    def heartbeat(self) -> str:
        return f"{self.prefix}:heartbeat"


def forget_chain(client: redis.Redis, chain: str, addresses: Iterable[str]) -> int:
    """Delete what the nodes at `addresses` keep in Redis for `chain` (a network that is gone):
    their share records, locks, markers and heartbeats, their nonces, and their task queues with
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
class Assignment:
    """A share assigned to this node, as the listener recorded it."""

    query_id: int
    share_index: int
    block: int
    deadline: int

    @property
    def key(self) -> str:
        return f"{self.query_id}:{self.share_index}"


class AssignmentBook:
    """Open assignments of the node, in a JSON file replaced atomically (listener only)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Assignment]:
        data = read_json(self.path) or {}
        return {key: Assignment(**value) for key, value in data.items()}

    def save(self, assignments: dict[str, Assignment]) -> None:
        write_json_atomic(self.path, {key: a.__dict__ for key, a in assignments.items()})


@dataclass(frozen=True)
class NodeState:
    """The on-disk state of one node on one deployment (see the module docstring)."""

    root: Path

    @property
    def cursor_path(self) -> Path:
        return self.root / "cursor.json"

    @property
    def book(self) -> AssignmentBook:
        return AssignmentBook(self.root / "assignments.json")

    @property
    def heartbeat_path(self) -> Path:
        return self.root / "heartbeat.json"

    def rejection_path(self, query_id: int, share_index: int) -> Path:
        return self.root / "rejected" / f"{query_id}-{share_index}.json"

    def record_rejection(self, query_id: int, share_index: int, reason: str, detail: str) -> None:
        write_json_atomic(
            self.rejection_path(query_id, share_index),
            {
                "query_id": query_id,
                "share_index": share_index,
                "reason": reason,
                "detail": detail,
                "ts": time.time(),
            },
        )

    def rejection(self, query_id: int, share_index: int) -> dict[str, Any] | None:
        found: dict[str, Any] | None = read_json(self.rejection_path(query_id, share_index))
        return found

    @classmethod
    def for_chain(cls, node_dir: Path, chain: ChainClient) -> NodeState:
        genesis = with_retries(lambda: chain.w3.eth.get_block(0))["hash"]
        market = chain.deployment.address("QueryMarket").lower()
        tag = f"{chain.deployment.chain_id}-{bytes(genesis).hex()[:12]}-{market[2:14]}"
        return cls(node_dir / "state" / tag)
