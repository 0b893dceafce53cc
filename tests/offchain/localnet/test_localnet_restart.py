"""`zkai down` then `zkai up` on a real local network: the second network starts clean (a new
chain, and nothing of the first one served: not its queries in the API, not its nodes' Redis
state), and nothing of the first network keeps running, not even the Celery worker of a node
service that was killed outright."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from zkai.devservices import free_port
from zkai.liveness import process_group_members
from zkai.localnet.processes import stop_process
from zkai.localnet_state import LocalnetState
from zkai.models.demo import load_split
from zkai.node.state import chain_prefix, queue_name
from zkai.toolchain import REPO_ROOT

from .test_localnet_e2e import zkai

pytestmark = pytest.mark.slow


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _stats(api: str) -> dict[str, Any]:
    response = requests.get(f"{api}/api/stats", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _query(env: dict[str, str]) -> dict[str, Any]:
    x = [float(v) for v in load_split("digits").x_test[5]]
    result = zkai(env, "query", "-m", "digits", "-i", "-", "--json", stdin=json.dumps(x))
    assert result.returncode == 0, result.stderr[-3000:]
    answer: dict[str, Any] = json.loads(result.stdout)
    assert answer["verified"] is True
    return answer


def _redis_leftovers(client: redis.Redis, identity: str, nodes: dict[str, str]) -> list[bytes]:
    patterns = [f"{chain_prefix(identity)}:*", f"zkai:nonce:{identity}:*"]
    patterns += [f"{queue_name(address)}*" for address in nodes.values()]
    return [key for pattern in patterns for key in client.scan_iter(match=pattern)]


def test_down_then_up_serves_no_stale_data_and_leaves_no_orphan(
    tmp_path: Path, redis_url: str
) -> None:
    shared = Path(os.environ.get("ZKAI_DATA_DIR", REPO_ROOT / ".zkai-test"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ZKAI_") and not k.startswith("APE_")
    }
    env.update(
        {
            "ZKAI_DATA_DIR": str(tmp_path),
            "ZKAI_ARTIFACTS_DIR": str(shared / "artifacts"),
            "ZKAI_REDIS_URL": redis_url,
        }
    )
    ports = ["--rpc-port", str(free_port()), "--api-port", str(free_port())]
    state_file = tmp_path / "localnet" / "state.json"
    client = redis.Redis.from_url(redis_url)
    try:
        up = zkai(env, "up", *ports, "--json")
        assert up.returncode == 0, up.stderr[-3000:]
        first = json.loads(up.stdout)
        api = first["endpoints"]["api"]
        _query(env)
        _wait(lambda: _stats(api)["queries"] == 1, 30, "the first chain's query indexed")
        assert _redis_leftovers(client, first["chain_identity"], first["nodes"])

        # A node service killed outright: its worker must not outlive it.
        records = LocalnetState.load(state_file).processes
        (node,) = [r for r in records if r.name == "node-1"]
        assert len(process_group_members(node.pid)) > 1, "the service and its Celery worker"
        os.kill(node.pid, signal.SIGKILL)
        _wait(lambda: not process_group_members(node.pid), 30, "the orphaned worker to exit")

        down = zkai(env, "down")
        assert down.returncode == 0, down.stderr
        for record in records:
            assert process_group_members(record.pid) == [], f"{record.name} left processes"
        assert _redis_leftovers(client, first["chain_identity"], first["nodes"]) == []

        up = zkai(env, "up", *ports, "--json")
        assert up.returncode == 0, up.stderr[-3000:]
        second = json.loads(up.stdout)
        assert second["chain_identity"] != first["chain_identity"], "a new chain"
        health = requests.get(f"{api}/api/health", timeout=10)
        assert health.status_code == 200, health.text
        assert _stats(api)["queries"] == 0, "the first chain's query is not served"
        answer = _query(env)
        assert answer["latency_s"] < 30
        _wait(lambda: _stats(api)["queries"] == 1, 30, "the second chain's query indexed")
        url = f"{api}/api/queries/{answer['query_id']}"
        _wait(
            lambda: requests.get(url, timeout=10).json()["status"] == "complete",
            30,
            "the second chain's query indexed as complete",
        )
    finally:
        zkai(env, "down")
        for record in LocalnetState.load(state_file).processes:
            stop_process(record)
        client.close()
