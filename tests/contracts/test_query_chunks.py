"""QueryMarket v2, chunked claims (PROTOCOL.md step 4, "Chunks"): an assignment whose budget is
above R_max is claimed in consecutive chunks of at most R_max rounds, each proving rounds n0+1..n
from the (n0, T_n0, O_n0) its previous chunk recorded; every way to cheat the chain of chunks is
refused, the cuts stay exact per chunk, and slashing and settlement read the latest claim.

The chunked model (conftest CHUNKED): one part, k = 2 (nodes 0 and 1), R_max = 3, maxBudget = 8.
"""

from __future__ import annotations

import random

import ape
import pytest
from eth_abi import encode
from eth_utils import keccak

from tests.contracts.conftest import (
    CHUNKED,
    CONTRIBUTOR_FEE_BPS,
    PROTOCOL_FEE_BPS,
    Claim,
    warp_to,
)
from tests.contracts.zk import FIELD
from zkai.protocol.messages import RoundMessage

R = CHUNKED["maxRounds"]
PRICE = CHUNKED["price"]


def cut(credit: int, bps: int) -> int:
    return credit * bps // 10_000


def payout_of(credit: int) -> int:
    return credit - cut(credit, PROTOCOL_FEE_BPS) - cut(credit, CONTRIBUTOR_FEE_BPS)


def transcript_hash(t: int, o: int) -> bytes:
    return keccak(encode(["uint256", "uint256"], [t, o]))


@pytest.fixture
def chunked(proto, nodes):
    """Request a query of the chunked model for nodes 0 and 1 with `budget` rounds each."""

    def request(budget: int = 8, **kwargs):
        return proto.request(
            model_id=proto.model_chunked, nodes=[[nodes[0], nodes[1]]], budgets=[budget], **kwargs
        )

    return request


def resign(proto, placed, node, claim: Claim, rounds: int) -> Claim:
    """`claim` with the session's Round signed again for `rounds` (the proof unchanged)."""
    s = claim.statement
    message = RoundMessage(
        placed.query_id,
        0,
        node.address,
        rounds,
        claim.commitment,
        s.input_transcript,
        s.prev_output_transcript,
    )
    return Claim(s, claim.commitment, message.sign(proto.domain, placed.session), claim.proof)


# ------------------------------------------------------------------ the honest path


def test_chunks_claim_a_budget_of_8_as_3_3_2(proto, market, token, nodes, chunked):
    placed = chunked(8)
    before = token.balanceOf(nodes[0])
    previous = None
    paid = 0
    for rounds, final in [(3, False), (6, False), (8, True)]:
        receipt, claim = proto.claim(placed, 0, nodes[0], rounds, after=previous)
        s = claim.statement
        assert s.start_rounds == (previous.statement.rounds if previous else 0)
        credit = (rounds - s.start_rounds) * PRICE
        [event] = receipt.events.filter(market.Claimed)
        assert (event.node, event.rounds, event.credit, event.payout) == (
            nodes[0].address,
            rounds,
            credit,
            payout_of(credit),
        )
        assert (event.inputTranscript, event.outputTranscript) == (
            s.input_transcript,
            s.output_transcript,
        )
        a = market.getAssignment(placed.query_id, 0, nodes[0])
        assert (a.rounds, a.finalised, a.maxRounds) == (rounds, final, R)
        assert bytes(a.transcriptHash) == transcript_hash(s.input_transcript, s.output_transcript)
        paid += payout_of(credit)
        previous = claim
    assert token.balanceOf(nodes[0]) == before + paid
    query = market.getQuery(placed.query_id)
    assert (query.credits, query.unclaimed, query.unfinalised) == (8 * PRICE, 1, 1)


def test_chunk_ending_at_budget_with_r_max_rounds_is_final(proto, market, nodes, chunked):
    placed = chunked(6)
    _, first = proto.claim(placed, 0, nodes[0], 3)
    assert not market.getAssignment(placed.query_id, 0, nodes[0]).finalised
    proto.claim(placed, 0, nodes[0], 6, after=first)
    assert market.getAssignment(placed.query_id, 0, nodes[0]).finalised


