"""QueryMarket v2, requestQuery: what a request must satisfy and what it records."""

from __future__ import annotations

import ape
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.contracts.conftest import (
    CHALLENGE_WINDOW,
    CHUNKED,
    CONTRIBUTOR_FEE_BPS,
    NO_VALIDITY,
    PART0,
    PART1,
    PROTOCOL_FEE_BPS,
    SLASH_AMOUNT,
    UNBONDING_MARGIN,
    UNBONDING_PERIOD,
    ack_signer_of,
    part_terms,
)
from tests.contracts.zk import FIELD

ESCROW = 2 * 2 * PART0["price"] + 1 * 3 * PART1["price"]  # k*B*price per part, budgets [2, 3]


def test_requestQuery_records_query_assignments_and_escrow(
    proto, market, token, funded_user, nodes
):
    before = token.balanceOf(funded_user)
    placed = proto.request(first_commitments=[11, 22])
    assert placed.escrow == ESCROW
    assert token.balanceOf(funded_user) == before - ESCROW
    query = market.getQuery(placed.query_id)
    assert query.user == funded_user.address
    assert query.sessionKey == placed.session.address
    assert (query.modelId, query.version, query.partCount) == (proto.model2, 1, 2)
    assert (query.escrow, query.credits, query.unclaimed, query.settled) == (ESCROW, 0, 3, False)
    assert (query.protocolBps, query.contributorBps) == (PROTOCOL_FEE_BPS, CONTRIBUTOR_FEE_BPS)
    assert query.slashAmount == SLASH_AMOUNT
    assert (query.roundDeadline, query.proofDeadline) == (
        placed.round_deadline,
        placed.proof_deadline,
    )
    assert query.challengeDeadline == placed.proof_deadline + CHALLENGE_WINDOW
    assert market.getQueryNodes(placed.query_id, 0) == [nodes[0].address, nodes[1].address]
    assert market.getQueryNodes(placed.query_id, 1) == [nodes[2].address]
    a = market.getAssignment(placed.query_id, 1, nodes[2])
    assert (a.ackSigner, a.budget, a.rounds, a.slashed, a.price) == (
        ack_signer_of(2).address,
        3,
        0,
        False,
        PART1["price"],
    )
    assert bytes(a.encryptionKey) == bytes([3]) * 32
    assigned = placed.receipt.events.filter(market.Assigned)
    assert [(e.part, e.node, e.budget, e.price, e.firstCommitment) for e in assigned] == [
        (0, nodes[0].address, 2, PART0["price"], 11),
        (0, nodes[1].address, 2, PART0["price"], 22),
        (1, nodes[2].address, 3, PART1["price"], 0),
    ]
    # Not an assignment: all zero.
    assert market.getAssignment(placed.query_id, 1, nodes[0]).budget == 0


def test_assignmentTag_matches_ids(proto, market, nodes):
    placed = proto.request()
    for part, node in [(0, nodes[0]), (0, nodes[1]), (1, nodes[2]), (1, nodes[0])]:
        assert market.assignmentTag(placed.query_id, part, node) == proto.tag(
            placed.query_id, part, node
        )


def test_requestQuery_same_salt_twice_reverts(proto, market):
    placed = proto.request(salt=b"\x01" * 32)
    with ape.reverts(market.QueryExists, queryId=placed.query_id):
        proto.request(salt=b"\x01" * 32)


def test_requestQuery_same_salt_other_user_is_another_query(proto, accounts, token, owner, market):
    other = accounts[6]
    token.transfer(other, 10**22, sender=owner)
    token.approve(market, 2**256 - 1, sender=other)
    a = proto.request(salt=b"\x02" * 32)
    b = proto.request(salt=b"\x02" * 32, sender=other)
    assert a.query_id != b.query_id


