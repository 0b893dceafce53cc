"""The service's scheduler: which claims are due, enqueued once, re-enqueued when lost.

Every `step()` reads the node's own round store (not the chain's events: what the node owes is
what it acknowledged) and the chain time:

- an open assignment with a claim due (`zkai.node.claims.is_due`: a full chunk of R_max rounds
  served past the rounds claimed so far, or rounds served and its budget reached or its round
  deadline passed) is enqueued as a `claim_assignment` task, once per chunk: a Redis marker per
  (assignment, rounds claimed so far), expiring after `node_requeue_after_s`, stops a second
  enqueue while the first is pending, and when it expires the claim is enqueued again (the task
  is idempotent, a duplicate finds it claimed or locked); once a chunk is claimed, the next one
  has a marker of its own and is enqueued as soon as it is due;
- an assignment that served no round by its round deadline is closed (nothing to claim);
- when the worker was lost (`on_worker_lost`), the markers are dropped and every due claim is
  enqueued again at once, without waiting for the broker's visibility timeout;
- a heartbeat (file + Redis key with a TTL) tells `zkai node status` that the service runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery

from zkai.config import Settings
from zkai.node.celery_app import CLAIM_TASK
from zkai.node.claims import is_due
from zkai.node.logs import log_event
from zkai.node.runtime import NodeRuntime
from zkai.node.state import NodeState, RedisKeys, queue_name, write_json_atomic
from zkai.node.store import CLAIMING, EXPIRED, OPEN

__all__ = ["ClaimScheduler"]

log = logging.getLogger("zkai.node.listener")


class ClaimScheduler:
    def __init__(
        self,
        runtime: NodeRuntime,
        settings: Settings,
        app: Celery,
        redis_client: redis.Redis,
        state: NodeState,
        worker_status: Callable[[], dict[str, Any]],
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.app = app
        self.redis = redis_client
        self.state = state
        self.worker_status = worker_status
        self.address = runtime.node.address
        self.keys = RedisKeys(self.address, runtime.chain.identity)
        self.queue = queue_name(self.address)
        self._last_heartbeat = 0.0

    def _log(self, event: str, **fields: Any) -> None:
        level = fields.pop("level", logging.INFO)
        log_event(log, event, level=level, node=self.address, **fields)

    def step(self) -> int:
        """One pass; returns how many claims were enqueued."""
        store = self.runtime.store
        now = self.runtime.view.block_time()
        enqueued = 0
        for a in store.assignments((OPEN, CLAIMING)):
            served = len(store.rounds(a.query, a.part, a.node))
            if served == 0 and now >= a.round_deadline:
                store.set_state(a.query, a.part, a.node, EXPIRED, detail="no round served")
                continue
            if is_due(a, served, now) and self.enqueue(
                a.query, a.part, why="due", start=a.claimed_rounds
            ):
                enqueued += 1
        self.heartbeat()
        return enqueued

    def enqueue(self, query: bytes, part: int, *, why: str, start: int = 0) -> bool:
        """Enqueue the claim of (query, part) after `start` claimed rounds, unless enqueued."""
        marker = self.keys.queued(query, part, start)
        ttl_ms = max(1, int(self.settings.node_requeue_after_s * 1000))
        if not self.redis.set(marker, str(time.time()), nx=True, px=ttl_ms):
            return False
        self.app.send_task(CLAIM_TASK, args=["0x" + query.hex(), part], queue=self.queue)
        self._log("claim.enqueued", query="0x" + query.hex(), part=part, start=start, why=why)
        return True

    def on_worker_lost(self) -> None:
        """The worker died: forget the markers, so every due claim is enqueued again now."""
        for a in self.runtime.store.assignments((OPEN, CLAIMING)):
            with contextlib.suppress(redis.RedisError):
                self.redis.delete(self.keys.queued(a.query, a.part, a.claimed_rounds))
        self._log("scheduler.worker_lost")

    def heartbeat(self) -> None:
        if time.monotonic() - self._last_heartbeat < 1.0:
            return
        self._last_heartbeat = time.monotonic()
        beat = {
            "ts": time.time(),
            "interval_s": self.settings.node_poll_interval_s,
            "open_assignments": len(self.runtime.store.assignments((OPEN, CLAIMING))),
            **self.worker_status(),
        }
        write_json_atomic(self.state.heartbeat_path, beat)
        with contextlib.suppress(redis.RedisError):
            self.redis.set(self.keys.heartbeat, json.dumps(beat), ex=30)
