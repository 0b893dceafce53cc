"""Chunked claims (PROTOCOL.md v2 step 4 "Chunks"): a part whose budget exceeds R_max is claimed
in consecutive chunks of at most R_max rounds, each proven from the (n0, T_n0, O_n0) the chain
recorded for the previous one, while the node keeps serving later rounds.

The chunked part is the digits demo block with max_rounds 2 and max_budget 5 (conftest): a budget
of 5 gets three claims (rounds 1-2, 3-4, 5), each paid (n - n0) * price less the cuts, and the
last one finalises the assignment. Real anvil, Redis and Groth16 proofs; the node's round logic
and claim processor in this process (a restart is a new store handle and processor on the same
file). The `zkai node run` process killed between chunks is in test_service.py.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from zkai.models.manifest import Manifest
from zkai.models.store import ManifestStore
from zkai.node.chainview import ChainView
from zkai.node.claims import ClaimProcessor, is_final, next_claim
from zkai.node.endpoint import create_endpoint
from zkai.node.keys import UnlockedNode
from zkai.node.rounds import RoundService, _owed_proofs
from zkai.node.store import CLAIMED, OPEN, AssignmentRow, RoundStore
from zkai.protocol.market import transcript_hash

from .conftest import CHUNK_BUDGET, CHUNK_R_MAX, PRICE, Network, chunked_digits_manifest
from .localchain import UserQuery, increase_time, register_part_model
from .test_claims import _balance, _expected_payout, _keys

Model = tuple[int, Manifest]


@pytest.fixture
def node(network: Network, chunked_model: Model) -> UnlockedNode:
    return network.new_node(model_id=chunked_model[0])


def _service(network: Network, node: UnlockedNode, path: Path) -> RoundService:
    return network.service(node, path)


def _claims(network: Network, service: RoundService, client: redis.Redis) -> ClaimProcessor:
    return ClaimProcessor(
        service.node, ChainView(network.chain), service.store, service.parts, client
    )


def _serve(
    network: Network,
    node: UnlockedNode,
    service: RoundService,
    user: UserQuery,
    rounds: range,
) -> list[dict[str, Any]]:
    """Serve `rounds` (requesting the query when round 1 is dealt); the node's answers."""
    client = TestClient(create_endpoint(service))
    answers = []
    for i in rounds:
        (sent,) = user.deal(i, [(i * 7 + k) % 16 for k in range(64)], _keys(network, node))
        if i == 1:
            user.request(round_s=300, proof_s=300)
        response = client.post("/v2/rounds", content=json.dumps(sent.body))
        assert response.status_code == 200, response.json()
        answer = response.json()
        user.accept(node.address, sent, [int(v, 16) for v in answer["outputs"]])
        answers.append(answer)
    return answers


def _record(network: Network, user: UserQuery, node: UnlockedNode) -> Any:
    return ChainView(network.chain).assignment(user.query, 0, node.address)


def _claimed_events(network: Network, user: UserQuery) -> list[dict[str, Any]]:
    chain = network.chain
    events = chain.events(
        "QueryMarket",
        "Claimed",
        chain.deployment.start_block,
        int(chain.w3.eth.block_number),
        {"queryId": user.query},
    )
    return [dict(e["args"]) for e in events]


def test_a_budget_of_2_5_r_max_is_claimed_in_three_paid_chunks(
    network: Network,
    chunked_model: Model,
    node: UnlockedNode,
    tmp_path: Path,
    redis_client: redis.Redis,
) -> None:
    service = _service(network, node, tmp_path / "rounds.sqlite3")
    claims = _claims(network, service, redis_client)
    user = network.user_query([node], CHUNK_BUDGET, model=chunked_model)
    before = _balance(network.chain, node.address)
    _serve(network, node, service, user, range(1, 2))
    assert claims.process(user.query, 0) == "not_due"  # half a chunk, round 2 may come
    _serve(network, node, service, user, range(2, 4))  # rounds 2, 3: chunk 1-2 is full
    assert claims.process(user.query, 0) == "claimed"
    record = _record(network, user, node)
    assert (record.claimed_rounds, record.finalised, record.max_rounds) == (2, False, CHUNK_R_MAX)
    state = user.states[node.address]
    assert state.rounds == 3
    stored = service.store.assignment(user.query, 0, node.address)
    assert stored is not None
    assert (stored.state, stored.claimed_rounds) == (OPEN, 2)
    # the node serves on after a chunk is claimed: rounds 4 and 5, then chunks 3-4 and 5
    answers = _serve(network, node, service, user, range(4, 6))
    assert claims.process(user.query, 0) == "claimed"
    record = _record(network, user, node)
    assert (record.claimed_rounds, record.finalised) == (CHUNK_BUDGET, True)
    t_5 = user.pending[5][0].message.input_transcript
    assert record.transcript_hash == transcript_hash(t_5, int(answers[-1]["output_transcript"], 16))
    events = _claimed_events(network, user)
    assert [(e["rounds"], e["credit"]) for e in events] == [
        (2, 2 * PRICE),
        (4, 2 * PRICE),
        (5, PRICE),
    ]
    payouts = [_expected_payout(network.chain, e["credit"]) for e in events]
    assert [e["payout"] for e in events] == payouts
    assert _balance(network.chain, node.address) - before == sum(payouts)
    assert claims.process(user.query, 0) == "already_claimed"
    stored = service.store.assignment(user.query, 0, node.address)
    assert stored is not None
    assert stored.state == CLAIMED


