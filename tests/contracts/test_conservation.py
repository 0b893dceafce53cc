"""Token conservation per query, over seeded random queries: escrow = payouts + cuts + refund.

Each seed draws a query (budgets, which assignments claim and how many rounds, whether settle
happens early or after t_P, slashes on top), runs it on anvil from a snapshot, and checks every
token movement against the escrow; the market ends holding only unswept cuts, and nothing else.
"""

from __future__ import annotations

import random

import pytest

from tests.contracts.conftest import PART0, PART1, warp_to

PRICES = [PART0["price"], PART1["price"]]
MAX_ROUNDS = [PART0["maxRounds"], PART1["maxRounds"]]


@pytest.mark.parametrize("seed", range(12))
def test_conservation_escrow_equals_payouts_cuts_refund(
    seed, proto, market, token, nodes, chain, treasury, rewards
):
    rng = random.Random(seed)
    snapshot = chain.snapshot()
    try:
        _run(rng, proto, market, token, nodes, chain, treasury, rewards)
    finally:
        chain.restore(snapshot)


def _run(rng, proto, market, token, nodes, chain, treasury, rewards):
    part0 = rng.sample(nodes, 2)
    budgets = [rng.randint(1, MAX_ROUNDS[0]), rng.randint(1, MAX_ROUNDS[1])]
    market_before = token.balanceOf(market)
    accrued_before = sum(market.accruedFees())
    user_before = token.balanceOf(proto.user)
    node_before = {n.address: token.balanceOf(n) for n in nodes}
    placed = proto.request(nodes=[part0, [nodes[2]]], budgets=budgets)
    escrow = placed.escrow
    assert escrow == 2 * budgets[0] * PRICES[0] + budgets[1] * PRICES[1]
    assert token.balanceOf(proto.user) == user_before - escrow

    payouts = credits = 0
    assignments = [(0, part0[0]), (0, part0[1]), (1, nodes[2])]
    claimed = 0
    for part, node in assignments:
        if rng.random() < 0.7:
            rounds = rng.randint(1, budgets[part])
            receipt, _ = proto.claim(placed, part, node, rounds)
            [event] = receipt.events.filter(market.Claimed)
            assert event.credit == rounds * PRICES[part]
            payouts += event.payout
            credits += event.credit
            claimed += 1
    if claimed < len(assignments) or rng.random() < 0.5:
        warp_to(chain, placed.proof_deadline + 1)
    if claimed < len(assignments) and rng.random() < 0.5:
        # a slash on top moves stake, never escrow
        part, node = next(
            a for a in assignments if market.getAssignment(placed.query_id, *a).rounds == 0
        )
        ack = proto.ack(placed, part, node, 1, 1, 2)
        market.slash(placed.query_id, part, node, 1, 1, 2, ack, sender=proto.user)
    receipt = market.settle(placed.query_id, sender=proto.user)
    refund = receipt.events.filter(market.QuerySettled)[0].refund
    cuts = sum(market.accruedFees()) - accrued_before

    assert escrow == payouts + cuts + refund
    assert credits == payouts + cuts
    assert token.balanceOf(proto.user) == user_before - escrow + refund
    paid = sum(token.balanceOf(n) - node_before[n.address] for n in nodes)
    assert paid == payouts
    assert token.balanceOf(market) == market_before + cuts

    t0, r0 = token.balanceOf(treasury), token.balanceOf(rewards)
    market.sweepFees(sender=proto.user)
    swept = token.balanceOf(treasury) - t0 + token.balanceOf(rewards) - r0
    assert swept == cuts + accrued_before
    assert token.balanceOf(market) == market_before - accrued_before
