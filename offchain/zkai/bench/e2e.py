"""End to end on `zkai up`'s network with `QueryClient.run`: per model, the latency of sequential
private queries to the answer and to every proof accepted on-chain (median, p90), the ETH gas
and the ZKAI cost of a query; and the throughput of concurrent users (each its own funded anvil
account), with each node's claims read from its log and the likely bottleneck named."""

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
    """One model's sequential queries: seconds to the answer and to all proofs accepted."""

    model: str
    nodes: int
    shares: int
    worker_concurrency: int
    queries: int
    answer_s: tuple[float, ...]
    proofs_s: tuple[float, ...]
    eth_gas: tuple[int, ...]
    cost_zkai_wei: tuple[int, ...]

    def to_json(self) -> JSONDict:
        return {
            "model": self.model,
            "nodes": self.nodes,
            "shares": self.shares,
            "worker_concurrency": self.worker_concurrency,
            "queries": self.queries,
            "answer_s": list(self.answer_s),
            "answer_s_median": round(statistics.median(self.answer_s), 3),
            "answer_s_p90": round(percentile(self.answer_s, 0.9), 3),
            "proofs_s": list(self.proofs_s),
            "proofs_s_median": round(statistics.median(self.proofs_s), 3),
            "proofs_s_p90": round(percentile(self.proofs_s, 0.9), 3),
            "eth_gas_per_query": list(self.eth_gas),
            "eth_gas_per_query_median": int(statistics.median(self.eth_gas)),
            "cost_zkai_wei": [str(c) for c in self.cost_zkai_wei],
            "cost_zkai_median": statistics.median(self.cost_zkai_wei) / 10**18,
            "note": "eth gas = requestQuery + every claim (settle not included: anyone may send "
            "it later)",
        }


@dataclass(frozen=True)
class NodeWork:
    """One node's claims in a time window, from its log (`claim.claimed` events)."""

    claims: int
    prove_ms_total: float
    prove_ms_median: float | None
    prove_fraction: float

    def to_json(self) -> JSONDict:
        return {
            "claims": self.claims,
            "prove_ms_total": self.prove_ms_total,
            "prove_ms_median": self.prove_ms_median,
            "prove_fraction": self.prove_fraction,
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
            "bottleneck": self.bottleneck,
        }


@dataclass(frozen=True)
class E2EResult:
    """The document's `e2e` section: latency per model, with throughput beside it."""

    latency: dict[str, LatencyResult]
    throughput: ThroughputResult | None

    def to_json(self) -> JSONDict:
        return {
            "models": {name: result.to_json() for name, result in self.latency.items()},
            "throughput_qps": None if self.throughput is None else self.throughput.throughput_qps,
            "throughput": None if self.throughput is None else self.throughput.to_json(),
        }


def latency_section(net: NetworkBench, name: str, queries: int) -> LatencyResult:
    """`queries` sequential private queries of one user."""
    from zkai.localnet_state import DEMO_USER_INDEX, anvil_account

    chain = net.chain()
    user = anvil_account(DEMO_USER_INDEX)
    split = load_split(name)
    answer, proofs, gas, cost = [], [], [], []
    for i in range(queries):
        x = [float(v) for v in split.x_test[(i + 2) % len(split.x_test)]]
        outcome = net.query_once(chain, user, name, x)
        answer.append(round(outcome.answer_s, 3))
        proofs.append(round(outcome.latency_s, 3))
        gas.append(outcome.request_gas + sum(a.claim_gas for a in outcome.assignments))
        cost.append(outcome.cost)
        net.say(
            f"e2e {name}: query {i + 1}/{queries}: answer {outcome.answer_s:.2f} s, proofs "
            f"{outcome.latency_s:.2f} s"
        )
    return LatencyResult(
        model=name,
        nodes=net.options.nodes,
        shares=net.options.shares,
        worker_concurrency=net.options.worker_concurrency,
        queries=queries,
        answer_s=tuple(answer),
        proofs_s=tuple(proofs),
        eth_gas=tuple(gas),
        cost_zkai_wei=tuple(cost),
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
    txs: list[int] = []

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
                txs.append(1 + len(outcome.assignments))

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
    busiest = max((n.prove_fraction for n in nodes.values()), default=0.0)
    bottleneck = _bottleneck(busiest, latencies, unloaded_latency_s)
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
        chain_tx_per_s=round(sum(txs) / wall, 2) if wall > 0 else None,
        nodes=nodes,
        bottleneck=bottleneck,
    )


def _node_work(net: NetworkBench, t0: float, t1: float) -> dict[str, NodeWork]:
    """Per node, from its JSON log: claims sent in [t0, t1] and their proving time."""
    result: dict[str, NodeWork] = {}
    for name, path in net.node_logs().items():
        prove = []
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                if '"claim.claimed"' not in line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if not t0 <= float(entry.get("ts", 0)) <= t1 + 1:
                    continue
                prove.append(float(entry.get("prove_ms") or 0.0))
        wall_ms = max((t1 - t0) * 1000.0, 1.0)
        result[name] = NodeWork(
            claims=len(prove),
            prove_ms_total=round(sum(prove), 1),
            prove_ms_median=round(statistics.median(prove), 1) if prove else None,
            prove_fraction=round(sum(prove) / wall_ms, 3),
        )
    return result


def _bottleneck(busiest: float, latencies: Sequence[float], unloaded_s: float | None) -> str:
    if busiest >= 0.75:
        return (
            f"node provers: the busiest node proves {busiest:.0%} of the wall time (one claim "
            "proof per assignment, on a shared 2-core CPU); more nodes would raise throughput"
        )
    if latencies and unloaded_s and statistics.median(latencies) > 2 * unloaded_s:
        return "CPU contention: latency under load is more than twice the unloaded latency"
    return (
        f"client round trips and claim waits (busiest node proving {busiest:.0%} of the "
        "time): each user waits for every proof before sending its next query"
    )
