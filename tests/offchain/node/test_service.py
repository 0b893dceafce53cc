"""`zkai node run` as a real process: its HTTP round endpoint serves a round, its scheduler and
Celery worker prove and claim it, and a worker killed mid-proof still gets the claim landed
(#14's liveness locks and fast redelivery). Real anvil, Redis, uvicorn, Celery and Groth16."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

import requests

from zkai.devservices import free_port
from zkai.models.manifest import Manifest
from zkai.node.keys import UnlockedNode

from .conftest import CHUNK_BUDGET, Network
from .localchain import NodeProcess, UserQuery, wait_for


def _keys(network: Network, node: UnlockedNode) -> dict[str, bytes]:
    record = network.chain.contract("NodeRegistry").functions.getNode(node.address).call()
    return {node.address: bytes(record[0])}


def _claimed_rounds(network: Network, user: UserQuery, node: UnlockedNode) -> int:
    market = network.chain.contract("QueryMarket")
    return int(market.functions.getAssignment(user.query, 0, node.address).call()[2])


def _serve_one(network: Network, node: UnlockedNode, port: int, budget: int = 1) -> UserQuery:
    user = network.user_query([node], budget)
    (sent,) = user.deal(1, [3, 1, 4], _keys(network, node))
    user.request(round_s=120, proof_s=120)
    response = requests.post(
        f"http://127.0.0.1:{port}/v2/rounds", data=json.dumps(sent.body), timeout=30
    )
    assert response.status_code == 200, response.text
    return user


def _ready(proc: NodeProcess, port: int) -> dict[str, Any]:
    proc.wait_event("service.started", timeout=120)
    answer: dict[str, Any] = requests.get(f"http://127.0.0.1:{port}/v2/health", timeout=5).json()
    return answer


def test_service_round_served_over_http_is_claimed_and_paid(
    network: Network, nodes_running: Callable[..., NodeProcess]
) -> None:
    port = free_port()
    node = network.new_node(endpoint=f"http://127.0.0.1:{port}")
    proc = nodes_running(node, port)
    health = _ready(proc, port)
    assert health["node"] == node.address
    assert health["parts"] == [[network.model_id, 0]]
    user = _serve_one(network, node, port)
    wait_for(lambda: _claimed_rounds(network, user, node) == 1, 120, "the claim on-chain")
    proc.wait_event("claim.claimed", timeout=30, query="0x" + user.query.hex())


def test_service_worker_killed_mid_proof_claim_still_lands(
    network: Network, nodes_running: Callable[..., NodeProcess]
) -> None:
    port = free_port()
    node = network.new_node(endpoint=f"http://127.0.0.1:{port}")
    proc = nodes_running(node, port, ZKAI_NODE_TASK_PAUSE_S="4")
    _ready(proc, port)
    user = _serve_one(network, node, port)
    started = proc.wait_event("claim.started", timeout=60, query="0x" + user.query.hex())
    os.kill(int(started["pid"]), signal.SIGKILL)
    wait_for(lambda: _claimed_rounds(network, user, node) == 1, 120, "the claim after the kill")
    proc.wait_event("claim.claimed", timeout=30, query="0x" + user.query.hex())
    attempts = proc.find("claim.started", query="0x" + user.query.hex())
    assert len(attempts) >= 2
    assert attempts[0]["pid"] != attempts[-1]["pid"]


def test_service_restart_keeps_served_rounds(
    network: Network, nodes_running: Callable[..., NodeProcess]
) -> None:
    port = free_port()
    node = network.new_node(endpoint=f"http://127.0.0.1:{port}")
    proc = nodes_running(node, port)
    _ready(proc, port)
    user = network.user_query([node], 3)
    keys = _keys(network, node)
    (sent,) = user.deal(1, [2, 7, 1], keys)
    user.request(round_s=300, proof_s=120)
    url = f"http://127.0.0.1:{port}/v2/rounds"
    first = requests.post(url, data=json.dumps(sent.body), timeout=30)
    assert first.status_code == 200, first.text
    proc.stop()
    restarted = nodes_running(node, port)
    _ready(restarted, port)
    again = requests.post(url, data=json.dumps(sent.body), timeout=30)
    assert again.json() == first.json()
    user.states.clear()
    (other,) = user.deal(1, [9, 9, 9], keys)
    refused = requests.post(url, data=json.dumps(other.body), timeout=30)
    assert refused.status_code == 409
    assert refused.json()["reason"] == "round-out-of-order"


def test_service_killed_between_chunks_resumes_and_finalises(
    network: Network,
    chunked_model: tuple[int, Manifest],
    nodes_running: Callable[..., NodeProcess],
) -> None:
    """A budget of 2.5 x R_max over HTTP to `zkai node run`: chunk 1-2 is claimed while the node
    serves round 3; the whole node (service and worker) is SIGKILLed; the restarted node serves
    rounds 4 and 5 from its store and claims 3-4 and 5 from the chain's record."""
    model_id, _ = chunked_model
    port = free_port()
    node = network.new_node(endpoint=f"http://127.0.0.1:{port}", model_id=model_id)
    proc = nodes_running(node, port, ZKAI_NODE_LOCK_TTL_S="30")
    _ready(proc, port)
    user = network.user_query([node], CHUNK_BUDGET, model=chunked_model)
    keys = _keys(network, node)
    url = f"http://127.0.0.1:{port}/v2/rounds"

    def serve(i: int) -> None:
        (sent,) = user.deal(i, [(5 * i + k) % 16 for k in range(64)], keys)
        if i == 1:
            user.request(round_s=300, proof_s=300)
        response = requests.post(url, data=json.dumps(sent.body), timeout=30)
        assert response.status_code == 200, response.text
        answer = response.json()
        user.accept(node.address, sent, [int(v, 16) for v in answer["outputs"]])

    serve(1)
    serve(2)
    serve(3)  # served while chunk 1-2 is enqueued / proven
    wait_for(lambda: _claimed_rounds(network, user, node) == 2, 120, "chunk 1-2 on-chain")
    assert proc.process is not None
    os.killpg(proc.process.pid, signal.SIGKILL)  # the service and its worker, no clean-up
    proc.process.wait()
    restarted = nodes_running(node, port, ZKAI_NODE_LOCK_TTL_S="30")
    _ready(restarted, port)
    serve(4)
    serve(5)
    wait_for(lambda: _claimed_rounds(network, user, node) == 5, 180, "chunks 3-4 and 5")
    record = (
        network.chain.contract("QueryMarket").functions.getAssignment(user.query, 0, node.address)
    ).call()
    assert record[5]  # finalised
    query = "0x" + user.query.hex()
    # the restarted node claimed both remaining chunks (its log lines follow the receipts)
    restarted.wait_event("claim.claimed", timeout=30, query=query, start=2, rounds=4)
    restarted.wait_event("claim.claimed", timeout=30, query=query, start=4, rounds=5)
