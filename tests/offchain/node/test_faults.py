"""Fault tests of the node service: real Celery workers, a real Redis, a real anvil.

- A worker process is killed (SIGKILL) in the middle of a task: the share is still proven, and
  submitted and paid exactly once.
- Under the recovery settings' defaults and the client's default deadline, a worker's pool
  process, or its Celery main process, is killed mid-proof: the share is proven well before the
  deadline (the measured recovery time is printed), and settling the query slashes nobody.
- Redis is restarted while a task waits in the queue (Redis keeps nothing on disk): no task is
  lost; reconciliation re-enqueues it from the chain.
- The RPC (anvil) stops and starts again: the listener survives and serves new queries; a node
  service that was down catches up from its cursor.
- A payload that fails to decrypt, or does not open its commitment: no submission, a logged
  reason, no retries, and the user is refunded when the query is settled after the deadline.
- A node that asked to unstake after a share was assigned still serves it and is paid (the
  market accepts results from unbonding nodes; a miss would be slashed from the unbonding stake).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from web3.logs import DISCARD

from zkai.circuits.artifacts import CircuitArtifacts
from zkai.client.query import DEFAULT_DEADLINE_S
from zkai.config import Settings
from zkai.devservices import start_redis
from zkai.node.operator import SHARE_PAID, SHARE_PENDING, node_record, request_unstake
from zkai.node.state import NodeState
from zkai.wallet.keystore import Keystore, NodeIdentity

from .conftest import Network, make_network
from .localchain import (
    NodeProcess,
    PostedQuery,
    new_user,
    post_query,
    results_of,
    share_status,
    wait_for,
)

pytestmark = pytest.mark.slow

RECOVERY_BOUND_S = 45
"""A killed worker's share must be submitted within this: well within the default deadline."""


def _paid(network: Network, query_id: int, shares: int = 2) -> bool:
    return all(share_status(network.chain, query_id, i) == SHARE_PAID for i in range(shares))


def _default_recovery_settings() -> dict[str, str]:
    """What decides how fast a crash is recovered, at its defaults (the fixture's environment
    shortens these for the other tests)."""
    names = (
        "node_lock_ttl_s",
        "node_visibility_timeout_s",
        "node_requeue_after_s",
        "node_reconcile_interval_s",
    )
    return {f"ZKAI_{name.upper()}": str(Settings.model_fields[name].default) for name in names}


def _query_of_two(network: Network, first: NodeIdentity, second: NodeIdentity) -> PostedQuery:
    return post_query(
        network.chain,
        new_user(network.chain),
        network.manifest,
        network.model_id,
        [(n.account.address, n.encryption_public_key) for n in (first, second)],
        deadline_s=DEFAULT_DEADLINE_S,
    )


def _settled_without_slashing(network: Network, posted: PostedQuery) -> None:
    """Every share proven before the deadline; after it, settling refunds and slashes nothing."""
    chain = network.chain
    results = results_of(chain, posted.query_id)
    assert sorted(int(e["args"]["shareIndex"]) for e in results) == [0, 1]
    for event in results:
        assert int(chain.w3.eth.get_block(event["blockNumber"])["timestamp"]) <= posted.deadline
    registry = chain.contract("NodeRegistry")
    stakes = [int(chain.call(registry.functions.getNode(n))[1]) for n in posted.nodes]
    network.increase_time(posted.deadline - int(chain.w3.eth.get_block("latest")["timestamp"]) + 1)
    market = chain.contract("QueryMarket")
    receipt = chain.transact(new_user(chain), market.functions.settle(posted.query_id))
    (settled,) = market.events.QuerySettled().process_receipt(receipt, errors=DISCARD)
    assert settled["args"]["missedShares"] == 0
    assert settled["args"]["refund"] == 0
    assert market.events.ShareMissed().process_receipt(receipt, errors=DISCARD) == ()
    assert [int(chain.call(registry.functions.getNode(n))[1]) for n in posted.nodes] == stakes