def test_a_node_restarted_between_chunks_resumes_from_the_chain_and_its_store(
    network: Network,
    chunked_model: Model,
    node: UnlockedNode,
    tmp_path: Path,
    redis_client: redis.Redis,
) -> None:
    path = tmp_path / "rounds.sqlite3"
    service = _service(network, node, path)
    user = network.user_query([node], CHUNK_BUDGET, model=chunked_model)
    _serve(network, node, service, user, range(1, 3))
    assert _claims(network, service, redis_client).process(user.query, 0) == "claimed"
    _serve(network, node, service, user, range(3, 4))
    service.store.close()  # the node stops between chunks, its store on disk
    restarted = _service(network, node, path)
    # the restarted node serves round 4 from its store's transcripts, and claims 3-4 from the
    # chain's n0 = 2 and keccak(T_2, O_2), which must be its own round 2's
    _serve(network, node, restarted, user, range(4, 5))
    claims = _claims(network, restarted, redis_client)
    assert claims.process(user.query, 0) == "claimed"
    record = _record(network, user, node)
    assert (record.claimed_rounds, record.finalised) == (4, False)
    increase_time(network.chain, 301)  # past t_R: no round 5 will come
    assert claims.process(user.query, 0) == "already_claimed"
    record = _record(network, user, node)
    assert (record.claimed_rounds, record.finalised) == (4, False)  # all served rounds claimed
    stored = restarted.store.assignment(user.query, 0, node.address)
    assert stored is not None
    assert stored.state == CLAIMED  # nothing more to claim; settle waits for t_P


def test_a_short_final_chunk_after_the_round_deadline_finalises(
    network: Network,
    chunked_model: Model,
    node: UnlockedNode,
    tmp_path: Path,
    redis_client: redis.Redis,
) -> None:
    service = _service(network, node, tmp_path / "rounds.sqlite3")
    claims = _claims(network, service, redis_client)
    user = network.user_query([node], CHUNK_BUDGET, model=chunked_model)
    _serve(network, node, service, user, range(1, 4))
    assert claims.process(user.query, 0) == "claimed"  # chunk 1-2
    assert claims.process(user.query, 0) == "not_due"  # round 3 alone: round 4 may come
    increase_time(network.chain, 301)
    assert claims.process(user.query, 0) == "claimed"  # chunk 3 (1 < R_max rounds): final
    record = _record(network, user, node)
    assert (record.claimed_rounds, record.finalised) == (3, True)
    assert [e["rounds"] for e in _claimed_events(network, user)] == [2, 3]
    # check (b): a finalised assignment serves no further round
    (sent,) = user.deal(4, [1] * 64, _keys(network, node))
    response = TestClient(create_endpoint(service)).post(
        "/v2/rounds", content=json.dumps(sent.body)
    )
    assert response.status_code == 409
    assert response.json()["reason"] == "claimed"
    assert "finalised" in response.json()["detail"]


# -- chain-free: which claim is due, and what check (f) counts -----------------------------


def _row(budget: int, claimed: int = 0, max_rounds: int = 2, t_r: int = 100) -> AssignmentRow:
    return AssignmentRow(
        query=b"\x01" * 32,
        part=0,
        node="0x" + "22" * 20,
        tag=1,
        model_id=1,
        version=1,
        budget=budget,
        round_deadline=t_r,
        proof_deadline=t_r + 100,
        ack_signer="0x" + "33" * 20,
        encryption_key=b"\x00" * 32,
        claimed_rounds=claimed,
        max_rounds=max_rounds,
    )


