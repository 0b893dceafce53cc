"""Check (f) reserves capacity: concurrent first rounds of two queries cannot both be acknowledged
when the node's prover can finish only one proof before the proof deadlines (found in review: the
check and the assignment's insertion were two steps, and requests run in parallel threads)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from zkai.node.endpoint import create_endpoint

from .conftest import Network
from .test_rounds import X, _keys


def _two_queries(network: Network, node: Any) -> list[Any]:
    sent = []
    for _ in range(2):
        user = network.user_query([node], 3)
        (first,) = user.deal(1, X, _keys(network, node))
        user.request(round_s=600, proof_s=600)
        sent.append(first)
    return sent


def test_round_concurrent_first_rounds_one_refused_for_capacity(
    network: Network, tmp_path: Path
) -> None:
    node = network.new_node()
    service = network.service(node, tmp_path / "r.sqlite3")
    # One proof takes 400 s here: only one fits before t_P (600 s after the round deadline).
    service.settings = service.settings.model_copy(update={"prove_estimate_s": 400.0})
    a, b = _two_queries(network, node)
    real = service.store.assignments

    def slow(*args: Any, **kwargs: Any) -> Any:
        rows = real(*args, **kwargs)
        time.sleep(0.5)  # widen the window between reading the queue and reserving
        return rows

    service.store.assignments = slow  # type: ignore[method-assign]
    client = TestClient(create_endpoint(service, ["1:0"]))
    results: dict[str, Any] = {}

    def post(name: str, body: dict[str, Any]) -> None:
        results[name] = client.post("/v2/rounds", content=json.dumps(body))

    threads = [threading.Thread(target=post, args=(n, s.body)) for n, s in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = sorted((r.status_code, r.json().get("reason")) for r in results.values())
    assert outcomes == [(200, None), (503, "no-capacity")]
    refused = next(r for r in results.values() if r.status_code == 503)
    assert "ack" not in refused.json()
