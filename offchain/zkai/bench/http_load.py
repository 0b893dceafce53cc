"""A small HTTP load generator: `clients` concurrent keep-alive connections issue GETs of `paths`
(round robin) until `requests` are answered, and the result counts statuses and latencies.

Standard library only (asyncio streams, HTTP/1.1 with Content-Length or chunked bodies), so the
load itself costs little CPU next to the server it measures: `zkai bench`'s API section and the
API's burst test use it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from zkai.bench.common import JSONDict, percentile

__all__ = ["LoadResult", "run_load"]


@dataclass(frozen=True)
class LoadResult:
    """What `clients` concurrent clients got for `requests` GETs."""

    clients: int
    requests: int
    statuses: dict[int, int]
    """HTTP status -> responses."""
    failures: int
    """Requests that got no response (connection refused or reset, or `timeout_s` passed)."""
    errors: tuple[str, ...]
    """The first few failures, as text."""
    wall_s: float
    requests_per_s: float
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    latency_ms_max: float | None

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def to_json(self) -> JSONDict:
        return {
            "clients": self.clients,
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "server_errors": self.server_errors,
            "failures": self.failures,
            "errors": list(self.errors),
            "wall_s": self.wall_s,
            "requests_per_s": self.requests_per_s,
            "latency_ms_p50": self.latency_ms_p50,
            "latency_ms_p99": self.latency_ms_p99,
            "latency_ms_max": self.latency_ms_max,
        }


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: */*\r\n\r\n"
        self.writer.write(request.encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _load(
    host: str, port: int, paths: Sequence[str], clients: int, requests: int, timeout_s: float
) -> tuple[Counter[int], list[str], list[float], float]:
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    latencies: list[float] = []
    work: Iterator[int] = iter(range(requests))
    cycle = itertools.cycle(paths)

    async def client() -> None:
        connection = _Connection(host, port)
        try:
            for _ in work:
                path = next(cycle)
                started = time.perf_counter()
                try:
                    status = await asyncio.wait_for(connection.get(path), timeout_s)
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                    connection.close()
                    errors.append(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return statuses, errors, latencies, time.perf_counter() - started


def run_load(
    url: str,
    paths: Sequence[str],
    *,
    clients: int,
    requests: int,
    timeout_s: float = 30.0,
) -> LoadResult:
    """GET `paths` of the server at `url` from `clients` concurrent connections, `requests` in
    all (blocking; runs its own event loop)."""
    if clients < 1 or requests < 1 or not paths:
        raise ValueError("a load needs at least one client, one request and one path")
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    statuses, errors, latencies, wall = asyncio.run(
        _load(host, port, list(paths), clients, requests, timeout_s)
    )
    answered = sum(statuses.values())
    ms = [v * 1000.0 for v in latencies]
    return LoadResult(
        clients=clients,
        requests=requests,
        statuses=dict(statuses),
        failures=len(errors),
        errors=tuple(errors[:5]),
        wall_s=round(wall, 3),
        requests_per_s=round(answered / wall, 1) if wall > 0 else 0.0,
        latency_ms_p50=round(percentile(ms, 0.5), 1) if ms else None,
        latency_ms_p99=round(percentile(ms, 0.99), 1) if ms else None,
        latency_ms_max=round(max(ms), 1) if ms else None,
    )