def test_a_part_registered_above_its_manifests_max_budget_is_refused_at_round_1(
    network: Network, tmp_path: Path
) -> None:
    """An owner registers the chunked manifest with maxBudget 7 (the manifest says 5): a user may
    buy 7 rounds, the node's manifest stops at 5. The node refuses before its first Ack instead
    of acking rounds 1..5 and refusing round 6 mid-generation."""
    manifest = chunked_digits_manifest()
    model_id = register_part_model(
        network.chain, manifest, price=PRICE, shares=1, max_budget=CHUNK_BUDGET + 2
    )
    ManifestStore(network.data_dir / "manifests").put(manifest)
    node = network.new_node(model_id=model_id)
    service = _service(network, node, tmp_path / "rounds.sqlite3")
    user = network.user_query([node], CHUNK_BUDGET + 2, model=(model_id, manifest))
    (sent,) = user.deal(1, [k % 16 for k in range(64)], _keys(network, node))
    user.request(round_s=300, proof_s=300)
    response = TestClient(create_endpoint(service)).post(
        "/v2/rounds", content=json.dumps(sent.body)
    )
    assert response.status_code >= 400
    answer = response.json()
    assert answer["reason"] == "part-not-served", answer
    assert "max_rounds/max_budget 2/7" in answer["detail"]
    assert service.store.rounds(user.query, 0, node.address) == []  # nothing stored, no Ack
    # still loaded for claims: rounds an older node version acked stay provable and claimable
    served = service.parts.get(model_id, 1, 0)
    assert served.limits_mismatch is not None
    assert served.terms.max_budget == CHUNK_BUDGET + 2


def test_next_claim_takes_full_chunks_then_the_rest() -> None:
    assert next_claim(_row(5), 1, now=0) is None
    assert next_claim(_row(5), 2, now=0) == 2  # a full chunk: claim while serving on
    assert next_claim(_row(5), 3, now=0) == 2
    assert next_claim(_row(5, claimed=2), 3, now=0) is None
    assert next_claim(_row(5, claimed=2), 3, now=100) == 3  # t_R passed: the final chunk
    assert next_claim(_row(5, claimed=4), 5, now=0) == 5  # the budget is used
    assert next_claim(_row(5, claimed=4), 4, now=100) is None  # nothing past n0
    # a part that is not chunked (budget <= R_max) is claimed once, as before chunks
    assert next_claim(_row(3, max_rounds=3), 2, now=0) is None
    assert next_claim(_row(3, max_rounds=3), 3, now=0) == 3
    assert next_claim(_row(3, max_rounds=0), 3, now=0) == 3  # R_max not recorded: one claim
    assert not is_final(_row(5), 2)
    assert is_final(_row(5, claimed=2), 3)  # shorter than R_max
    assert is_final(_row(4, claimed=2), 4)  # the budget
    assert not is_final(_row(6, claimed=2), 4)


def test_capacity_counts_one_proof_per_owed_chunk() -> None:
    # budget 5, R_max 2: three proofs; none ready before t_R while rounds may still come
    assert _owed_proofs(_row(5), 0, now=10.0) == [100.0, 100.0, 100.0]
    assert _owed_proofs(_row(5), 3, now=10.0) == [10.0, 100.0, 100.0]  # chunk 1-2 served
    assert _owed_proofs(_row(5, claimed=2), 3, now=10.0) == [100.0, 100.0]
    assert _owed_proofs(_row(5, claimed=4), 5, now=10.0) == [10.0]  # the budget is served
    assert _owed_proofs(_row(5, claimed=5), 5, now=10.0) == []
    assert _owed_proofs(_row(3, max_rounds=3), 1, now=10.0) == [100.0]


def test_store_keeps_claimed_rounds_and_adds_the_columns_to_an_old_store(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE assignments (query TEXT NOT NULL, part INTEGER NOT NULL, node TEXT NOT "
        "NULL, tag TEXT NOT NULL, model_id INTEGER NOT NULL, version INTEGER NOT NULL, budget "
        "INTEGER NOT NULL, round_deadline INTEGER NOT NULL, proof_deadline INTEGER NOT NULL, "
        "ack_signer TEXT NOT NULL, encryption_key TEXT NOT NULL, state TEXT NOT NULL DEFAULT "
        "'open', claim_tx TEXT, detail TEXT, updated REAL NOT NULL, PRIMARY KEY (query, part, "
        "node));"
        "INSERT INTO assignments VALUES ('01', 0, '0xab', '0x1', 1, 1, 3, 10, 20, '0xcd', '00', "
        "'claimed', NULL, NULL, 0);"
    )
    old.commit()
    old.close()
    store = RoundStore(path)
    (row,) = store.assignments(("claimed",))
    assert (row.claimed_rounds, row.max_rounds, row.budget) == (0, 0, 3)
    fresh = _row(5)
    store.ensure_assignment(fresh)
    store.set_claimed_rounds(fresh.query, 0, fresh.node, 2)
    store.set_claimed_rounds(fresh.query, 0, fresh.node, 1)  # never moves back
    got = store.assignment(fresh.query, 0, fresh.node)
    assert got is not None
    assert (got.claimed_rounds, got.max_rounds) == (2, 2)
    store.close()