@pytest.mark.parametrize("budgets", [[0, 1], [5, 1], [1, 4]])
def test_requestQuery_budget_out_of_range_reverts(proto, market, budgets):
    with ape.reverts(market.BudgetOutOfRange):
        proto.request(budgets=budgets)


def test_requestQuery_budget_up_to_max_budget_accepted_above_refused(proto, market, nodes):
    # the chunked part: R_max 3, maxBudget 8; a budget above R_max is claimed in chunks
    chunked = [[nodes[0], nodes[1]]]
    placed = proto.request(model_id=proto.model_chunked, nodes=chunked, budgets=[8])
    assert placed.escrow == 2 * 8 * CHUNKED["price"]
    a = market.getAssignment(placed.query_id, 0, nodes[0])
    assert (a.budget, a.maxRounds, a.rounds, a.finalised) == (8, 3, 0, False)
    with ape.reverts(market.BudgetOutOfRange, part=0, budget=9, maxBudget=8):
        proto.request(model_id=proto.model_chunked, nodes=chunked, budgets=[9])


def test_requestQuery_budget_at_max_rounds_accepted(proto):
    placed = proto.request(budgets=[PART0["maxRounds"], PART1["maxRounds"]])
    assert placed.escrow == 2 * 4 * PART0["price"] + 3 * PART1["price"]


def test_requestQuery_proof_window_below_part_minimum_reverts(proto, market):
    # part 1's minimum (600 s) is the longest of the query's parts
    with ape.reverts(market.ProofWindowTooShort, required=PART1["minProofWindow"]):
        proto.request(proof_window=PART1["minProofWindow"] - 1)
    proto.request(proof_window=PART1["minProofWindow"])


def test_requestQuery_proof_window_below_floor_reverts(proto, market, model1, nodes):
    # model1's part asks for 60 s; a floor of 300 s wins.
    market.setMinProofWindowFloor(300, sender=market.owner())
    with ape.reverts(market.ProofWindowTooShort, required=300):
        proto.request(model_id=model1, nodes=[[nodes[0]]], budgets=[1], proof_window=299)
    proto.request(model_id=model1, nodes=[[nodes[0]]], budgets=[1], proof_window=300)


def test_requestQuery_challenge_deadline_beyond_unbonding_reverts(proto, market, chain):
    now = proto.now() + 10
    latest = UNBONDING_PERIOD - UNBONDING_MARGIN - CHALLENGE_WINDOW
    chain.pending_timestamp = now
    with ape.reverts(market.ChallengeDeadlineBeyondUnbonding):
        proto.request(round_deadline=now + 100, proof_deadline=now + latest + 1)
    chain.pending_timestamp = now + 1
    proto.request(round_deadline=now + 100, proof_deadline=now + 1 + latest)


def test_requestQuery_round_deadline_in_past_reverts(proto, market):
    with ape.reverts(market.RoundDeadlineInPast):
        proto.request(round_deadline=proto.now() - 1, proof_deadline=proto.now() + 1000)


def test_requestQuery_version_mismatch_reverts(
    proto, market, model_registry, model_owner, verifier
):
    with ape.reverts(market.VersionMismatch, expected=2, current=1):
        proto.request(version=2)
    model_registry.publishVersion(
        proto.model2,
        b"\x44" * 32,
        [part_terms(verifier, **PART0), part_terms(verifier, **PART1)],
        NO_VALIDITY,
        sender=model_owner,
    )
    with ape.reverts(market.VersionMismatch, expected=1, current=2):
        proto.request(version=1)
    proto.request(version=2)


def test_requestQuery_fee_cap_exceeded_reverts(proto, market):
    with ape.reverts(market.FeeCapExceeded, escrow=ESCROW, feeCap=ESCROW - 1):
        proto.request(fee_cap=ESCROW - 1)
    proto.request(fee_cap=ESCROW)


