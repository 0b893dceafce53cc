"""QueryMarket v2, slash and slashEquivocation: a node's own Ack slashes it, once, between t_P and
t_C, when its claim does not back the Ack; an honest node that claimed its last round never is."""

from __future__ import annotations

import ape
import pytest
from eth_account import Account

from tests.contracts.conftest import SLASH_AMOUNT, ack_signer_of, warp_to
from zkai.protocol.messages import Domain

T_ACK, O_ACK = 1111, 2222  # an acknowledged (T_i, O_i)


def after_proof_deadline(chain, placed) -> None:
    warp_to(chain, placed.proof_deadline + 1)


def stake(node_registry, node) -> int:
    return node_registry.getNode(node).stake


def test_slash_no_claim_takes_recorded_amount(
    proto, market, nodes, node_registry, token, treasury, chain
):
    placed = proto.request()
    ack = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK)
    after_proof_deadline(chain, placed)
    before, pool = stake(node_registry, nodes[0]), token.balanceOf(treasury)
    receipt = market.slash(placed.query_id, 0, nodes[0], 1, T_ACK, O_ACK, ack, sender=proto.user)
    [event] = receipt.events.filter(market.AssignmentSlashed)
    assert (event.part, event.node, event.round, event.amount, event.reason) == (
        0,
        nodes[0].address,
        1,
        SLASH_AMOUNT,
        1,
    )
    assert stake(node_registry, nodes[0]) == before - SLASH_AMOUNT
    assert token.balanceOf(treasury) == pool + SLASH_AMOUNT
    assert market.getAssignment(placed.query_id, 0, nodes[0]).slashed


def test_slash_claimed_fewer_rounds(proto, market, nodes, chain):
    placed = proto.request(budgets=[2, 3])
    proto.claim(placed, 1, nodes[2], 1)
    ack = proto.ack(placed, 1, nodes[2], 2, T_ACK, O_ACK)  # acknowledged round 2, claimed only 1
    after_proof_deadline(chain, placed)
    receipt = market.slash(placed.query_id, 1, nodes[2], 2, T_ACK, O_ACK, ack, sender=proto.user)
    assert receipt.events.filter(market.AssignmentSlashed)[0].reason == 2


@pytest.mark.parametrize("which", ["T_ACK", "O_ACK"])
def test_slash_claimed_round_with_other_transcript(proto, market, nodes, chain, which):
    placed = proto.request()
    _, claim = proto.claim(placed, 0, nodes[1], 2)
    t, o = claim.statement.input_transcript, claim.statement.output_transcript
    t, o = (t + 1, o) if which == "T_ACK" else (t, o + 1)
    ack = proto.ack(placed, 0, nodes[1], 2, t, o)
    after_proof_deadline(chain, placed)
    receipt = market.slash(placed.query_id, 0, nodes[1], 2, t, o, ack, sender=proto.user)
    assert receipt.events.filter(market.AssignmentSlashed)[0].reason == 3


def test_slash_honest_node_that_claimed_its_last_round_refused(proto, market, nodes, chain):
    placed = proto.request()
    _, claim = proto.claim(placed, 0, nodes[0], 2)
    t, o = claim.statement.input_transcript, claim.statement.output_transcript
    last = proto.ack(placed, 0, nodes[0], 2, t, o)
    earlier = proto.ack(placed, 0, nodes[0], 1, 5, 6)  # an earlier round: covered by the claim
    after_proof_deadline(chain, placed)
    with ape.reverts(market.NotSlashable, round=2):
        market.slash(placed.query_id, 0, nodes[0], 2, t, o, last, sender=proto.user)
    with ape.reverts(market.NotSlashable, round=1):
        market.slash(placed.query_id, 0, nodes[0], 1, 5, 6, earlier, sender=proto.user)


def test_slash_before_proof_deadline_refused(proto, market, nodes, chain):
    placed = proto.request()
    ack = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK)
    chain.pending_timestamp = placed.proof_deadline
    with ape.reverts(market.SlashTooEarly, queryId=placed.query_id):
        market.slash(placed.query_id, 0, nodes[0], 1, T_ACK, O_ACK, ack, sender=proto.user)


def test_slash_after_challenge_deadline_refused(proto, market, nodes, chain):
    placed = proto.request()
    ack = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK)
    warp_to(chain, placed.challenge_deadline + 1)
    with ape.reverts(market.SlashTooLate, queryId=placed.query_id):
        market.slash(placed.query_id, 0, nodes[0], 1, T_ACK, O_ACK, ack, sender=proto.user)