def test_budget_within_r_max_is_one_final_claim(proto, market, nodes, chunked):
    placed = chunked(3)
    proto.claim(placed, 0, nodes[0], 3)
    a = market.getAssignment(placed.query_id, 0, nodes[0])
    assert (a.rounds, a.finalised) == (3, True)


# ------------------------------------------------------------------ attacks on the chain of chunks


def test_chunk_longer_than_r_max_refused(proto, market, nodes, chunked):
    placed = chunked(8)
    too_long = proto.prove(placed, 0, nodes[0], R + 1)  # a valid proof and Round for n = 4
    assert proto.circuit.verify_offchain(too_long.proof, too_long.statement.public_inputs)
    with ape.reverts(market.ChunkTooLong, rounds=4, startRounds=0, maxRounds=R):
        market.claim(*too_long.args(placed.query_id, 0), sender=nodes[0])
    _, first = proto.claim(placed, 0, nodes[0], 3)
    second = proto.prove(placed, 0, nodes[0], 7, after=first)  # rounds 4..7: 4 > R_max
    with ape.reverts(market.ChunkTooLong, rounds=7, startRounds=3, maxRounds=R):
        market.claim(*second.args(placed.query_id, 0), sender=nodes[0])


def test_second_chunk_with_wrong_start_transcripts_refused(proto, market, nodes, chunked):
    placed = chunked(8)
    _, first = proto.claim(placed, 0, nodes[0], 3)
    _, other = proto.claim(placed, 0, nodes[1], 3)  # the other assignment's chunk
    f, o = first.statement, other.statement
    wrong = [
        (f.input_transcript + 1, f.output_transcript),
        (f.input_transcript, f.output_transcript + 1),
        (f.output_transcript, f.input_transcript),
        (0, 0),
        (o.input_transcript, o.output_transcript),
    ]
    for start in wrong:
        # a valid proof from these start transcripts (n0 = 3): only the record refuses it
        claim = proto.prove(placed, 0, nodes[0], 6, start_rounds=3, start_transcripts=start)
        assert proto.circuit.verify_offchain(claim.proof, claim.statement.public_inputs)
        with ape.reverts(
            market.StartTranscriptMismatch,
            queryId=placed.query_id,
            part=0,
            node=nodes[0].address,
            startRounds=3,
        ):
            market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])
    proto.claim(placed, 0, nodes[0], 6, after=first)  # the recorded ones are accepted


def test_first_claim_with_start_transcripts_refused(proto, market, nodes, chunked):
    placed = chunked(8)
    claim = proto.prove(placed, 0, nodes[0], 3, start_rounds=0, start_transcripts=(5, 0))
    with ape.reverts(market.StartTranscriptMismatch, startRounds=0):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_chunk_after_final_short_chunk_refused(proto, market, nodes, chunked):
    placed = chunked(8)
    _, short = proto.claim(placed, 0, nodes[0], 2)  # fewer than R_max rounds: final
    assert market.getAssignment(placed.query_id, 0, nodes[0]).finalised
    more = proto.prove(placed, 0, nodes[0], 5, after=short)  # rounds 3..5 from the record
    with ape.reverts(
        market.AlreadyFinalised, queryId=placed.query_id, part=0, node=nodes[0].address, rounds=2
    ):
        market.claim(*more.args(placed.query_id, 0), sender=nodes[0])
    # also after a short continuation chunk
    _, first = proto.claim(placed, 0, nodes[1], 3)
    _, second = proto.claim(placed, 0, nodes[1], 4, after=first)
    third = proto.prove(placed, 0, nodes[1], 7, after=second)
    with ape.reverts(market.AlreadyFinalised, rounds=4):
        market.claim(*third.args(placed.query_id, 0), sender=nodes[1])


