"""Recovery after a worker crash, on the local network: while node-1 proves its share of a private
query, its worker is killed (SIGKILL), and the time from the kill until that share's submission
is mined is read from the node's log. Two crashes, recovered by different paths:

- the pool process running the task: Celery puts the task back and a new pool process takes the
  share's lock over from the dead holder (`zkai.node.locks`);
- the worker's Celery main process (its pool dies with it): the node service starts a new worker
  and its listener re-enqueues the share at once (`zkai.node.listener`).

Each query is made with the client's default deadline and must be answered and verified before
it. A kill that lands after the share was already submitted measures nothing; the query is then
made again (at most `attempts` times).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zkai.bench.common import JSONDict
from zkai.errors import BenchmarkError

if TYPE_CHECKING:
    from zkai.bench.network import NetworkBench

__all__ = ["KillRecovery", "RecoveryResult", "recovery_section"]

KillTarget = Literal["pool_process", "main_process"]
NODE = "node-1"


@dataclass(frozen=True)
class KillRecovery:
    """One crash: seconds from the kill to the share's submission, and the query's outcome."""

    target: KillTarget
    recovery_s: float
    query_latency_s: float
    answered_before_deadline: bool
    verified: bool
    attempts: int


@dataclass(frozen=True)
class RecoveryResult:
    """Both crashes, with the settings and deadlines that bound them."""

    deadline_s: int
    min_deadline_window_s: int
    lock_ttl_s: float
    visibility_timeout_s: int
    pool_process: KillRecovery
    main_process: KillRecovery

    def to_json(self) -> JSONDict:
        return asdict(self)


class _NodeLog:
    """The JSON events a node's log gained since this object was made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def events(self) -> list[dict[str, Any]]:
        found = []
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            for line in handle.read().decode(errors="replace").splitlines():
                if line.startswith("{"):
                    try:
                        found.append(json.loads(line))
                    except ValueError:
                        continue
        return found

    def find(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events()
            if e.get("event") == event and all(e.get(k) == v for k, v in match.items())
        ]

    def wait(self, event: str, timeout: float, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(event, **match)
            if found:
                return found[0]
            time.sleep(0.01)
        raise BenchmarkError(f"{NODE} logged no {event} {match} within {timeout:.0f} s")


def _worker_main_pid(path: Path) -> int:
    started = _NodeLog(path)
    started.offset = 0
    events = started.find("service.worker_started")
    if not events:
        raise BenchmarkError(f"{NODE}'s log names no worker")
    return int(events[-1]["worker_pid"])


def _wait_into(client: Any, pending: Any, manifest: Any, outcomes: list[Any]) -> None:
    outcomes.append(client.wait(pending, manifest))


def _one_kill(net: NetworkBench, target: KillTarget, attempts: int) -> KillRecovery:
    from zkai.client.query import DEFAULT_DEADLINE_S, QueryClient
    from zkai.localnet_state import DEMO_USER_INDEX, anvil_account
    from zkai.models.demo import load_split

    chain = net.chain()
    model_id, manifest = net.model("digits")
    address = str(net.network.state.info["nodes"][NODE]).lower()
    log_path = net.node_logs()[NODE]
    split = load_split("digits")
    for attempt in range(1, attempts + 1):
        x = [float(v) for v in split.x_test[(7 * attempt) % len(split.x_test)]]
        client = QueryClient(chain, anvil_account(DEMO_USER_INDEX))
        log = _NodeLog(log_path)
        pending = client.submit("digits", manifest, model_id, x, deadline_s=DEFAULT_DEADLINE_S)
        index = [n.lower() for n in pending.nodes].index(address)
        outcomes: list[Any] = []
        waiter = threading.Thread(
            target=_wait_into, args=(client, pending, manifest, outcomes), daemon=True
        )
        waiter.start()
        started = log.wait("share.started", 60, query_id=pending.query_id, share_index=index)
        victim = int(started["pid"]) if target == "pool_process" else _worker_main_pid(log_path)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        waiter.join(timeout=DEFAULT_DEADLINE_S + 60)
        if not outcomes:
            raise BenchmarkError(f"the query after the {target} kill was not answered")
        outcome = outcomes[0]
        submitted = log.wait("share.submitted", 10, query_id=pending.query_id, share_index=index)
        if float(submitted["ts"]) < killed_at:
            net.say(f"recovery: the share was submitted before the {target} kill; again")
            continue
        recovery = float(submitted["ts"]) - killed_at
        net.say(f"recovery: {target} killed, share submitted {recovery:.1f} s later")
        return KillRecovery(
            target=target,
            recovery_s=round(recovery, 2),
            query_latency_s=round(float(outcome.latency_s), 2),
            answered_before_deadline=not outcome.expired,
            verified=bool(outcome.verified),
            attempts=attempt,
        )
    raise BenchmarkError(f"no {target} kill caught a task in flight in {attempts} queries")


def recovery_section(net: NetworkBench, attempts: int = 5) -> RecoveryResult:
    """Kill node-1's pool process, then its Celery main process, each mid-proof (run last: the
    node's worker is restarted by its service, the network stays usable)."""
    from zkai.client.query import DEFAULT_DEADLINE_S
    from zkai.config import get_settings

    chain = net.chain()
    window = int(chain.call(chain.contract("QueryMarket").functions.MIN_DEADLINE_WINDOW()))
    pool = _one_kill(net, "pool_process", attempts)
    main = _one_kill(net, "main_process", attempts)
    settings = get_settings()
    return RecoveryResult(
        deadline_s=DEFAULT_DEADLINE_S,
        min_deadline_window_s=window,
        lock_ttl_s=settings.node_lock_ttl_s,
        visibility_timeout_s=settings.node_visibility_timeout_s,
        pool_process=pool,
        main_process=main,
    )