def test_slash_at_challenge_deadline_after_settle_accepted(proto, market, nodes, chain):
    placed = proto.request()
    ack = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK)
    after_proof_deadline(chain, placed)
    market.settle(placed.query_id, sender=proto.user)
    chain.pending_timestamp = placed.challenge_deadline
    market.slash(placed.query_id, 0, nodes[0], 1, T_ACK, O_ACK, ack, sender=proto.user)


def test_slash_twice_refused(proto, market, nodes, chain):
    placed = proto.request()
    ack1 = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK)
    ack2 = proto.ack(placed, 0, nodes[0], 2, T_ACK, O_ACK)
    after_proof_deadline(chain, placed)
    market.slash(placed.query_id, 0, nodes[0], 1, T_ACK, O_ACK, ack1, sender=proto.user)
    with ape.reverts(market.AlreadySlashed, node=nodes[0].address):
        market.slash(placed.query_id, 0, nodes[0], 2, T_ACK, O_ACK, ack2, sender=proto.user)


def test_slash_ack_from_another_chain_or_market_refused(proto, market, nodes, chain):
    placed = proto.request()
    other_chain = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK, domain=Domain(1, market.address))
    other_market = proto.ack(
        placed, 0, nodes[0], 1, T_ACK, O_ACK, domain=Domain(chain.chain_id, proto.user.address)
    )
    after_proof_deadline(chain, placed)
    for ack in (other_chain, other_market):
        with ape.reverts(market.InvalidAckSignature, ackSigner=ack_signer_of(0).address):
            market.slash(placed.query_id, 0, nodes[0], 1, T_ACK, O_ACK, ack, sender=proto.user)


def test_slash_ack_by_someone_else_refused(proto, market, nodes, chain):
    placed = proto.request()
    forged = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK, signer=Account.create())
    by_node_key = proto.ack(
        placed, 0, nodes[0], 1, T_ACK, O_ACK, signer=Account.from_key(nodes[0].private_key)
    )
    after_proof_deadline(chain, placed)
    for ack in (forged, by_node_key):  # only the recorded ack signer counts
        with ape.reverts(market.InvalidAckSignature):
            market.slash(placed.query_id, 0, nodes[0], 1, T_ACK, O_ACK, ack, sender=proto.user)


def test_slash_ack_of_other_fields_refused(proto, market, nodes, chain):
    placed = proto.request()
    ack = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK)
    after_proof_deadline(chain, placed)
    with ape.reverts(market.InvalidAckSignature):
        market.slash(placed.query_id, 0, nodes[0], 2, T_ACK, O_ACK, ack, sender=proto.user)
    with ape.reverts(market.InvalidAckSignature):
        market.slash(placed.query_id, 0, nodes[1], 1, T_ACK, O_ACK, ack, sender=proto.user)


def test_slash_ack_signed_before_key_rotation_still_slashes(
    proto, market, nodes, node_registry, chain
):
    placed = proto.request()
    old = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK)
    new_signer = Account.create()
    node_registry.updateNode(
        b"\x0e" * 32, new_signer.address, "https://rotated", "", sender=nodes[0]
    )
    by_new = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK, signer=new_signer)
    after_proof_deadline(chain, placed)
    with ape.reverts(market.InvalidAckSignature, recovered=new_signer.address):
        market.slash(placed.query_id, 0, nodes[0], 1, T_ACK, O_ACK, by_new, sender=proto.user)
    receipt = market.slash(placed.query_id, 0, nodes[0], 1, T_ACK, O_ACK, old, sender=proto.user)
    assert receipt.events.filter(market.AssignmentSlashed)[0].amount == SLASH_AMOUNT


def test_slash_round_zero_and_unknown_assignment_refused(proto, market, nodes, chain, stranger):
    placed = proto.request()
    ack = proto.ack(placed, 0, nodes[0], 0, T_ACK, O_ACK)
    after_proof_deadline(chain, placed)
    with ape.reverts(market.RoundZero):
        market.slash(placed.query_id, 0, nodes[0], 0, T_ACK, O_ACK, ack, sender=proto.user)
    with ape.reverts(market.NotAssigned, part=1, node=nodes[0].address):
        market.slash(placed.query_id, 1, nodes[0], 1, T_ACK, O_ACK, ack, sender=proto.user)
    with ape.reverts(market.QueryNotFound):
        market.slash(b"\x01" * 32, 0, nodes[0], 1, T_ACK, O_ACK, ack, sender=proto.user)