def test_chunk_past_budget_refused(proto, market, nodes, chunked):
    placed = chunked(5)
    _, first = proto.claim(placed, 0, nodes[0], 3)
    past = proto.prove(placed, 0, nodes[0], 6, after=first)  # 3 rounds, but n = 6 > B = 5
    assert proto.circuit.verify_offchain(past.proof, past.statement.public_inputs)
    with ape.reverts(market.RoundsOutOfRange, rounds=6, claimed=3, budget=5):
        market.claim(*past.args(placed.query_id, 0), sender=nodes[0])
    proto.claim(placed, 0, nodes[0], 5, after=first)
    a = market.getAssignment(placed.query_id, 0, nodes[0])
    assert (a.rounds, a.finalised) == (5, True)


def test_chunk_replaying_previous_chunk_refused(proto, market, nodes, chunked):
    placed = chunked(8)
    _, first = proto.claim(placed, 0, nodes[0], 3)
    # the same transaction again: n = n0 = 3
    with ape.reverts(market.RoundsOutOfRange, rounds=3, claimed=3, budget=8):
        market.claim(*first.args(placed.query_id, 0), sender=nodes[0])
    # the previous chunk's proof for rounds 4..6, from the recorded start, the Round re-signed
    replay = resign(proto, placed, nodes[0], first, 6)
    args = list(replay.args(placed.query_id, 0))
    args[2] = 6
    args[7], args[8] = first.statement.input_transcript, first.statement.output_transcript
    with ape.reverts(market.InvalidProof, queryId=placed.query_id, part=0, node=nodes[0].address):
        market.claim(*args, sender=nodes[0])
    assert market.getAssignment(placed.query_id, 0, nodes[0]).rounds == 3


@pytest.mark.parametrize("n0", [0, 1, 2, 4])
def test_chunk_with_caller_chosen_n0_refused(proto, market, nodes, chunked, n0):
    # The claim takes no n0: a proof over any n0 but the recorded one (3) is refused, even from
    # the recorded start transcripts.
    placed = chunked(8)
    _, first = proto.claim(placed, 0, nodes[0], 3)
    f = first.statement
    claim = proto.prove(
        placed,
        0,
        nodes[0],
        6,
        start_rounds=n0,
        start_transcripts=(f.input_transcript, f.output_transcript),
    )
    assert proto.circuit.verify_offchain(claim.proof, claim.statement.public_inputs)
    with ape.reverts(market.InvalidProof):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_first_claim_with_caller_chosen_n0_refused(proto, market, nodes, chunked):
    placed = chunked(8)
    claim = proto.prove(placed, 0, nodes[0], 3, start_rounds=1)  # n0 = 1, start (0, 0)
    with ape.reverts(market.InvalidProof):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_chunk_after_proof_deadline_refused(proto, market, nodes, chunked, chain):
    placed = chunked(8)
    _, first = proto.claim(placed, 0, nodes[0], 3)
    second = proto.prove(placed, 0, nodes[0], 6, after=first)
    warp_to(chain, placed.proof_deadline + 1)
    with ape.reverts(market.ClaimTooLate, queryId=placed.query_id):
        market.claim(*second.args(placed.query_id, 0), sender=nodes[0])


def test_chunk_at_proof_deadline_accepted(proto, market, nodes, chunked, chain):
    placed = chunked(8)
    _, first = proto.claim(placed, 0, nodes[0], 3)
    second = proto.prove(placed, 0, nodes[0], 6, after=first)
    chain.pending_timestamp = placed.proof_deadline
    market.claim(*second.args(placed.query_id, 0), sender=nodes[0])


def test_chunk_proof_with_wrong_chunk_input_refused(proto, market, nodes, chunked):
    placed = chunked(8)
    _, first = proto.claim(placed, 0, nodes[0], 3)
    second = proto.prove(placed, 0, nodes[0], 6, after=first)
    args = list(second.args(placed.query_id, 0))
    args[6] = (args[6] + 1) % FIELD  # O_n the proof does not prove
    with ape.reverts(market.InvalidProof):
        market.claim(*args, sender=nodes[0])


# ------------------------------------------------------------------ settle, conservation, slashing


