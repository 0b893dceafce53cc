"""`zkai.bench.http_load` against a small local HTTP server: every request is answered and
counted by status (server errors apart), a dead server counts as failures, latencies are real."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from zkai.bench.http_load import run_load
from zkai.devservices import free_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status = 500 if self.path == "/fail" else 200
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_run_load_counts_every_answer_and_server_errors(server: str) -> None:
    result = run_load(server, ["/a", "/b", "/fail"], clients=8, requests=90)
    assert sum(result.statuses.values()) == 90
    assert result.statuses == {200: 60, 500: 30}
    assert result.server_errors == 30
    assert result.failures == 0
    assert result.requests_per_s > 0
    assert result.latency_ms_p50 is not None
    assert result.latency_ms_p99 is not None
    assert 0 < result.latency_ms_p50 <= result.latency_ms_p99 <= (result.latency_ms_max or 0)
    assert result.to_json()["statuses"] == {"200": 60, "500": 30}


def test_run_load_unreachable_server_counts_failures() -> None:
    result = run_load(f"http://127.0.0.1:{free_port()}", ["/"], clients=3, requests=6)
    assert result.statuses == {}
    assert result.failures == 6
    assert result.errors