def test_killed_worker_mid_task_share_is_proven_and_paid_once(
    network: Network, nodes_running: Callable[..., NodeProcess]
) -> None:
    chain = network.chain
    victim, other = network.new_node(), network.new_node()
    proc = nodes_running(victim, ZKAI_NODE_TASK_PAUSE_S="3")
    nodes_running(other)
    proc.wait_event("service.started")
    token = chain.contract("ZKAIToken")
    before = int(chain.call(token.functions.balanceOf(victim.account.address)))
    posted = post_query(
        chain,
        new_user(chain),
        network.manifest,
        network.model_id,
        [
            (victim.account.address, victim.encryption_public_key),
            (other.account.address, other.encryption_public_key),
        ],
    )
    started = proc.wait_event("share.started", query_id=posted.query_id, share_index=0)
    os.kill(started["pid"], signal.SIGKILL)  # the pool process running the task

    wait_for(lambda: _paid(network, posted.query_id), 60, "both shares paid")
    # The listener may claim the share before the worker has logged its receipt.
    proc.wait_event("share.submitted", timeout=10, query_id=posted.query_id, share_index=0)
    starts = proc.find("share.started", query_id=posted.query_id, share_index=0)
    assert len({s["pid"] for s in starts}) >= 2, "the task ran again in another process"
    assert len(proc.find("share.submitted", query_id=posted.query_id, share_index=0)) == 1
    assert [int(e["args"]["shareIndex"]) for e in results_of(chain, posted.query_id)].count(0) == 1
    payout = int(chain.call(chain.contract("QueryMarket").functions.shareSplit(posted.query_id))[0])
    assert int(chain.call(token.functions.balanceOf(victim.account.address))) - before == payout


def test_killed_pool_process_under_default_deadline_share_proven_in_time_nobody_slashed(
    network: Network, nodes_running: Callable[..., NodeProcess]
) -> None:
    victim, other = network.new_node(), network.new_node()
    proc = nodes_running(victim, ZKAI_NODE_TASK_PAUSE_S="3", **_default_recovery_settings())
    nodes_running(other, **_default_recovery_settings())
    proc.wait_event("service.started")
    posted = _query_of_two(network, victim, other)
    started = proc.wait_event("share.started", query_id=posted.query_id, share_index=0)
    os.kill(started["pid"], signal.SIGKILL)  # the pool process proving the share
    killed_at = time.time()
    submitted = proc.wait_event(
        "share.submitted", timeout=RECOVERY_BOUND_S, query_id=posted.query_id, share_index=0
    )
    print(f"recovered {submitted['ts'] - killed_at:.1f} s after the pool process was killed")
    assert submitted["ts"] < posted.deadline
    wait_for(lambda: len(results_of(network.chain, posted.query_id)) == 2, 30, "both shares")
    _settled_without_slashing(network, posted)


def test_killed_worker_main_process_under_default_deadline_share_proven_in_time_nobody_slashed(
    network: Network, nodes_running: Callable[..., NodeProcess]
) -> None:
    victim, other = network.new_node(), network.new_node()
    proc = nodes_running(victim, ZKAI_NODE_TASK_PAUSE_S="3", **_default_recovery_settings())
    nodes_running(other, **_default_recovery_settings())
    worker = proc.wait_event("service.worker_started")["worker_pid"]
    proc.wait_event("service.started")
    posted = _query_of_two(network, victim, other)
    started = proc.wait_event("share.started", query_id=posted.query_id, share_index=0)
    os.kill(worker, signal.SIGKILL)  # Celery's main process; its pool dies with it
    killed_at = time.time()
    proc.wait_event("service.worker_exited", worker_pid=worker)
    submitted = proc.wait_event(
        "share.submitted", timeout=RECOVERY_BOUND_S, query_id=posted.query_id, share_index=0
    )
    print(f"recovered {submitted['ts'] - killed_at:.1f} s after the worker's main process died")
    assert submitted["ts"] < posted.deadline
    restarted = proc.find("share.started", query_id=posted.query_id, share_index=0)
    assert started["pid"] not in {s["pid"] for s in restarted[1:]}, "proven by the new worker"
    wait_for(lambda: len(results_of(network.chain, posted.query_id)) == 2, 30, "both shares")
    assert len(proc.find("share.submitted", query_id=posted.query_id, share_index=0)) == 1
    _settled_without_slashing(network, posted)


def test_redis_restart_loses_no_task(
    network: Network, nodes_running: Callable[..., NodeProcess]
) -> None:
    server = start_redis()
    try:
        chain = network.chain
        a, b = network.new_node(), network.new_node()
        env = {"ZKAI_REDIS_URL": server.url, "ZKAI_NODE_TASK_PAUSE_S": "2"}
        procs = [nodes_running(a, **env), nodes_running(b, **env)]
        for proc in procs:
            proc.wait_event("service.started")
        user = new_user(chain)
        nodes = [(n.account.address, n.encryption_public_key) for n in (a, b)]
        first = post_query(chain, user, network.manifest, network.model_id, nodes)
        second = post_query(chain, user, network.manifest, network.model_id, nodes)
        # The first query's task runs (paused); the second's waits in Redis. Restart Redis.
        procs[0].wait_event("share.started", query_id=first.query_id)
        procs[0].wait_event("share.enqueued", query_id=second.query_id)
        server.restart()
        wait_for(
            lambda: _paid(network, first.query_id) and _paid(network, second.query_id),
            90,
            "all shares of both queries paid",
        )
        requeued = [e for p in procs for e in p.find("share.enqueued", why="reconcile")]
        assert requeued, "reconciliation re-enqueued what the restart lost"
        for proc in procs:
            for query in (first, second):
                assert len(proc.find("share.submitted", query_id=query.query_id)) == 1
    finally:
        server.stop()


