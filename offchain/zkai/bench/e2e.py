"""End to end on the local network: the latency of sequential private queries, and the
throughput of concurrent users (each its own funded anvil account), with each node's work read
from its log and the likely bottleneck named."""

from __future__ import annotations

import contextlib
import json
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zkai.bench.common import JSONDict, percentile
from zkai.models.demo import load_split

if TYPE_CHECKING:
    from zkai.bench.network import NetworkBench

__all__ = [
    "E2EResult",
    "LatencyResult",
    "NodeWork",
    "ThroughputResult",
    "latency_section",
    "throughput_section",
]


@dataclass(frozen=True)
class LatencyResult:
    """Seconds from submitting a private query to its verified answer, one query at a time."""

    model: str
    nodes: int
    shares: int
    worker_concurrency: int
    queries: int
    latency_s: tuple[float, ...]
    latency_s_median: float
    latency_s_p90: float

    def to_json(self) -> JSONDict:
        return {
            "model": self.model,
            "nodes": self.nodes,
            "shares": self.shares,
            "worker_concurrency": self.worker_concurrency,
            "queries": self.queries,
            "latency_s": list(self.latency_s),
            "latency_s_median": self.latency_s_median,
            "latency_s_p90": self.latency_s_p90,
        }


@dataclass(frozen=True)
class NodeWork:
    """One node's shares in a time window, from its log; `queue_waits_ms` stays out of JSON."""

    shares: int
    prove_ms_total: float
    prove_ms_median: float | None
    task_ms_total: float
    busy_fraction: float
    prove_fraction: float
    submit_overhead_ms_per_share: float | None
    queue_waits_ms: tuple[float, ...]

    def to_json(self) -> JSONDict:
        return {
            "shares": self.shares,
            "prove_ms_total": self.prove_ms_total,
            "prove_ms_median": self.prove_ms_median,
            "task_ms_total": self.task_ms_total,
            "busy_fraction": self.busy_fraction,
            "prove_fraction": self.prove_fraction,
            "submit_overhead_ms_per_share": self.submit_overhead_ms_per_share,
        }


@dataclass(frozen=True)
class ThroughputResult:
    """Queries per second sustained by concurrent users, and what held it back."""

    model: str
    users: int
    queries: int
    completed: int
    errors: tuple[str, ...]
    wall_s: float
    throughput_qps: float
    latency_s_median_under_load: float | None
    latency_s_p90_under_load: float | None
    chain_tx_per_s: float | None
    nodes: dict[str, NodeWork]
    node_queue_wait_ms_median: float | None
    bottleneck: str

    def to_json(self) -> JSONDict:
        return {
            "model": self.model,
            "users": self.users,
            "queries": self.queries,
            "completed": self.completed,
            "errors": list(self.errors),
            "wall_s": self.wall_s,
            "throughput_qps": self.throughput_qps,
            "latency_s_median_under_load": self.latency_s_median_under_load,
            "latency_s_p90_under_load": self.latency_s_p90_under_load,
            "chain_tx_per_s": self.chain_tx_per_s,
            "nodes": {name: work.to_json() for name, work in self.nodes.items()},
            "node_queue_wait_ms_median": self.node_queue_wait_ms_median,
            "bottleneck": self.bottleneck,
        }


@dataclass(frozen=True)
class E2EResult:
    """The document's `e2e` section: latency, with throughput beside it."""

    latency: LatencyResult
    throughput: ThroughputResult

    def to_json(self) -> JSONDict:
        return {
            **self.latency.to_json(),
            "throughput_qps": self.throughput.throughput_qps,
            "throughput": self.throughput.to_json(),
        }


def latency_section(net: NetworkBench, name: str, queries: int) -> LatencyResult:
    """`queries` sequential private queries of one user."""
    from zkai.localnet_state import DEMO_USER_INDEX, anvil_account

    chain = net.chain()
    user = anvil_account(DEMO_USER_INDEX)
    split = load_split(name)
    latencies = []
    for i in range(queries):
        x = [float(v) for v in split.x_test[(i + 2) % len(split.x_test)]]
        outcome = net.query_once(chain, user, name, x)
        latencies.append(outcome.latency_s)
        net.say(f"e2e {name}: query {i + 1}/{queries} {outcome.latency_s:.2f} s")
    return LatencyResult(
        model=name,
        nodes=net.options.nodes,
        shares=net.options.shares,
        worker_concurrency=net.options.worker_concurrency,
        queries=queries,
        latency_s=tuple(round(v, 3) for v in latencies),
        latency_s_median=round(statistics.median(latencies), 3),
        latency_s_p90=round(percentile(latencies, 0.9), 3),
    )


