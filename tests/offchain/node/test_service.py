"""`zkai node run`: two nodes serve a query posted straight to the contracts, and are paid."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from zkai.node.operator import SHARE_PAID, node_status
from zkai.node.state import NodeState
from zkai.wallet.keystore import Keystore

from .conftest import Network
from .localchain import NodeProcess, new_user, post_query, results_of, share_status, wait_for


def test_two_nodes_serve_a_query_and_are_paid_once(
    network: Network, nodes_running: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    chain = network.chain
    identities = [network.new_node(), network.new_node()]
    procs = [nodes_running(identity, concurrency=2) for identity in identities]
    for proc in procs:
        proc.wait_event("service.started", timeout=60)
    token = chain.contract("ZKAIToken")
    before = [int(chain.call(token.functions.balanceOf(i.account.address))) for i in identities]
    user = new_user(chain)
    posted = post_query(
        chain,
        user,
        network.manifest,
        network.model_id,
        [(i.account.address, i.encryption_public_key) for i in identities],
    )
    for index, proc in enumerate(procs):
        submitted = proc.wait_event(
            "share.submitted", timeout=60, query_id=posted.query_id, share_index=index
        )
        assert submitted["since_enqueue_ms"] is not None
    wait_for(
        lambda: all(share_status(chain, posted.query_id, i) == SHARE_PAID for i in (0, 1)),
        30,
        "both shares paid",
    )

    # With the workers warm: time from the request's receipt to both submission receipts.
    second = post_query(
        chain,
        user,
        network.manifest,
        network.model_id,
        [(i.account.address, i.encryption_public_key) for i in identities],
    )
    for index, proc in enumerate(procs):
        proc.wait_event("share.submitted", timeout=30, query_id=second.query_id, share_index=index)
    latencies = [
        e["ts"] - second.posted_at
        for proc in procs
        for e in proc.find("share.submitted", query_id=second.query_id)
    ]
    print(
        f"per-share latency, request sent -> submission mined: {latencies} s; "
        f"task: {[e['duration_ms'] for p in procs for e in p.find('share.submitted')]} ms"
    )
    assert max(latencies) < 10
    wait_for(
        lambda: all(share_status(chain, second.query_id, i) == SHARE_PAID for i in (0, 1)),
        30,
        "both shares of the second query paid",
    )
    assert len(results_of(chain, posted.query_id)) == 2
    payout = int(chain.call(chain.contract("QueryMarket").functions.shareSplit(posted.query_id))[0])
    after = [int(chain.call(token.functions.balanceOf(i.account.address))) for i in identities]
    # Each node proved one share of each query and was paid exactly once for each.
    assert [a - b for a, b in zip(after, before, strict=True)] == [2 * payout, 2 * payout]

    # Health: the status command reads the heartbeat, the queue and the chain.
    identity = identities[0]
    state = NodeState.for_chain(Keystore(network.data_dir).node_dir(identity.name), chain)
    facts = node_status(
        chain,
        identity.account.address,
        node_name=identity.name,
        state=state,
        redis_url=network.redis_url,
    )
    assert facts["registered"]
    assert facts["eligible"]
    assert facts["running"]
    assert facts["claimable"] == 0
    assert facts["queue_length"] == 0
    assert facts["cursor"] >= posted.block
    cli = subprocess.run(
        [str(Path(sys.executable).with_name("zkai")), "node", "status", identity.name, "--json"],
        env=network.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["worker_alive"] is True

    for proc in procs:
        proc.stop()
        assert proc.process is not None
        assert proc.process.returncode == 0, proc.tail()
        assert proc.find("service.stopped")