def test_slash_without_slasher_role_reverts_but_settle_refunds(
    proto, market, nodes, node_registry, owner, token, chain
):
    placed = proto.request()
    ack = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK)
    node_registry.setSlasher(market, False, sender=owner)
    after_proof_deadline(chain, placed)
    with ape.reverts(node_registry.NotSlasher):
        market.slash(placed.query_id, 0, nodes[0], 1, T_ACK, O_ACK, ack, sender=proto.user)
    before = token.balanceOf(proto.user)
    market.settle(placed.query_id, sender=proto.user)
    assert token.balanceOf(proto.user) == before + placed.escrow


def test_slash_more_than_stake_takes_what_is_left(
    proto, market, nodes, node_registry, owner, chain
):
    market.setSlashAmount(10**6 * 10**18, sender=owner)
    placed = proto.request()
    ack = proto.ack(placed, 0, nodes[0], 1, T_ACK, O_ACK)
    staked = stake(node_registry, nodes[0])
    after_proof_deadline(chain, placed)
    receipt = market.slash(placed.query_id, 0, nodes[0], 1, T_ACK, O_ACK, ack, sender=proto.user)
    assert receipt.events.filter(market.AssignmentSlashed)[0].amount == staked
    assert stake(node_registry, nodes[0]) == 0


def test_slashEquivocation_two_acks_of_one_round(proto, market, nodes, node_registry):
    placed = proto.request()
    a = proto.ack(placed, 0, nodes[1], 1, T_ACK, O_ACK)
    b = proto.ack(placed, 0, nodes[1], 1, T_ACK, O_ACK + 1)
    before = stake(node_registry, nodes[1])
    # before t_P: equivocation needs no deadline to pass
    receipt = market.slashEquivocation(
        placed.query_id, 0, nodes[1], 1, T_ACK, O_ACK, a, T_ACK, O_ACK + 1, b, sender=proto.user
    )
    assert receipt.events.filter(market.AssignmentSlashed)[0].reason == 4
    assert stake(node_registry, nodes[1]) == before - SLASH_AMOUNT
    with ape.reverts(market.AlreadySlashed):
        market.slashEquivocation(
            placed.query_id, 0, nodes[1], 1, T_ACK, O_ACK, a, T_ACK, O_ACK + 1, b, sender=proto.user
        )


def test_slashEquivocation_same_transcripts_refused(proto, market, nodes):
    placed = proto.request()
    a = proto.ack(placed, 0, nodes[1], 1, T_ACK, O_ACK)
    with ape.reverts(market.NotEquivocation):
        market.slashEquivocation(
            placed.query_id, 0, nodes[1], 1, T_ACK, O_ACK, a, T_ACK, O_ACK, a, sender=proto.user
        )


def test_slashEquivocation_one_forged_ack_refused(proto, market, nodes):
    placed = proto.request()
    a = proto.ack(placed, 0, nodes[1], 1, T_ACK, O_ACK)
    b = proto.ack(placed, 0, nodes[1], 1, T_ACK + 1, O_ACK, signer=Account.create())
    with ape.reverts(market.InvalidAckSignature):
        market.slashEquivocation(
            placed.query_id, 0, nodes[1], 1, T_ACK, O_ACK, a, T_ACK + 1, O_ACK, b, sender=proto.user
        )


def test_slashEquivocation_after_challenge_deadline_refused(proto, market, nodes, chain):
    placed = proto.request()
    a = proto.ack(placed, 0, nodes[1], 1, T_ACK, O_ACK)
    b = proto.ack(placed, 0, nodes[1], 1, T_ACK, O_ACK + 1)
    warp_to(chain, placed.challenge_deadline + 1)
    with ape.reverts(market.SlashTooLate):
        market.slashEquivocation(
            placed.query_id, 0, nodes[1], 1, T_ACK, O_ACK, a, T_ACK, O_ACK + 1, b, sender=proto.user
        )


def test_slash_then_equivocation_shares_the_flag(proto, market, nodes, chain):
    placed = proto.request()
    a = proto.ack(placed, 0, nodes[1], 1, T_ACK, O_ACK)
    b = proto.ack(placed, 0, nodes[1], 1, T_ACK, O_ACK + 1)
    after_proof_deadline(chain, placed)
    market.slash(placed.query_id, 0, nodes[1], 1, T_ACK, O_ACK, a, sender=proto.user)
    with ape.reverts(market.AlreadySlashed):
        market.slashEquivocation(
            placed.query_id, 0, nodes[1], 1, T_ACK, O_ACK, a, T_ACK, O_ACK + 1, b, sender=proto.user
        )
