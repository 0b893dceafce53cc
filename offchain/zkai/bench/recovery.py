"""Recovery after a worker crash, on `zkai up`'s network: while node-1 proves its claim of a
private query (its listener has enqueued the claim), its worker is killed (SIGKILL), and the
time from the kill until the claim is mined is read from the node's log (`claim.claimed`). Two
crashes, recovered by different paths:

- a pool process of the worker: Celery puts the task back (acks_late) and a new pool process
  takes the assignment's claim lock over from the dead holder;
- the worker's Celery main process (its pool dies with it): the node service starts a new worker
  and its listener enqueues the due claim again.

Each query is made with the client's default round window, and must be answered and every proof
accepted before its proof deadline. A kill that lands after the claim was already mined measures
nothing; the query is then made again (at most `attempts` times).
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
    """Both crashes, with the settings and windows that bound them."""

    round_window_s: int
    min_proof_window_floor_s: int
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


def _pool_pid(main_pid: int) -> int:
    """A pool process of the worker (a child of its main process)."""
    children = Path(f"/proc/{main_pid}/task/{main_pid}/children")
    try:
        pids = [int(p) for p in children.read_text().split()]
    except OSError as exc:
        raise BenchmarkError(f"cannot list the worker's pool processes: {exc}") from exc
    if not pids:
        raise BenchmarkError(f"{NODE}'s worker {main_pid} has no pool process")
    return pids[0]


def _run_into(
    client: Any, name: str, manifest: Any, model_id: int, x: Any, nodes: Any, out: list[Any]
) -> None:
    try:
        out.append(
            client.run(
                name,
                manifest,
                model_id,
                x,
                nodes=nodes,
                on_progress=lambda event, detail: out.append((event, detail)),
            )
        )
    except Exception as exc:  # reported by the caller
        out.append(exc)


def _one_kill(net: NetworkBench, target: KillTarget, attempts: int) -> KillRecovery:
    from zkai.client.query import QueryClient, QueryOutcome
    from zkai.localnet_state import DEMO_USER_INDEX, anvil_account
    from zkai.models.demo import load_split

    chain = net.chain()
    model_id, manifest = net.model("digits")
    nodes = net.network.state.info["nodes"]
    address = str(nodes[NODE])
    other = next(str(a) for n, a in sorted(nodes.items()) if n != NODE)
    log_path = net.node_logs()[NODE]
    split = load_split("digits")
    for attempt in range(1, attempts + 1):
        x = [float(v) for v in split.x_test[(7 * attempt) % len(split.x_test)]]
        client = QueryClient(chain, anvil_account(DEMO_USER_INDEX))
        log = _NodeLog(log_path)
        out: list[Any] = []
        waiter = threading.Thread(
            target=_run_into,
            args=(client, "digits", manifest, model_id, x, [[address, other]], out),
            daemon=True,
        )
        waiter.start()
        deadline = time.monotonic() + 120
        while not any(isinstance(o, tuple) and o[0] == "requested" for o in out):
            if time.monotonic() > deadline or any(isinstance(o, Exception) for o in out):
                raise BenchmarkError(f"the recovery query was not requested: {out}")
            time.sleep(0.01)
        query_hex = (
            "0x"
            + next(o[1] for o in out if isinstance(o, tuple) and o[0] == "requested")[
                "query_id"
            ].hex()
        )
        log.wait("claim.enqueued", 120, query=query_hex)
        main = _worker_main_pid(log_path)
        victim = _pool_pid(main) if target == "pool_process" else main
        os.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        waiter.join(timeout=600)
        outcome = next((o for o in out if isinstance(o, QueryOutcome)), None)
        if outcome is None:
            raise BenchmarkError(f"the query after the {target} kill failed: {out[-1]}")
        claimed = log.wait("claim.claimed", 30, query=query_hex)
        if float(claimed["ts"]) < killed_at:
            net.say(f"recovery: the claim was mined before the {target} kill; again")
            continue
        recovery = float(claimed["ts"]) - killed_at
        net.say(f"recovery: {target} killed, claim mined {recovery:.1f} s later")
        return KillRecovery(
            target=target,
            recovery_s=round(recovery, 2),
            query_latency_s=round(float(outcome.latency_s), 2),
            answered_before_deadline=outcome.outputs is not None,
            verified=bool(outcome.verified),
            attempts=attempt,
        )
    raise BenchmarkError(f"no {target} kill caught a claim in flight in {attempts} queries")


def recovery_section(net: NetworkBench, attempts: int = 5) -> RecoveryResult:
    """Kill node-1's pool process, then its Celery main process, each while its claim is in
    flight (run last: the node's worker is restarted by its service)."""
    from zkai.client.query import DEFAULT_ROUND_WINDOW_S
    from zkai.config import get_settings
    from zkai.protocol.market import read_market_terms

    market = read_market_terms(net.chain())
    pool = _one_kill(net, "pool_process", attempts)
    main = _one_kill(net, "main_process", attempts)
    settings = get_settings()
    return RecoveryResult(
        round_window_s=DEFAULT_ROUND_WINDOW_S,
        min_proof_window_floor_s=int(market.min_proof_window_floor),
        lock_ttl_s=settings.node_lock_ttl_s,
        visibility_timeout_s=settings.node_visibility_timeout_s,
        pool_process=pool,
        main_process=main,
    )
