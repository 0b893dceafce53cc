"""Token conservation over random sequences: escrowed = paid + refunded + fees, always.

Hypothesis draws a list of operations (requests, proven submissions, time jumps, settlements,
payout claims, fee sweeps) and replays it on anvil against a fresh snapshot; after every step the
market's balance must equal what the Python model says is still owed, and in the end every fee
escrowed must be accounted for as a node payout, a refund, a protocol cut or a contributor cut.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.conftest import warp_to

BPS = 10_000
MODEL_SHARES = 2
MODEL_PRICE = 10**18 + 2  # split in 2 odd halves, so the cuts round down


@dataclass
class QueryModel:
    query_id: int
    deadline: int
    fee_per_share: int
    proven: list[int]
    status: list[str] = field(default_factory=lambda: ["pending"] * MODEL_SHARES)
    settled: bool = False


operations = st.lists(
    st.one_of(
        st.tuples(st.just("request"), st.integers(0, 2), st.integers(0, 1)),
        st.tuples(st.just("submit"), st.integers(0, 20), st.integers(0, MODEL_SHARES - 1)),
        st.tuples(st.just("warp"), st.integers(100, 4_000), st.just(0)),
        st.tuples(st.just("settle"), st.integers(0, 20), st.just(0)),
        st.tuples(st.just("claim"), st.integers(0, 2), st.just(0)),
        st.tuples(st.just("sweep"), st.just(0), st.just(0)),
    ),
    min_size=4,
    max_size=14,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_conservation_random_sequences(
    ops, chain, market, token, funded_user, nodes, model3, proven_pool, treasury, rewards, owner
):
    snapshot = chain.snapshot()
    try:
        _run(
            ops,
            chain,
            market,
            token,
            funded_user,
            nodes,
            model3,
            proven_pool,
            treasury,
            rewards,
            owner,
        )
    finally:
        chain.restore(snapshot)


@pytest.fixture(scope="module")
def model3(model_registry, model_owner, circuit3, deploy_verifier):
    """A k=2, 3-output model whose price does not split into round cuts."""
    _, adapter = deploy_verifier(circuit3)
    receipt = model_registry.registerModel(
        adapter, b"\x01" * 32, 2, 3, MODEL_SHARES, MODEL_PRICE, sender=model_owner
    )
    return receipt.events.filter(model_registry.ModelRegistered)[0].modelId


@pytest.fixture(scope="module")
def proven_pool(circuit3):
    """Shares with their proofs, reused across queries (each proof binds to its commitment)."""
    rng = random.Random(7)
    shares = [circuit3.random_share(rng) for _ in range(4)]
    return shares, [circuit3.prove(share) for share in shares]


def _now(chain) -> int:
    return chain.blocks.head.timestamp


def _run(ops, chain, market, token, user, nodes, model_id, proven_pool, treasury, rewards, owner):
    pool, proofs = proven_pool
    protocol_bps, contributor_bps = market.fees()

    queries: list[QueryModel] = []
    unclaimed: dict[str, list[tuple[int, int]]] = {n.address: [] for n in nodes}
    escrowed = paid = refunded = protocol = contributor = 0
    accrued = [0, 0]
    start_balance = token.balanceOf(market)

    def cuts(fee: int) -> tuple[int, int, int]:
        p, c = fee * protocol_bps // BPS, fee * contributor_bps // BPS
        return fee - p - c, p, c

    for kind, a, b in ops:
        if kind == "request":
            chosen = [nodes[a], nodes[(a + 1 + b) % 3]]
            picks = [(a + i) % len(pool) for i in range(MODEL_SHARES)]
            deadline = _now(chain) + 3_000
            receipt = market.requestQuery(
                model_id,
                chosen,
                [pool[p].commitment for p in picks],
                [b"", b""],
                deadline,
                sender=user,
            )
            qid = receipt.events.filter(market.QueryRequested)[0].queryId
            queries.append(QueryModel(qid, deadline, MODEL_PRICE // MODEL_SHARES, picks))
            queries[-1].nodes = chosen  # type: ignore[attr-defined]
            escrowed += MODEL_PRICE
        elif kind == "submit" and queries:
            q = queries[a % len(queries)]
            if q.status[b] != "pending" or _now(chain) + 5 > q.deadline:
                continue
            pick = q.proven[b]
            node = q.nodes[b]  # type: ignore[attr-defined]
            market.submitResult(q.query_id, b, pool[pick].outputs, proofs[pick], sender=node)
            q.status[b] = "submitted"
            unclaimed[node.address].append((q.query_id, b))
        elif kind == "warp":
            warp_to(chain, _now(chain) + a)
        elif kind == "settle" and queries:
            q = queries[a % len(queries)]
            if q.settled or _now(chain) <= q.deadline + 1:
                continue
            receipt = market.settle(q.query_id, sender=owner)
            missed = [i for i, s in enumerate(q.status) if s == "pending"]
            for i in missed:
                q.status[i] = "missed"
            q.settled = True
            refund = len(missed) * q.fee_per_share
            assert receipt.events.filter(market.QuerySettled)[0].refund == refund
            refunded += refund
        elif kind == "claim":
            node = nodes[a]
            refs = unclaimed[node.address]
            if not refs:
                continue
            before = token.balanceOf(node)
            market.claimPayouts([r[0] for r in refs], [r[1] for r in refs], sender=node)
            fee = MODEL_PRICE // MODEL_SHARES
            payout, p, c = cuts(fee)
            assert token.balanceOf(node) - before == payout * len(refs)
            for query_id, index in refs:
                next(q for q in queries if q.query_id == query_id).status[index] = "paid"
            paid += payout * len(refs)
            accrued[0] += p * len(refs)
            accrued[1] += c * len(refs)
            unclaimed[node.address] = []
        elif kind == "sweep":
            t0, r0 = token.balanceOf(treasury), token.balanceOf(rewards)
            market.sweepFees(sender=owner)
            assert token.balanceOf(treasury) - t0 == accrued[0]
            assert token.balanceOf(rewards) - r0 == accrued[1]
            protocol += accrued[0]
            contributor += accrued[1]
            accrued = [0, 0]
        # After every step: the market holds exactly what is still owed to someone.
        still_escrowed = sum(
            q.fee_per_share for q in queries for s in q.status if s in ("pending", "submitted")
        )
        assert token.balanceOf(market) - start_balance == still_escrowed + sum(accrued)
        assert market.accruedFees() == tuple(accrued)

    # Finish every query: settle, claim, sweep; then escrowed = paid + refunded + fees exactly.
    if queries:
        warp_to(chain, max(q.deadline for q in queries) + 10)
    for q in queries:
        if not q.settled:
            refunded += len([s for s in q.status if s == "pending"]) * q.fee_per_share
            market.settle(q.query_id, sender=owner)
    for node in nodes:
        refs = unclaimed[node.address]
        if refs:
            payout, p, c = cuts(MODEL_PRICE // MODEL_SHARES)
            market.claimPayouts([r[0] for r in refs], [r[1] for r in refs], sender=node)
            paid += payout * len(refs)
            accrued[0] += p * len(refs)
            accrued[1] += c * len(refs)
    market.sweepFees(sender=owner)
    protocol += accrued[0]
    contributor += accrued[1]
    assert escrowed == paid + refunded + protocol + contributor
    assert token.balanceOf(market) == start_balance