def test_rpc_restart_listener_catches_up(
    tmp_path: Path,
    tiny_artifacts: CircuitArtifacts,
    redis_url: str,
    nodes_running: Callable[..., NodeProcess],
) -> None:
    (tmp_path / "chain").mkdir()
    network = make_network(tmp_path / "chain", tiny_artifacts, redis_url)
    try:
        a, b = network.new_node(), network.new_node()
        pa = nodes_running(a, net=network)
        pb = nodes_running(b, net=network)
        for proc in (pa, pb):
            proc.wait_event("service.started")
        network.anvil.stop()
        pa.wait_event("listener.unavailable", timeout=30)
        time.sleep(1)
        network.anvil.start()
        pa.wait_event("listener.recovered", timeout=30)
        user = new_user(network.chain)
        nodes = [(n.account.address, n.encryption_public_key) for n in (a, b)]
        first = post_query(network.chain, user, network.manifest, network.model_id, nodes)
        wait_for(lambda: _paid(network, first.query_id), 60, "shares paid after the RPC restart")

        # A node that was down while a query was assigned to it catches up from its cursor.
        pb.stop()
        second = post_query(network.chain, user, network.manifest, network.model_id, nodes)
        pa.wait_event("share.submitted", query_id=second.query_id)
        assert share_status(network.chain, second.query_id, 1) == SHARE_PENDING
        pb.start()
        pb.wait_event("share.enqueued", query_id=second.query_id, why="assigned")
        wait_for(lambda: _paid(network, second.query_id), 60, "the late node's share paid")
        assert len(pb.find("share.submitted", query_id=second.query_id)) == 1
    finally:
        network.anvil.stop()


def test_bad_payloads_are_never_submitted_and_the_user_is_refunded(
    network: Network, nodes_running: Callable[..., NodeProcess]
) -> None:
    chain = network.chain
    a, b = network.new_node(), network.new_node()
    procs = [nodes_running(a), nodes_running(b)]
    for proc in procs:
        proc.wait_event("service.started")
    user = new_user(chain)
    token = chain.contract("ZKAIToken")
    balance = int(chain.call(token.functions.balanceOf(user.address)))

    def tamper(j: int, commitment: int, payload: bytes) -> tuple[int, bytes]:
        if j == 0:
            return commitment, bytes(len(payload))  # not a sealed box for node a
        return commitment ^ 1, payload  # opens, but to another commitment

    posted = post_query(
        chain,
        user,
        network.manifest,
        network.model_id,
        [(n.account.address, n.encryption_public_key) for n in (a, b)],
        tamper=tamper,
    )
    reasons = [
        procs[j].wait_event("share.rejected", query_id=posted.query_id, share_index=j)["reason"]
        for j in (0, 1)
    ]
    assert reasons == ["decryption_failed", "commitment_mismatch"]
    time.sleep(5)  # several reconciliation rounds: a rejected share is not retried
    for j, proc in enumerate(procs):
        assert len(proc.find("share.enqueued", query_id=posted.query_id)) == 1
        assert len(proc.find("share.started", query_id=posted.query_id)) == 1
        state = NodeState.for_chain(Keystore(network.data_dir).node_dir((a, b)[j].name), chain)
        assert state.rejection(posted.query_id, j) is not None
    assert results_of(chain, posted.query_id) == []

    network.increase_time(posted.deadline - int(chain.w3.eth.get_block("latest")["timestamp"]) + 1)
    receipt = chain.transact(user, chain.contract("QueryMarket").functions.settle(posted.query_id))
    (settled,) = (
        chain.contract("QueryMarket").events.QuerySettled().process_receipt(receipt, errors=DISCARD)
    )
    assert settled["args"]["refund"] == posted.fee
    assert int(chain.call(token.functions.balanceOf(user.address))) == balance


def test_node_that_unstaked_after_assignment_still_serves_and_is_paid(
    network: Network, nodes_running: Callable[..., NodeProcess]
) -> None:
    chain = network.chain
    a, b = network.new_node(), network.new_node()
    posted = post_query(
        chain,
        new_user(chain),
        network.manifest,
        network.model_id,
        [(n.account.address, n.encryption_public_key) for n in (a, b)],
    )
    request_unstake(chain, a.account)
    registry = chain.contract("NodeRegistry")
    assert not chain.call(registry.functions.isEligible(a.account.address))
    assert node_record(chain, a.account.address).unbonding
    for node in (a, b):
        nodes_running(node)
    wait_for(lambda: _paid(network, posted.query_id), 60, "both shares paid")
