"""QueryMarket v2, claim: one proven claim per assignment, paid at once; everything else refused."""

from __future__ import annotations

import ape
import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

from tests.contracts.conftest import (
    CONTRIBUTOR_FEE_BPS,
    PART0,
    PART1,
    PROTOCOL_FEE_BPS,
    warp_to,
)
from tests.contracts.zk import FIELD
from zkai.protocol.messages import Domain


def split(credit: int) -> tuple[int, int, int]:
    protocol = credit * PROTOCOL_FEE_BPS // 10_000
    contributor = credit * CONTRIBUTOR_FEE_BPS // 10_000
    return credit - protocol - contributor, protocol, contributor


def test_claim_valid_pays_node_and_records_transcript_hash(proto, market, token, nodes):
    placed = proto.request(budgets=[2, 3])
    before = token.balanceOf(nodes[2])
    receipt, claim = proto.claim(placed, 1, nodes[2], 2)
    statement = claim.statement
    credit = 2 * PART1["price"]
    payout, _, _ = split(credit)
    assert token.balanceOf(nodes[2]) == before + payout
    [event] = receipt.events.filter(market.Claimed)
    assert (event.part, event.node, event.rounds, event.credit, event.payout) == (
        1,
        nodes[2].address,
        2,
        credit,
        payout,
    )
    assert (event.inputTranscript, event.outputTranscript) == (
        statement.input_transcript,
        statement.output_transcript,
    )
    a = market.getAssignment(placed.query_id, 1, nodes[2])
    expected_hash = keccak(
        encode(["uint256", "uint256"], [statement.input_transcript, statement.output_transcript])
    )
    assert (a.rounds, bytes(a.transcriptHash)) == (2, expected_hash)
    query = market.getQuery(placed.query_id)
    assert (query.credits, query.unclaimed) == (credit, 2)
    # the cuts stay in the market until settle adds them to the accrued fees
    assert market.accruedFees() == (0, 0)
    assert token.balanceOf(market) == placed.escrow - payout


def test_claim_wrong_output_transcript_refused(proto, market, nodes):
    placed = proto.request()
    claim = proto.prove(placed, 0, nodes[0], 1)
    args = list(claim.args(placed.query_id, 0))
    args[6] = (args[6] + 1) % FIELD  # O_n the proof does not prove
    with ape.reverts(market.InvalidProof, queryId=placed.query_id, part=0, node=nodes[0].address):
        market.claim(*args, sender=nodes[0])


def test_claim_proof_of_another_query_refused(proto, market, nodes):
    a, b = proto.request(), proto.request()
    foreign = proto.prove(a, 0, nodes[0], 1)  # proof over a's tag
    own = proto.prove(b, 0, nodes[0], 1, tag=foreign.statement.tag)  # b's session signs it
    own.proof = foreign.proof
    with ape.reverts(market.InvalidProof):
        market.claim(*own.args(b.query_id, 0), sender=nodes[0])


def test_claim_proof_of_another_node_refused(proto, market, nodes):
    placed = proto.request()
    theirs = proto.prove(placed, 0, nodes[0], 1)  # node 0's tag
    # node 1 submits node 0's statement and proof, with a Round the session signed for node 1
    mine = proto.prove(placed, 0, nodes[1], 1, tag=theirs.statement.tag)
    mine.proof = theirs.proof
    with ape.reverts(market.InvalidProof):
        market.claim(*mine.args(placed.query_id, 0), sender=nodes[1])


def test_claim_proof_of_another_part_refused(proto, market, nodes):
    placed = proto.request(nodes=[[nodes[0], nodes[2]], [nodes[2]]])
    part0 = proto.prove(placed, 0, nodes[2], 1)
    claim = proto.prove(placed, 1, nodes[2], 1, tag=part0.statement.tag)
    with ape.reverts(market.InvalidProof):
        market.claim(*claim.args(placed.query_id, 1), sender=nodes[2])


def test_claim_proof_of_another_round_count_refused(proto, market, nodes):
    placed = proto.request(budgets=[2, 3])
    claim = proto.prove(placed, 1, nodes[2], 1, sign_rounds=2)  # proof of n = 1, Round for 2
    args = list(claim.args(placed.query_id, 1))
    args[2] = 2
    with ape.reverts(market.InvalidProof):
        market.claim(*args, sender=nodes[2])