def throughput_section(
    net: NetworkBench, name: str, users: int, total: int, unloaded_latency_s: float | None
) -> ThroughputResult:
    """`total` queries shared out among `users` concurrent users."""
    chain = net.chain()
    accounts = net.fund_users(chain, users)
    split = load_split(name)
    work = list(range(total))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def user(account: Any) -> None:
        own_chain = net.chain()
        while True:
            with lock:
                if not work:
                    return
                index = work.pop()
            x = [float(v) for v in split.x_test[index % len(split.x_test)]]
            try:
                outcome = net.query_once(own_chain, account, name, x)
            except Exception as exc:  # reported in the JSON
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(outcome.latency_s)

    net.say(f"throughput: {total} {name} queries from {users} concurrent users")
    t0_wall = time.time()
    started = time.perf_counter()
    threads = [threading.Thread(target=user, args=(a,), daemon=True) for a in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    t1_wall = time.time()
    completed = len(latencies)
    qps = completed / wall if wall > 0 else 0.0
    nodes = _node_work(net, t0_wall, t1_wall)
    k = net.options.shares
    txs = completed * (1 + k)
    busiest = max((n.busy_fraction for n in nodes.values()), default=0.0)
    queue_waits = [w for n in nodes.values() for w in n.queue_waits_ms]
    queue_median = statistics.median(queue_waits) if queue_waits else None
    bottleneck = _bottleneck(busiest, queue_median, latencies, unloaded_latency_s)
    net.say(f"throughput: {qps:.2f} queries/s; bottleneck: {bottleneck}")
    return ThroughputResult(
        model=name,
        users=users,
        queries=total,
        completed=completed,
        errors=tuple(errors[:5]),
        wall_s=round(wall, 3),
        throughput_qps=round(qps, 3),
        latency_s_median_under_load=round(statistics.median(latencies), 3) if latencies else None,
        latency_s_p90_under_load=round(percentile(latencies, 0.9), 3) if latencies else None,
        chain_tx_per_s=round(txs / wall, 2) if wall > 0 else None,
        nodes=nodes,
        node_queue_wait_ms_median=None if queue_median is None else round(queue_median, 1),
        bottleneck=bottleneck,
    )


def _node_work(net: NetworkBench, t0: float, t1: float) -> dict[str, NodeWork]:
    """Per node, from its JSON log: shares submitted in [t0, t1], proving and busy time."""
    result: dict[str, NodeWork] = {}
    for name, path in net.node_logs().items():
        prove, busy, waits = [], [], []
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                if '"share.submitted"' not in line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if not t0 <= float(entry.get("ts", 0)) <= t1 + 1:
                    continue
                prove.append(float(entry.get("prove_ms") or 0.0))
                busy.append(float(entry.get("duration_ms") or 0.0))
                since = entry.get("since_enqueue_ms")
                if since is not None:
                    waits.append(max(0.0, float(since) - float(entry.get("duration_ms") or 0)))
        wall_ms = max((t1 - t0) * 1000.0, 1.0)
        result[name] = NodeWork(
            shares=len(prove),
            prove_ms_total=round(sum(prove), 1),
            prove_ms_median=round(statistics.median(prove), 1) if prove else None,
            task_ms_total=round(sum(busy), 1),
            busy_fraction=round(sum(busy) / wall_ms, 3),
            prove_fraction=round(sum(prove) / wall_ms, 3),
            submit_overhead_ms_per_share=round((sum(busy) - sum(prove)) / len(prove), 1)
            if prove
            else None,
            queue_waits_ms=tuple(waits),
        )
    return result


def _bottleneck(
    busiest: float,
    queue_median_ms: float | None,
    latencies: Sequence[float],
    unloaded_s: float | None,
) -> str:
    if busiest >= 0.75:
        return (
            f"node workers: the busiest node is busy {busiest:.0%} of the wall time (every "
            "query needs both nodes, one worker each, proving on a shared 2-core CPU); "
            "more nodes or worker concurrency would raise throughput"
        )
    if queue_median_ms is not None and queue_median_ms > 500:
        return (
            f"node workers: shares wait {queue_median_ms:.0f} ms (median) in the Celery "
            f"queue for the node's single worker (busiest node busy {busiest:.0%} of the "
            "wall time, ramp-up and ramp-down included); every query needs both nodes"
        )
    if latencies and unloaded_s and statistics.median(latencies) > 2 * unloaded_s:
        return "CPU contention: latency under load is more than twice the unloaded latency"
    return (
        f"client round trips and polling (nodes busy {busiest:.0%} of the time): each user "
        "waits for its answer before sending the next query"
    )
