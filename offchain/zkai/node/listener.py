"""The chain listener: turns `ShareAssigned` events for this node into Celery tasks.

Each `step()`:

1. **Scan.** Read `ShareAssigned(node=<this node>)` logs from the block after the persisted cursor
   up to the chain head, in ranges of at most `ZKAI_NODE_MAX_BLOCK_RANGE` blocks. For each range:
   record the assignments in the book (a file), enqueue one `process_share(query_id, share_index)`
   task per share, and only then move the cursor past the range. A crash or an unavailable RPC or
   Redis before the cursor moves means the range is read again: an event is never skipped. Reading
   it twice enqueues nothing twice (an "enqueued" marker in Redis, SET NX with a TTL), and even a
   second task is harmless: tasks are idempotent and locked per share, and the chain accepts one
   result per share. So an event is never *processed* twice.
2. **New model versions.** In the same ranges, `ModelVersionPublished` events of models in the
   node's on-chain metadata are logged (`node.model_version_published`) and, if the version is
   still the model's current one and was not loaded at start-up, its circuit is warmed: a
   background process resolves its manifest, builds or loads its circuit keys and checks them
   against the chain (`zkai.node.served.load_version`; `node.model_version_ready`, or
   `node.model_version_warm_failed` with the reason). So the first share on a new version does
   not pay for the setup. One warm-up runs at a time, in its own process (a circuit build
   redirects its process's stdout/stderr, and must not stall the listener); a failure is only
   logged: the worker loads any version on demand when its first share arrives
   (`zkai.node.tasks`), so nothing depends on the warm-up. Superseded versions are not warmed.
3. **Reconcile** (every `ZKAI_NODE_RECONCILE_INTERVAL_S`, and at once after the worker died).
   The chain is the source of truth: for each open assignment in the book, read the share's
   on-chain status. Paid and missed shares, and pending ones past their deadline, leave the book.
   A pending share that is not rejected is enqueued again unless a live process holds its lock
   or it was enqueued within `ZKAI_NODE_REQUEUE_AFTER_S`; a lock whose holder is gone (a worker
   process of this machine that no longer runs, `zkai.node.locks.holder_gone`) does not count:
   it is released and the share enqueued at once, whatever its "enqueued" marker says (the task
   died with its holder). This recovers tasks a Redis restart lost (Redis here keeps nothing on
   disk), tasks of a worker that was killed outright (`on_worker_lost`, called by the service
   when its worker exits, forgets every "enqueued" marker first), and shares on a model version
   the node could not serve yet (its manifest was missing, say): they are served once the cause
   is fixed, without a restart.
4. **Claim** (every `ZKAI_NODE_CLAIM_INTERVAL_S`). Proven shares are the node's credit; they are
   claimed in one `claimPayouts` transaction, with a nonce from the node's shared nonce manager.
5. **Heartbeat.** Time, cursor, head, open assignments and worker liveness go to
   `heartbeat.json` and to Redis (with a TTL), for `zkai node status`.

Assignments are served regardless of the node's eligibility: a node that asked to unstake after a
share was assigned must still submit it (the market accepts it; a miss is slashed from the
unbonding stake).

Failures of the RPC or Redis never stop the listener: `step` logs them and the caller backs off.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Mapping
from multiprocessing.process import BaseProcess
from typing import Any

import kombu.exceptions
import redis
from celery import Celery
from eth_account.signers.local import LocalAccount

from zkai.chain.client import ChainClient, Deployment, with_retries
from zkai.config import Settings
from zkai.errors import ChainError
from zkai.node.celery_app import PROCESS_SHARE_TASK
from zkai.node.cursor import BlockCursor
from zkai.node.locks import release_if_gone
from zkai.node.logs import configure_logging, log_event
from zkai.node.nonce import NonceManager
from zkai.node.operator import (
    SHARE_MISSED,
    SHARE_PAID,
    SHARE_SUBMITTED,
    claim_payouts,
    node_record,
)
from zkai.node.served import ServedModel, load_version
from zkai.node.state import Assignment, NodeState, RedisKeys, queue_name, write_json_atomic

log = logging.getLogger("zkai.node.listener")

SERVICE_ERRORS: tuple[type[BaseException], ...] = (
    ChainError,
    redis.RedisError,
    kombu.exceptions.OperationalError,
    ConnectionError,
    TimeoutError,
)


class Listener:
    def __init__(
        self,
        *,
        chain: ChainClient,
        account: LocalAccount,
        state: NodeState,
        settings: Settings,
        app: Celery,
        redis_client: redis.Redis,
        worker_status: Callable[[], dict[str, Any]] | None = None,
        served: Mapping[str, ServedModel] | None = None,
    ) -> None:
        self.chain = chain
        self.account = account
        self.address = str(account.address)
        self.state = state
        self.settings = settings
        self.app = app
        self.redis = redis_client
        self.keys = RedisKeys(self.address, self.chain.identity)
        self.queue = queue_name(self.address)
        self.cursor = BlockCursor(state.cursor_path, chain.deployment.start_block)
        self.book = state.book
        self.nonces = NonceManager(
            redis_client,
            self.address,
            lambda: with_retries(
                lambda: self.chain.w3.eth.get_transaction_count(account.address, "pending")
            ),
            chain.identity,
        )
        self.worker_status = worker_status or (lambda: {})
        self.served = served if served is not None else {}
        """Versions loaded at start-up, by verifier (lower case): not warmed again."""
        self._warm_pending: deque[tuple[int, int]] = deque()
        self._warm_seen: set[tuple[int, int]] = set()
        self._warm_running: tuple[int, int, BaseProcess] | None = None
        self._last_reconcile = 0.0
        self._last_claim = 0.0
        self._head = -1
        self.healthy = True

    def _log(self, event: str, **fields: Any) -> None:
        level = fields.pop("level", logging.INFO)
        log_event(log, event, level=level, node=self.address, **fields)

    # -- one iteration ---------------------------------------------------------------------

    def step(self) -> bool:
        """Scan, reconcile, claim and beat once. False if the RPC or Redis failed (back off)."""
        try:
            self.scan()
            now = time.monotonic()
            if now - self._last_reconcile >= self.settings.node_reconcile_interval_s:
                self.reconcile()
                self._last_reconcile = now
            if now - self._last_claim >= self.settings.node_claim_interval_s:
                self.claim()
                self._last_claim = now
            ok = True
        except SERVICE_ERRORS as exc:
            self._log(
                "listener.unavailable",
                level=logging.WARNING,
                error=f"{type(exc).__name__}: {exc}",
            )
            ok = False
        if ok != self.healthy:
            self._log("listener.recovered" if ok else "listener.degraded")
            self.healthy = ok
        self.pump_warmups()
        self.heartbeat()
        return ok

    def scan(self) -> int:
        """Enqueue the shares assigned in new blocks; returns how many were new."""
        head = int(with_retries(lambda: self.chain.w3.eth.block_number, attempts=2))
        self._head = head
        last = self.cursor.load()
        if last > head:
            self._log("listener.behind_cursor", cursor=last, head=head, level=logging.WARNING)
            return 0
        found = 0
        while last < head:
            start, end = last + 1, min(head, last + self.settings.node_max_block_range)
            logs = list(
                self.chain.events(
                    "QueryMarket", "ShareAssigned", start, end, {"node": self.address}
                )
            )
            book = self.book.load()
            new = []
            for event in logs:
                args = event["args"]
                query_id, index = int(args["queryId"]), int(args["shareIndex"])
                query = self.chain.call(
                    self.chain.contract("QueryMarket").functions.getQuery(query_id)
                )
                assignment = Assignment(query_id, index, int(event["blockNumber"]), int(query[1]))
                if assignment.key not in book:
                    book[assignment.key] = assignment
                new.append(assignment)
            if new:
                self.book.save(book)
            for assignment in new:
                self.enqueue(assignment, why="assigned")
            self.watch_versions(start, end)
            self.cursor.save(end)
            found += len(new)
            last = end
        return found

    # -- new model versions ----------------------------------------------------------------

    def watch_versions(self, start: int, end: int) -> None:
        """Log the new versions of served models in blocks [start, end] and queue their warm-up.

        Never raises: the warm-up is an optimisation (workers load versions on demand).
        """
        try:
            events = list(self.chain.events("ModelRegistry", "ModelVersionPublished", start, end))
            if not events:
                return
            served_models = set(node_record(self.chain, self.address).models)
            registry = self.chain.contract("ModelRegistry")
            for event in events:
                args = event["args"]
                model_id, version = int(args["modelId"]), int(args["version"])
                verifier = str(args["verifier"])
                if model_id not in served_models or verifier.lower() in self.served:
                    continue  # not ours, or loaded at start-up
                latest = int(self.chain.call(registry.functions.getModel(model_id))[1])
                if version < latest:
                    continue  # superseded: its in-flight queries load it on demand
                self._log(
                    "node.model_version_published",
                    model_id=model_id,
                    version=version,
                    verifier=verifier,
                    block=int(event["blockNumber"]),
                    commitment="0x" + bytes(args["weightsCommitment"]).hex(),
                )
                if (model_id, version) not in self._warm_seen:
                    self._warm_seen.add((model_id, version))
                    self._warm_pending.append((model_id, version))
        except Exception as exc:  # never let the warm-up break the scan
            self._log(
                "listener.version_watch_failed",
                level=logging.WARNING,
                error=f"{type(exc).__name__}: {exc}",
                from_block=start,
                to_block=end,
            )
        self.pump_warmups()

    def pump_warmups(self) -> None:
        """Reap a finished warm-up process and start the next one (never blocks)."""
        try:
            if self._warm_running is not None:
                model_id, version, process = self._warm_running
                if process.is_alive():
                    return
                process.join(0)
                if process.exitcode != 0:
                    self._log(
                        "node.model_version_warm_exited",
                        level=logging.WARNING,
                        model_id=model_id,
                        version=version,
                        exitcode=process.exitcode,
                    )
                self._warm_running = None
            if not self._warm_pending:
                return
            model_id, version = self._warm_pending.popleft()
            process = multiprocessing.get_context("spawn").Process(
                target=warm_version,
                args=(
                    self.settings,
                    self.chain.rpc_url,
                    self.chain.deployment,
                    self.address,
                    model_id,
                    version,
                ),
                name=f"zkai-warm-{model_id}-{version}",
                daemon=True,
            )
            process.start()
            self._warm_running = (model_id, version, process)
            self._log(
                "node.model_version_warming", model_id=model_id, version=version, pid=process.pid
            )
        except Exception as exc:
            self._log(
                "listener.warm_failed", level=logging.WARNING, error=f"{type(exc).__name__}: {exc}"
            )

    def stop_warmups(self) -> None:
        """Stop a running warm-up (at shutdown)."""
        if self._warm_running is not None:
            process = self._warm_running[2]
            if process.is_alive():
                process.terminate()
            process.join(5)
            self._warm_running = None

    def enqueue(self, assignment: Assignment, *, why: str, force: bool = False) -> bool:
        """Send the share's task unless one was sent recently (`force`: even then, the earlier
        one is known lost); True if sent."""
        marker = self.keys.queued(assignment.query_id, assignment.share_index)
        ttl = max(1, int(self.settings.node_requeue_after_s))
        if force:
            self.redis.delete(marker)
        if not self.redis.set(marker, str(time.time()), nx=True, ex=ttl):
            return False
        try:
            self.app.send_task(
                PROCESS_SHARE_TASK,
                args=[assignment.query_id, assignment.share_index],
                kwargs={"block_hint": assignment.block, "enqueued_at": time.time()},
                queue=self.queue,
            )
        except BaseException:
            with contextlib.suppress(redis.RedisError):
                self.redis.delete(marker)
            raise
        self._log(
            "share.enqueued",
            query_id=assignment.query_id,
            share_index=assignment.share_index,
            block=assignment.block,
            why=why,
        )
        return True

    def reconcile(self) -> None:
        """Re-check open assignments on-chain; drop finished ones, re-enqueue lost ones."""
        book = self.book.load()
        if not book:
            return
        market = self.chain.contract("QueryMarket")
        chain_time = int(with_retries(lambda: self.chain.w3.eth.get_block("latest"))["timestamp"])
        changed = False
        for key, assignment in list(book.items()):
            _node, status, _c = self.chain.call(
                market.functions.getShare(assignment.query_id, assignment.share_index)
            )
            status = int(status)
            if status in (SHARE_PAID, SHARE_MISSED):
                del book[key]
                changed = True
            elif status == SHARE_SUBMITTED:
                continue
            elif chain_time > assignment.deadline:
                rejected = self.state.rejection(assignment.query_id, assignment.share_index)
                self._log(
                    "share.expired",
                    query_id=assignment.query_id,
                    share_index=assignment.share_index,
                    reason=None if rejected is None else rejected["reason"],
                    level=logging.INFO if rejected else logging.WARNING,
                )
                del book[key]
                changed = True
            elif self.state.rejection(assignment.query_id, assignment.share_index) is None:
                self._recover(assignment)
        if changed:
            self.book.save(book)

    def _recover(self, assignment: Assignment) -> None:
        """Enqueue a pending share again unless a live process works on it (its lock)."""
        lock = self.keys.lock(assignment.query_id, assignment.share_index)
        if not self.redis.exists(lock):
            self.enqueue(assignment, why="reconcile")
        elif release_if_gone(self.redis, lock):
            self.enqueue(assignment, why="holder_gone", force=True)

    def on_worker_lost(self) -> None:
        """The worker exited: the tasks it had taken are lost with it (until the broker's
        visibility timeout), so forget every "enqueued" marker and reconcile at the next step."""
        try:
            for assignment in self.book.load().values():
                self.redis.delete(self.keys.queued(assignment.query_id, assignment.share_index))
        except (redis.RedisError, OSError) as exc:
            self._log("listener.forget_failed", level=logging.WARNING, error=str(exc))
        self._last_reconcile = float("-inf")
        self._log("listener.worker_lost")

    def claim(self) -> None:
        """Claim the payouts of every proven, unpaid share in the book (one transaction)."""
        book = self.book.load()
        candidates = sorted((a.query_id, a.share_index) for a in book.values())
        if not candidates:
            return
        reserved: list[int] = []

        def nonce() -> int:
            reserved.append(self.nonces.reserve())
            return reserved[-1]

        try:
            payout, claimed, tx_hash = claim_payouts(
                self.chain, self.account, candidates, nonce=nonce
            )
        except Exception:
            if reserved:
                self.nonces.release_failed(reserved[0])
            raise
        if claimed:
            self._log(
                "payouts.claimed",
                payout=payout,
                shares=len(claimed),
                tx_hash=tx_hash,
                claimed=[list(s) for s in claimed],
            )

    def heartbeat(self) -> None:
        beat = {
            "ts": time.time(),
            "interval_s": self.settings.node_poll_interval_s,
            "cursor": self.cursor.load(),
            "head": self._head,
            "healthy": self.healthy,
            "queue": self.queue,
            **self.worker_status(),
        }
        try:
            write_json_atomic(self.state.heartbeat_path, beat)
        except OSError as exc:
            self._log("listener.heartbeat_failed", error=str(exc), level=logging.WARNING)
        try:
            ttl = max(5, int(3 * self.settings.node_poll_interval_s))
            self.redis.set(self.keys.heartbeat, str(beat["ts"]), ex=ttl)
        except redis.RedisError:
            pass


def warm_version(
    settings: Settings,
    rpc_url: str,
    deployment: Deployment,
    address: str,
    model_id: int,
    version: int,
) -> None:
    """In a child process: load (resolve, build, check) one model version, log the outcome."""
    configure_logging()
    fields: dict[str, Any] = {"node": address, "model_id": model_id, "version": version}
    started = time.monotonic()
    try:
        model = load_version(
            ChainClient(rpc_url, deployment),
            model_id,
            version,
            settings,
            node_models=[model_id],
        )
    except Exception as exc:
        log_event(
            log,
            "node.model_version_warm_failed",
            level=logging.WARNING,
            **fields,
            error=f"{type(exc).__name__}: {exc}",
            hint="shares on this version are retried and loaded on demand once fixed",
        )
        return
    log_event(
        log,
        "node.model_version_ready",
        **fields,
        verifier=model.verifier,
        circuit=model.artifacts.key[:16],
        constraints=model.artifacts.constraints,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
    )
