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
from zkai.node.keys import UnlockedNode

from .conftest import Network
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
    assert health["parts"] == [f"{network.model_id}:0"]
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
    assert proc.find("claim.claimed", query="0x" + user.query.hex())
    attempts = proc.find("claim.started", query="0x" + user.query.hex())
    assert len(attempts) >= 2
    assert attempts[0]["pid"] != attempts[-1]["pid"]