def test_early_settle_refused_while_an_assignment_is_not_finalised(
    proto, market, nodes, chunked, token
):
    placed = chunked(8)
    a0 = None
    for rounds in (3, 6, 8):
        _, a0 = proto.claim(placed, 0, nodes[0], rounds, after=a0)
    _, a1 = proto.claim(placed, 0, nodes[1], 3)  # claimed, not finalised
    query = market.getQuery(placed.query_id)
    assert (query.unclaimed, query.unfinalised) == (0, 1)
    with ape.reverts(market.SettleTooEarly, queryId=placed.query_id, unfinalised=1):
        market.settle(placed.query_id, sender=proto.user)
    proto.claim(placed, 0, nodes[1], 5, after=a1)  # a short final chunk
    user_before = token.balanceOf(proto.user)
    receipt = market.settle(placed.query_id, sender=proto.user)
    [event] = receipt.events.filter(market.QuerySettled)
    assert (event.credits, event.refund) == (13 * PRICE, 3 * PRICE)
    assert token.balanceOf(proto.user) == user_before + 3 * PRICE


def test_chunk_cuts_differ_from_whole_credit_cuts():
    # The test prices are chosen so a per-credit floor would lose or invent tokens.
    for bps in (PROTOCOL_FEE_BPS, CONTRIBUTOR_FEE_BPS):
        per_chunk = 2 * cut(R * PRICE, bps) + cut(2 * PRICE, bps)
        assert per_chunk != cut(8 * PRICE, bps)
        assert cut(R * PRICE, bps) != R * cut(PRICE, bps)


@pytest.mark.parametrize("seed", range(8))
def test_conservation_with_chunks(
    seed, proto, market, token, nodes, chunked, chain, treasury, rewards
):
    rng = random.Random(seed)
    snapshot = chain.snapshot()
    try:
        budget = rng.randint(1, CHUNKED["maxBudget"])
        accrued_before = sum(market.accruedFees())
        market_before = token.balanceOf(market)
        user_before = token.balanceOf(proto.user)
        node_before = [token.balanceOf(n) for n in nodes[:2]]
        placed = chunked(budget)
        assert placed.escrow == 2 * budget * PRICE
        payouts = credits = expected_cuts = 0
        finalised_all = True
        for node in nodes[:2]:
            n, previous = 0, None
            while n < budget and rng.random() < 0.85:
                # a full chunk, or (sometimes) a short final one
                step = min(R, budget - n)
                if step == R and rng.random() < 0.3:
                    step = rng.randint(1, R - 1) if R > 1 else 1
                receipt, previous = proto.claim(placed, 0, node, n + step, after=previous)
                [event] = receipt.events.filter(market.Claimed)
                assert event.credit == step * PRICE
                assert event.payout == payout_of(step * PRICE)
                payouts += event.payout
                credits += event.credit
                expected_cuts += cut(event.credit, PROTOCOL_FEE_BPS)
                expected_cuts += cut(event.credit, CONTRIBUTOR_FEE_BPS)
                n += step
                if step < R or n == budget:
                    break
            a = market.getAssignment(placed.query_id, 0, node)
            assert a.rounds == n
            finalised_all &= bool(a.finalised)
        if not finalised_all or rng.random() < 0.5:
            warp_to(chain, placed.proof_deadline + 1)
        receipt = market.settle(placed.query_id, sender=proto.user)
        refund = receipt.events.filter(market.QuerySettled)[0].refund
        cuts = sum(market.accruedFees()) - accrued_before

        assert cuts == expected_cuts
        assert placed.escrow == payouts + cuts + refund
        assert credits == payouts + cuts
        assert token.balanceOf(proto.user) == user_before - placed.escrow + refund
        paid = sum(token.balanceOf(n) - b for n, b in zip(nodes[:2], node_before, strict=True))
        assert paid == payouts
        assert token.balanceOf(market) == market_before + cuts
        t0, r0 = token.balanceOf(treasury), token.balanceOf(rewards)
        market.sweepFees(sender=proto.user)
        swept = token.balanceOf(treasury) - t0 + token.balanceOf(rewards) - r0
        assert swept == accrued_before + cuts
    finally:
        chain.restore(snapshot)