@pytest.mark.parametrize("tag", [0, 1, 2**200])
def test_claim_caller_chosen_tag_refused(proto, market, nodes, tag):
    # The claim takes no tag: a proof over any tag but the contract's own is refused.
    placed = proto.request()
    claim = proto.prove(placed, 0, nodes[0], 1, tag=tag)
    with ape.reverts(market.InvalidProof):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_claim_inflated_rounds_above_budget_refused(proto, market, nodes):
    placed = proto.request(budgets=[2, 3])
    claim = proto.prove(placed, 0, nodes[0], 3)  # a valid proof and Round for n = 3 > B = 2
    assert proto.circuit.verify_offchain(claim.proof, claim.statement.public_inputs)
    with ape.reverts(market.RoundsOutOfRange, rounds=3, budget=2):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_claim_zero_rounds_refused(proto, market, nodes):
    placed = proto.request()
    claim = proto.prove(placed, 0, nodes[0], 0)
    with ape.reverts(market.RoundsOutOfRange, rounds=0, budget=2):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_claim_replayed_refused(proto, market, nodes):
    placed = proto.request()
    _, claim = proto.claim(placed, 0, nodes[0], 2)
    with ape.reverts(
        market.AlreadyFinalised, queryId=placed.query_id, part=0, node=nodes[0].address
    ):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])
    other = proto.prove(placed, 0, nodes[0], 1)  # a second, different claim: also refused
    with ape.reverts(market.AlreadyFinalised):
        market.claim(*other.args(placed.query_id, 0), sender=nodes[0])


def test_claim_after_proof_deadline_refused(proto, market, nodes, chain):
    placed = proto.request()
    claim = proto.prove(placed, 0, nodes[0], 1)
    warp_to(chain, placed.proof_deadline + 1)
    with ape.reverts(market.ClaimTooLate, queryId=placed.query_id):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_claim_at_proof_deadline_accepted(proto, market, nodes, chain):
    placed = proto.request()
    claim = proto.prove(placed, 0, nodes[0], 1)
    chain.pending_timestamp = placed.proof_deadline
    market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_claim_session_signature_by_someone_else_refused(proto, market, nodes):
    placed = proto.request()
    impostor = Account.create()
    claim = proto.prove(placed, 0, nodes[0], 1, session=impostor)
    with ape.reverts(market.InvalidSessionSignature, recovered=impostor.address):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_claim_round_signed_for_other_market_refused(proto, market, nodes, chain):
    placed = proto.request()
    other = Domain(chain.chain_id, nodes[1].address)
    claim = proto.prove(placed, 0, nodes[0], 1, domain=other)
    with ape.reverts(market.InvalidSessionSignature):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_claim_signed_fields_changed_refused(proto, market, nodes):
    placed = proto.request()
    claim = proto.prove(placed, 0, nodes[0], 1)
    args = list(claim.args(placed.query_id, 0))
    args[3] = (args[3] + 1) % FIELD  # commitment not the signed one
    with ape.reverts(market.InvalidSessionSignature):
        market.claim(*args, sender=nodes[0])


def test_claim_malformed_signature_refused(proto, market, nodes):
    placed = proto.request()
    claim = proto.prove(placed, 0, nodes[0], 1)
    claim.signature = claim.signature[:64]
    with ape.reverts(market.InvalidSessionSignature):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_claim_high_s_signature_refused(proto, market, nodes):
    placed = proto.request()
    claim = proto.prove(placed, 0, nodes[0], 1)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    r, s, v = (
        claim.signature[:32],
        int.from_bytes(claim.signature[32:64], "big"),
        claim.signature[64],
    )
    claim.signature = r + (n - s).to_bytes(32, "big") + bytes([55 - v])  # the malleable twin
    with ape.reverts(market.InvalidSessionSignature):
        market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])


def test_claim_not_assigned_refused(proto, market, nodes, stranger):
    placed = proto.request()
    claim = proto.prove(placed, 1, nodes[0], 1)  # node 0 is not on part 1
    with ape.reverts(market.NotAssigned, part=1, node=nodes[0].address):
        market.claim(*claim.args(placed.query_id, 1), sender=nodes[0])
    claim = proto.prove(placed, 0, stranger, 1)
    with ape.reverts(market.NotAssigned, node=stranger.address):
        market.claim(*claim.args(placed.query_id, 0), sender=stranger)


def test_claim_by_other_account_than_the_node_refused(proto, market, nodes, stranger):
    placed = proto.request()
    claim = proto.prove(placed, 0, nodes[0], 1)
    with ape.reverts(market.NotAssigned, node=stranger.address):
        market.claim(*claim.args(placed.query_id, 0), sender=stranger)


def test_claim_unknown_query_refused(proto, market, nodes):
    placed = proto.request()
    claim = proto.prove(placed, 0, nodes[0], 1)
    with ape.reverts(market.QueryNotFound, queryId=b"\x99" * 32):
        market.claim(*claim.args(b"\x99" * 32, 0), sender=nodes[0])


def test_claim_each_assignment_paid_for_its_rounds(proto, market, token, nodes):
    placed = proto.request(nodes=[[nodes[0], nodes[2]], [nodes[2]]], budgets=[4, 3])
    before = token.balanceOf(nodes[2])
    proto.claim(placed, 0, nodes[2], 4)
    proto.claim(placed, 1, nodes[2], 1)
    expected = split(4 * PART0["price"])[0] + split(PART1["price"])[0]
    assert token.balanceOf(nodes[2]) == before + expected
