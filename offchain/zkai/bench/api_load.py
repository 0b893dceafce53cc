"""The API under a crowd, on the local network's API process (`zkai api`, as `zkai up` runs it):
requests per second and p50 / p99 latency at 50 and 200 concurrent clients, each a keep-alive
connection polling what the dashboard reads (`zkai.bench.http_load`), then whether the indexer
still follows the chain (a query made after the load is indexed, `/api/health` is 200)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests

from zkai.bench.common import JSONDict
from zkai.bench.http_load import LoadResult, run_load
from zkai.errors import BenchmarkError

if TYPE_CHECKING:
    from zkai.bench.network import NetworkBench

__all__ = ["DASHBOARD_PATHS", "ApiLoadResult", "api_load_section"]

DASHBOARD_PATHS = (
    "/api/stats",
    "/api/token",
    "/api/nodes?limit=200",
    "/api/contributors?limit=200",
    "/api/queries?limit=20",
    "/api/stats/timeseries?buckets=24",
    "/api/models",
    "/api/models/1/versions",
    "/api/health",
)
"""What one dashboard reads on every refresh, and the health check."""


@dataclass(frozen=True)
class ApiLoadResult:
    """One load per concurrency level, and the API's state after them."""

    paths: tuple[str, ...]
    levels: tuple[LoadResult, ...]
    indexed_after_load: bool
    health_after_load: int

    def to_json(self) -> JSONDict:
        return {
            "paths": list(self.paths),
            "levels": {str(level.clients): level.to_json() for level in self.levels},
            "indexed_after_load": self.indexed_after_load,
            "health_after_load": self.health_after_load,
        }


def _queries(api: str) -> int:
    return int(requests.get(f"{api}/api/stats", timeout=10).json()["queries"])


def api_load_section(
    net: NetworkBench, clients: Sequence[int] = (50, 200), requests_per_level: int = 4_000
) -> ApiLoadResult:
    """`requests_per_level` GETs at each number of `clients`, then one query must be indexed."""
    from zkai.localnet_state import DEMO_USER_INDEX, anvil_account
    from zkai.models.demo import load_split

    if not clients:
        raise BenchmarkError("no concurrency level to measure")
    api = str(net.status["endpoints"]["api"])
    run_load(api, DASHBOARD_PATHS, clients=10, requests=200)  # warm-up: connections, caches
    levels = []
    for count in clients:
        result = run_load(api, DASHBOARD_PATHS, clients=count, requests=requests_per_level)
        net.say(
            f"api: {count} clients: {result.requests_per_s:.0f} requests/s, p50 "
            f"{result.latency_ms_p50} ms, p99 {result.latency_ms_p99} ms, "
            f"{result.server_errors} server errors, {result.failures} failures"
        )
        levels.append(result)
    before = _queries(api)
    x = [float(v) for v in load_split("digits").x_test[11]]
    net.query_once(net.chain(), anvil_account(DEMO_USER_INDEX), "digits", x)
    deadline = time.monotonic() + 30
    indexed = False
    while time.monotonic() < deadline and not indexed:
        indexed = _queries(api) == before + 1
        time.sleep(0.2)
    health = requests.get(f"{api}/api/health", timeout=10).status_code
    return ApiLoadResult(tuple(DASHBOARD_PATHS), tuple(levels), indexed, health)