def test_slashing_after_chunks_reads_the_latest_claim(proto, market, nodes, chunked, chain):
    placed = chunked(8)
    _, first = proto.claim(placed, 0, nodes[0], 3)
    _, second = proto.claim(placed, 0, nodes[0], 6, after=first)  # not finalised
    f, s = first.statement, second.statement
    after = placed.proof_deadline + 1
    # rounds up to the latest n = 6 are covered, whatever the Ack says of earlier rounds
    covered = [
        (3, f.input_transcript, f.output_transcript),
        (3, 1, 2),
        (5, 1, 2),
        (6, s.input_transcript, s.output_transcript),
    ]
    acks = [(i, t, o, proto.ack(placed, 0, nodes[0], i, t, o)) for i, t, o in covered]
    beyond = proto.ack(placed, 0, nodes[0], 7, 1, 2)
    stale = proto.ack(placed, 0, nodes[0], 6, f.input_transcript, f.output_transcript)
    warp_to(chain, after)
    for i, t, o, ack in acks:
        with ape.reverts(market.NotSlashable, round=i):
            market.slash(placed.query_id, 0, nodes[0], i, t, o, ack, sender=proto.user)
    snapshot = chain.snapshot()
    # an Ack of round 7: the latest claim has fewer rounds
    receipt = market.slash(placed.query_id, 0, nodes[0], 7, 1, 2, beyond, sender=proto.user)
    assert receipt.events.filter(market.AssignmentSlashed)[0].reason == 2
    chain.restore(snapshot)
    # an Ack of round 6 with the first chunk's transcripts: not the latest claim's (T_6, O_6)
    args = (f.input_transcript, f.output_transcript, stale)
    receipt = market.slash(placed.query_id, 0, nodes[0], 6, *args, sender=proto.user)
    assert receipt.events.filter(market.AssignmentSlashed)[0].reason == 3


# ------------------------------------------------------------------ the Python wrapper


def test_claim_call_and_assignment_reader_on_chunks(proto, market, nodes, chunked, chain):
    """zkai.protocol.market.claim_call (web3) sends the same claim as the ABI, chunk after
    chunk, and AssignmentRecord reads rounds, finalised and max_rounds back."""
    from web3 import HTTPProvider, Web3

    from zkai.protocol.market import AssignmentRecord, claim_call, struct_fields

    w3 = Web3(HTTPProvider(chain.provider.uri))
    abi = [entry.model_dump(by_alias=True, mode="json") for entry in market.contract_type.abi]
    contract = w3.eth.contract(address=market.address, abi=abi)
    placed = chunked(5)

    def send(claim: Claim) -> AssignmentRecord:
        s = claim.statement
        fn = claim_call(
            contract,
            placed.query_id,
            0,
            s.rounds,
            claim.commitment,
            s.input_transcript,
            s.prev_output_transcript,
            s.output_transcript,
            claim.signature,
            claim.proof,
            start_input_transcript=s.start_input_transcript,
            start_output_transcript=s.start_output_transcript,
        )
        data = fn._encode_transaction_data()
        assert bytes.fromhex(data[2:]) == bytes(
            market.claim.encode_input(*claim.args(placed.query_id, 0))
        )
        tx = w3.eth.send_transaction({"from": nodes[0].address, "to": market.address, "data": data})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        value = contract.functions.getAssignment(placed.query_id, 0, nodes[0].address).call()
        fields = struct_fields(contract, "getAssignment", value)
        return AssignmentRecord(placed.query_id, 0, nodes[0].address, fields)

    first = proto.prove(placed, 0, nodes[0], 3)
    record = send(first)
    assert (record.rounds, record.finalised, record.max_rounds) == (3, False, R)
    s = first.statement
    assert record.claimed_transcripts(s.input_transcript, s.output_transcript)
    record = send(proto.prove(placed, 0, nodes[0], 5, after=first))
    assert (record.rounds, record.finalised, record.max_rounds) == (5, True, R)
    with pytest.raises(ValueError, match="8 words"):
        claim_call(contract, placed.query_id, 0, 1, 0, 0, 0, 0, b"", [0] * 7)
