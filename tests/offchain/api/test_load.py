"""The API under a crowd: a bounded burst of concurrent clients over real HTTP (uvicorn) while the
chain moves on. No request may fail with a server error, the indexer keeps indexing through the
burst, and /api/health answers 503 once the indexer is stopped."""

from __future__ import annotations

import threading
import time

import httpx
from sqlalchemy import func, select

from zkai.api import db
from zkai.api.app import create_app
from zkai.bench.api_load import DASHBOARD_PATHS
from zkai.bench.http_load import LoadResult, run_load

from .conftest import LiveServer, api_settings, wait_for

CLIENTS = 200
REQUESTS = 1_200


def _queries(app) -> int:
    with app.state.zkai.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(db.Query)) or 0)


def test_api_burst_of_concurrent_clients_no_server_error_and_indexer_keeps_indexing(
    network, chain, tmp_path
):
    app = create_app(
        api_settings(network, chain.provider.uri, tmp_path), deployment=network.deployment()
    )
    state = app.state.zkai
    with LiveServer(app) as server:
        wait_for(lambda: state.status.last_block == chain.blocks.head.number, what="the first sync")
        before = _queries(app)
        results: list[LoadResult] = []
        burst = threading.Thread(
            target=lambda: results.append(
                run_load(server.url, DASHBOARD_PATHS, clients=CLIENTS, requests=REQUESTS)
            )
        )
        burst.start()
        time.sleep(0.5)
        network.request(chain)  # a query made while the crowd reads
        burst.join(timeout=180)
        assert not burst.is_alive(), "the burst did not finish"
        (load,) = results
        print(f"burst: {load.to_json()}")
        assert load.failures == 0, load.errors
        assert load.server_errors == 0, load.statuses
        assert sum(load.statuses.values()) == REQUESTS
        assert set(load.statuses) == {200}, load.statuses

        wait_for(lambda: _queries(app) == before + 1, what="the query made during the burst")
        assert state.thread is not None
        assert state.thread.is_alive()
        health = httpx.get(f"{server.url}/api/health")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"

        state.stop.set()  # the indexer stops: the index no longer follows the chain
        state.thread.join(timeout=30)
        stopped = httpx.get(f"{server.url}/api/health")
        assert stopped.status_code == 503, stopped.text
        assert stopped.json()["indexer_running"] is False


def test_health_of_lag_stall_and_refusal_answer_503(indexed_app):
    app, client = indexed_app
    state = app.state.zkai
    status = state.indexer.status
    indexed = state.indexer.cursor()
    saved = (state.thread, status.head, status.loop_beat, status.rpc_ok)
    max_lag = state.settings.api_health_max_lag_blocks
    try:
        assert client.get("/api/health").status_code == 503  # this app's indexer is off
        state.thread = threading.current_thread()  # a live indexer thread
        status.rpc_ok, status.loop_beat = True, time.time()
        status.head = indexed + max_lag
        body = client.get("/api/health")
        assert (body.status_code, body.json()["status"]) == (200, "ok")
        assert body.json()["behind_blocks"] == max_lag
        status.head = indexed + max_lag + 1
        behind = client.get("/api/health")
        assert (behind.status_code, behind.json()["status"]) == (503, "unavailable")
        status.head = indexed
        status.loop_beat = time.time() - 600  # the loop has not come round for ten minutes
        stuck = client.get("/api/health")
        assert (stuck.status_code, stuck.json()["indexer_running"]) == (503, False)
        status.loop_beat = time.time()
        status.rpc_ok = False
        assert client.get("/api/health").json()["status"] == "degraded"
    finally:
        state.thread, status.head, status.loop_beat, status.rpc_ok = saved
