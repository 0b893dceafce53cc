"""`zkai demo`: private queries on the local network, checked against the plaintext model."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zkai.chain.client import connect
from zkai.client.query import QueryClient
from zkai.errors import ZKAIError
from zkai.localnet.state import DEMO_USER_INDEX, anvil_account
from zkai.models.catalog import ModelCatalog
from zkai.models.demo import DEMO_MODELS, load_split


@dataclass
class DemoQuery:
    model: str
    sample: int
    expected: int | None
    answer: int | None
    true_label: int
    exact: bool
    verified: bool
    latency_s: float
    fee: int
    gas_per_share: list[int]
    query_id: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.exact and self.verified


@dataclass
class DemoReport:
    queries: list[DemoQuery] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.queries) and all(q.ok for q in self.queries)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "queries": [{**q.__dict__, "ok": q.ok} for q in self.queries],
        }


def run_demo_queries(
    samples_per_model: int = 3,
    on_query: Callable[[DemoQuery], None] | None = None,
    deadline_s: int = 120,
) -> DemoReport:
    """Several private queries per demo model from the demo wallet, each compared exactly with
    the plaintext quantised model's output (`Manifest.forward`)."""
    report = DemoReport()
    started = time.monotonic()
    chain = connect()
    client = QueryClient(chain, anvil_account(DEMO_USER_INDEX))
    catalog = ModelCatalog(chain.deployment.chain_id)
    for name in DEMO_MODELS:
        entry = catalog.get(name)
        manifest = entry.manifest()
        split = load_split(name)
        for i in range(samples_per_model):
            x = [float(v) for v in split.x_test[i]]
            expected_raw = manifest.forward(manifest.quantise_input(x))
            expected = manifest.predict(expected_raw).label
            result = DemoQuery(name, i, expected, None, int(split.y_test[i]), False, False, 0.0,
                               0, [])
            try:
                pending = client.submit(name, manifest, entry.model_id, x, deadline_s=deadline_s)
                result.query_id = pending.query_id
                outcome = client.wait(pending, manifest)
                result.fee = outcome.fee
                result.latency_s = round(outcome.latency_s, 3)
                result.gas_per_share = [s.gas_used for s in outcome.shares]
                result.verified = outcome.verified
                if outcome.expired:
                    result.error = f"expired; refunded {outcome.refund}"
                else:
                    assert outcome.prediction is not None
                    result.answer = outcome.prediction.label
                    result.exact = outcome.outputs == expected_raw
            except ZKAIError as exc:
                result.error = str(exc)
            report.queries.append(result)
            if on_query is not None:
                on_query(result)
    report.seconds = time.monotonic() - started
    return report