def test_requestQuery_node_not_hosting_part_reverts(proto, market, nodes):
    with ape.reverts(
        market.NodeNotHostingPart, node=nodes[0].address, modelId=proto.model2, part=1
    ):
        proto.request(nodes=[[nodes[1], nodes[2]], [nodes[0]]])


def test_requestQuery_node_not_eligible_reverts(proto, market, nodes, node_registry):
    node_registry.requestUnstake(sender=nodes[1])
    with ape.reverts(market.NodeNotEligible, node=nodes[1].address):
        proto.request()


def test_requestQuery_unregistered_node_reverts(proto, market, stranger):
    with ape.reverts(market.NodeNotEligible, node=stranger.address):
        proto.request(nodes=[[proto.nodes[0], stranger], [proto.nodes[2]]])


def test_requestQuery_duplicate_node_in_part_reverts(proto, market, nodes):
    with ape.reverts(market.DuplicateNode, part=0, node=nodes[0].address):
        proto.request(nodes=[[nodes[0], nodes[0]], [nodes[2]]])


def test_requestQuery_same_node_in_two_parts_two_assignments(proto, market, nodes):
    placed = proto.request(nodes=[[nodes[0], nodes[2]], [nodes[2]]])
    assert market.getAssignment(placed.query_id, 0, nodes[2]).budget == 2
    assert market.getAssignment(placed.query_id, 1, nodes[2]).budget == 3
    assert market.getQuery(placed.query_id).unclaimed == 3


def test_requestQuery_wrong_shapes_revert(proto, market, nodes):
    with ape.reverts(market.ShareCountMismatch, part=0, expected=2, actual=1):
        proto.request(nodes=[[nodes[0]], [nodes[2]]], first_commitments=[1, 2])
    with ape.reverts(market.PartCountMismatch, parts=2, nodeLists=1, budgets=1):
        proto.request(nodes=[[nodes[0], nodes[1]]], budgets=[1])
    with ape.reverts(market.FirstCommitmentCountMismatch, expected=2, actual=1):
        proto.request(first_commitments=[1])
    with ape.reverts(market.CommitmentNotInField, index=1, commitment=FIELD):
        proto.request(first_commitments=[1, FIELD])


def test_requestQuery_inactive_model_reverts(proto, market, model_registry, model_owner):
    model_registry.setActive(proto.model2, False, sender=model_owner)
    with ape.reverts(market.ModelNotActive, modelId=proto.model2):
        proto.request()
    with ape.reverts(market.ModelNotActive, modelId=999):
        proto.request(model_id=999)


def test_requestQuery_zero_session_key_reverts(proto, market):
    with ape.reverts(market.SessionKeyZero):
        proto.request(session_address="0x" + "00" * 20)


def test_requestQuery_without_allowance_reverts(proto, token, funded_user, market):
    token.approve(market, 0, sender=funded_user)
    with ape.reverts(market.ERC20InsufficientAllowance):
        proto.request()


def test_requestQuery_with_permit_needs_no_approve(proto, token, funded_user, market, chain):
    token.approve(market, 0, sender=funded_user)
    user = Account.from_key(funded_user.private_key)
    deadline = proto.now() + 3600
    data = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": token.name(),
            "version": "1",
            "chainId": chain.chain_id,
            "verifyingContract": token.address,
        },
        "message": {
            "owner": user.address,
            "spender": market.address,
            "value": ESCROW,
            "nonce": token.nonces(user.address),
            "deadline": deadline,
        },
    }
    signed = user.sign_message(encode_typed_data(full_message=data))
    permit = (
        ESCROW,
        deadline,
        signed.v,
        signed.r.to_bytes(32, "big"),
        signed.s.to_bytes(32, "big"),
    )
    placed = proto.request(permit=permit)
    assert placed.escrow == ESCROW
    assert token.allowance(funded_user, market) == 0
    # Replaying the (now used) permit fails inside, and falls through to the allowance.
    with ape.reverts(market.ERC20InsufficientAllowance):
        proto.request(permit=permit)
