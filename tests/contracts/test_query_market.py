"""QueryMarket: requests, proven results (real Groth16 proofs), settlement, fees, parameters."""

from __future__ import annotations

import ape
import pytest
from eth_account import Account

from tests.contracts.conftest import (
    CONTRIBUTOR_FEE_BPS,
    MAX_DEADLINE_WINDOW,
    MIN_STAKE,
    PRICE,
    PROTOCOL_FEE_BPS,
    SHARES,
    SLASH_AMOUNT,
    UNBONDING_PERIOD,
    warp_to,
)
from tests.contracts.zk import FIELD

FEE_PER_SHARE = PRICE // SHARES
PROTOCOL_CUT = FEE_PER_SHARE * PROTOCOL_FEE_BPS // 10_000
CONTRIBUTOR_CUT = FEE_PER_SHARE * CONTRIBUTOR_FEE_BPS // 10_000
PAYOUT = FEE_PER_SHARE - PROTOCOL_CUT - CONTRIBUTOR_CUT
PENDING, SUBMITTED, PAID, MISSED = 1, 2, 3, 4


def submit(market, circuit10, placed, index, sender=None):
    share = placed.shares[index]
    return market.submitResult(
        placed.query_id,
        index,
        share.outputs,
        circuit10.prove(share),
        sender=sender or placed.nodes[index],
    )


# ------------------------------------------------------------------ requestQuery


def test_requestQuery_escrows_fee_and_assigns_shares(
    market, token, place_query, funded_user, model10
):
    before = token.balanceOf(funded_user)
    placed = place_query()
    assert token.balanceOf(funded_user) == before - PRICE
    assert token.balanceOf(market) == PRICE
    assert market.queryCount() == placed.query_id == 1

    [requested] = placed.receipt.events.filter(market.QueryRequested)
    assert requested.modelId == model10
    assert requested.user == funded_user.address
    assert requested.modelVersion == 1
    assert requested.fee == PRICE
    assert requested.deadline == placed.deadline
    assigned = placed.receipt.events.filter(market.ShareAssigned)
    assert [event.node for event in assigned] == [node.address for node in placed.nodes]
    assert [event.commitment for event in assigned] == [s.commitment for s in placed.shares]
    assert [bytes(event.encryptedPayload) for event in assigned] == [
        b"payload-0",
        b"payload-1",
        b"payload-2",
    ]

    query = market.getQuery(placed.query_id)
    assert query.user == funded_user.address
    assert query.feePerShare == FEE_PER_SHARE
    assert query.deadline == placed.deadline
    assert query.shareCount == SHARES
    assert (query.protocolFeeBps, query.contributorFeeBps) == (
        PROTOCOL_FEE_BPS,
        CONTRIBUTOR_FEE_BPS,
    )
    assert not query.settled
    share = market.getShare(placed.query_id, 1)
    assert share.node == placed.nodes[1].address
    assert share.status == PENDING
    assert share.commitment == placed.shares[1].commitment


def test_requestQuery_inactive_model_reverts(
    market, model_registry, model10, model_owner, place_query
):
    model_registry.setActive(model10, False, sender=model_owner)
    with ape.reverts(market.ModelNotActive, modelId=model10):
        place_query()


def test_requestQuery_unknown_model_reverts(market, place_query):
    with ape.reverts(market.ModelNotActive, modelId=999):
        place_query(model_id=999)


def test_requestQuery_wrong_share_count_reverts(market, place_query, nodes):
    with ape.reverts(market.ShareCountMismatch, expected=3, nodes=2, commitments=2, payloads=2):
        place_query(node_list=nodes[:2])


def test_requestQuery_deadline_in_past_reverts(market, place_query, chain):
    with ape.reverts(market.DeadlineOutOfRange):
        place_query(window=-100)


def test_requestQuery_deadline_beyond_window_reverts(market, place_query, chain):
    with ape.reverts(market.DeadlineOutOfRange):
        place_query(window=MAX_DEADLINE_WINDOW + 100)


def test_requestQuery_ineligible_node_reverts(market, place_query, nodes, stranger):
    with ape.reverts(market.NodeNotEligible, node=stranger.address):
        place_query(node_list=[nodes[0], nodes[1], stranger])


def test_requestQuery_unbonding_node_reverts(market, node_registry, place_query, nodes):
    node_registry.requestUnstake(sender=nodes[2])
    with ape.reverts(market.NodeNotEligible, node=nodes[2].address):
        place_query()


def test_requestQuery_duplicate_node_reverts(market, place_query, nodes):
    with ape.reverts(market.DuplicateNode, node=nodes[0].address):
        place_query(node_list=[nodes[0], nodes[1], nodes[0]])


def test_requestQuery_commitment_outside_field_reverts(market, funded_user, nodes, model10, chain):
    with ape.reverts(market.CommitmentNotInField, shareIndex=1, commitment=FIELD):
        market.requestQuery(
            model10,
            nodes,
            [1, FIELD, 2],
            [b"", b"", b""],
            chain.pending_timestamp + 600,
            sender=funded_user,
        )


def test_requestQuery_without_allowance_reverts(
    market, token, owner, stranger, nodes, model10, chain
):
    token.transfer(stranger, PRICE, sender=owner)
    with ape.reverts(
        market.ERC20InsufficientAllowance, spender=market.address, allowance=0, needed=PRICE
    ):
        market.requestQuery(
            model10,
            nodes,
            [1, 2, 3],
            [b"", b"", b""],
            chain.pending_timestamp + 600,
            sender=stranger,
        )


# ------------------------------------------------------------------ requestQueryWithPermit


def sign_permit(token, owner_account, spender, value, deadline, chain):
    signed = Account.sign_typed_data(
        owner_account.private_key,
        domain_data={
            "name": "ZKAI Token",
            "version": "1",
            "chainId": chain.chain_id,
            "verifyingContract": token.address,
        },
        message_types={
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ]
        },
        message_data={
            "owner": owner_account.address,
            "spender": spender.address,
            "value": value,
            "nonce": token.nonces(owner_account),
            "deadline": deadline,
        },
    )
    return (value, deadline, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"))


@pytest.fixture
def permit_payer(token, owner, stranger):
    """An account holding tokens that never approved the market."""
    token.transfer(stranger, 10 * PRICE, sender=owner)
    return stranger


def request_with_permit(market, model10, nodes, payer, permit, chain):
    return market.requestQueryWithPermit(
        model10,
        nodes,
        [1, 2, 3],
        [b"a", b"b", b"c"],
        chain.pending_timestamp + 600,
        permit,
        sender=payer,
    )


def test_requestQueryWithPermit_pays_in_one_transaction(
    market, token, model10, nodes, permit_payer, chain
):
    permit = sign_permit(token, permit_payer, market, PRICE, chain.pending_timestamp + 600, chain)
    receipt = request_with_permit(market, model10, nodes, permit_payer, permit, chain)
    assert receipt.events.filter(market.QueryRequested)[0].fee == PRICE
    assert token.balanceOf(market) == PRICE
    assert token.allowance(permit_payer, market) == 0


def test_requestQueryWithPermit_front_run_permit_still_succeeds(
    market, token, model10, nodes, permit_payer, stranger, chain, accounts
):
    value, deadline, v, r, s = sign_permit(
        token, permit_payer, market, PRICE, chain.pending_timestamp + 600, chain
    )
    token.permit(permit_payer, market, value, deadline, v, r, s, sender=accounts[0])
    receipt = request_with_permit(
        market, model10, nodes, permit_payer, (value, deadline, v, r, s), chain
    )
    assert receipt.events.filter(market.QueryRequested)[0].fee == PRICE


def test_requestQueryWithPermit_bad_permit_no_allowance_reverts(
    market, token, model10, nodes, permit_payer, chain
):
    value, deadline, v, r, s = sign_permit(
        token, permit_payer, market, PRICE, chain.pending_timestamp + 600, chain
    )
    with ape.reverts(market.ERC20InsufficientAllowance, allowance=0, needed=PRICE):
        request_with_permit(
            market, model10, nodes, permit_payer, (value + 1, deadline, v, r, s), chain
        )


# ------------------------------------------------------------------ submitResult


def test_submitResult_valid_proof_credits_node_and_records_receipt(market, place_query, circuit10):
    placed = place_query()
    receipt = submit(market, circuit10, placed, 0)
    [event] = receipt.events.filter(market.ResultSubmitted)
    assert event.queryId == placed.query_id
    assert event.shareIndex == 0
    assert event.node == placed.nodes[0].address
    assert list(event.outputs) == placed.shares[0].outputs
    assert market.getShare(placed.query_id, 0).status == SUBMITTED
    assert market.shareSplit(placed.query_id) == (PAYOUT, PROTOCOL_CUT, CONTRIBUTOR_CUT)


def test_submitResult_replay_reverts(market, place_query, circuit10):
    placed = place_query()
    submit(market, circuit10, placed, 1)
    with ape.reverts(market.ShareAlreadySubmitted, queryId=placed.query_id, shareIndex=1):
        submit(market, circuit10, placed, 1)


def test_submitResult_by_another_assigned_node_reverts(market, place_query, circuit10):
    placed = place_query()
    with ape.reverts(
        market.NotAssignedNode,
        queryId=placed.query_id,
        shareIndex=0,
        caller=placed.nodes[1].address,
        node=placed.nodes[0].address,
    ):
        submit(market, circuit10, placed, 0, sender=placed.nodes[1])


def test_submitResult_by_stranger_reverts(market, place_query, circuit10, stranger):
    placed = place_query()
    with ape.reverts(market.NotAssignedNode, caller=stranger.address):
        submit(market, circuit10, placed, 2, sender=stranger)


def test_submitResult_after_deadline_reverts(market, place_query, circuit10, chain):
    placed = place_query()
    warp_to(chain, placed.deadline + 10)
    with ape.reverts(market.DeadlinePassed, queryId=placed.query_id, deadline=placed.deadline):
        submit(market, circuit10, placed, 0)


def test_submitResult_changed_output_reverts(market, place_query, circuit10):
    placed = place_query()
    share = placed.shares[0]
    outputs = list(share.outputs)
    outputs[4] = (outputs[4] + 1) % FIELD
    with ape.reverts(market.InvalidProof, queryId=placed.query_id, shareIndex=0):
        market.submitResult(
            placed.query_id, 0, outputs, circuit10.prove(share), sender=placed.nodes[0]
        )


@pytest.mark.parametrize("byte_index", [0, 100, 224])
def test_submitResult_changed_proof_byte_reverts(market, place_query, circuit10, byte_index):
    placed = place_query()
    share = placed.shares[0]
    proof = bytearray(circuit10.prove(share))
    proof[byte_index] ^= 0x80
    with ape.reverts(market.InvalidProof, queryId=placed.query_id, shareIndex=0):
        market.submitResult(placed.query_id, 0, share.outputs, bytes(proof), sender=placed.nodes[0])


def test_submitResult_proof_of_another_query_reverts(market, place_query, circuit10):
    first, second = place_query(), place_query()
    share = first.shares[0]
    with ape.reverts(market.InvalidProof, queryId=second.query_id, shareIndex=0):
        market.submitResult(
            second.query_id, 0, share.outputs, circuit10.prove(share), sender=second.nodes[0]
        )


def test_submitResult_unknown_query_reverts(market, nodes):
    with ape.reverts(market.QueryNotFound, queryId=77):
        market.submitResult(77, 0, [0] * 10, b"\x00" * 256, sender=nodes[0])


def test_submitResult_share_index_out_of_range_reverts(market, place_query, nodes):
    placed = place_query()
    with ape.reverts(
        market.ShareIndexOutOfRange, queryId=placed.query_id, shareIndex=3, shareCount=3
    ):
        market.submitResult(placed.query_id, 3, [0] * 10, b"\x00" * 256, sender=nodes[0])


def test_submitResult_wrong_output_count_reverts(market, place_query, circuit10):
    placed = place_query()
    share = placed.shares[0]
    with ape.reverts(market.PublicInputCountMismatch, expected=11, actual=10):
        market.submitResult(
            placed.query_id, 0, share.outputs[:9], circuit10.prove(share), sender=placed.nodes[0]
        )


def test_submitResult_short_proof_reverts(market, place_query, circuit10):
    placed = place_query()
    share = placed.shares[0]
    with ape.reverts(market.ProofLengthInvalid, expected=256, actual=192):
        market.submitResult(
            placed.query_id, 0, share.outputs, circuit10.prove(share)[:192], sender=placed.nodes[0]
        )


def test_submitResult_unbonding_node_still_submits(market, node_registry, place_query, circuit10):
    placed = place_query()
    node_registry.requestUnstake(sender=placed.nodes[0])
    submit(market, circuit10, placed, 0)
    assert market.getShare(placed.query_id, 0).status == SUBMITTED


def test_submitResult_new_model_version_keeps_query_version(
    market, model_registry, model10, model_owner, place_query, circuit10, circuit3, deploy_verifier
):
    placed = place_query()
    _, adapter3 = deploy_verifier(circuit3)
    model_registry.publishVersion(
        model10, adapter3, b"\x43" * 32, 2, 3, 3, PRICE, sender=model_owner
    )
    submit(market, circuit10, placed, 0)
    assert market.getQuery(placed.query_id).modelVersion == 1


def test_submitResult_three_output_model_works_through_same_market(
    market, model_registry, model_owner, place_query, circuit3, deploy_verifier, nodes
):
    _, adapter3 = deploy_verifier(circuit3)
    receipt = model_registry.registerModel(
        adapter3, b"\x44" * 32, 2, 3, 2, 10**18, sender=model_owner
    )
    model_id = receipt.events.filter(model_registry.ModelRegistered)[0].modelId
    placed = place_query(model_id=model_id, circuit=circuit3, node_list=nodes[:2])
    share = placed.shares[1]
    receipt = market.submitResult(
        placed.query_id, 1, share.outputs, circuit3.prove(share), sender=placed.nodes[1]
    )
    assert list(receipt.events.filter(market.ResultSubmitted)[0].outputs) == share.outputs


# ------------------------------------------------------------------ settle


def test_settle_refunds_missing_shares_and_slashes_their_nodes(
    market, token, node_registry, place_query, circuit10, chain, funded_user, treasury
):
    placed = place_query()
    submit(market, circuit10, placed, 1)
    user_before = token.balanceOf(funded_user)
    treasury_before = token.balanceOf(treasury)
    warp_to(chain, placed.deadline + 1)
    receipt = market.settle(placed.query_id, sender=funded_user)

    missed = receipt.events.filter(market.ShareMissed)
    assert [(e.shareIndex, e.node, e.slashed) for e in missed] == [
        (0, placed.nodes[0].address, SLASH_AMOUNT),
        (2, placed.nodes[2].address, SLASH_AMOUNT),
    ]
    [settled] = receipt.events.filter(market.QuerySettled)
    assert (settled.queryId, settled.user, settled.missedShares, settled.refund) == (
        placed.query_id,
        funded_user.address,
        2,
        2 * FEE_PER_SHARE,
    )
    slashes = receipt.events.filter(node_registry.Slashed)
    assert [e.reason for e in slashes] == [placed.query_id.to_bytes(32, "big")] * 2
    assert token.balanceOf(funded_user) == user_before + 2 * FEE_PER_SHARE
    assert token.balanceOf(treasury) == treasury_before + 2 * SLASH_AMOUNT
    assert node_registry.getNode(placed.nodes[0]).stake == 2 * MIN_STAKE - SLASH_AMOUNT
    assert node_registry.getNode(placed.nodes[1]).stake == 2 * MIN_STAKE
    assert [market.getShare(placed.query_id, i).status for i in range(3)] == [
        MISSED,
        SUBMITTED,
        MISSED,
    ]
    assert market.getQuery(placed.query_id).settled


def test_settle_all_submitted_refunds_nothing(market, place_query, circuit10, chain):
    placed = place_query()
    for index in range(3):
        submit(market, circuit10, placed, index)
    warp_to(chain, placed.deadline + 1)
    receipt = market.settle(placed.query_id, sender=placed.nodes[0])
    assert receipt.events.filter(market.QuerySettled)[0].refund == 0
    assert not receipt.events.filter(market.ShareMissed)


def test_settle_unbonding_node_is_slashed_from_unbonding_stake(
    market, node_registry, place_query, chain
):
    placed = place_query()
    node_registry.requestUnstake(sender=placed.nodes[0])
    warp_to(chain, placed.deadline + 1)
    market.settle(placed.query_id, sender=placed.nodes[1])
    record = node_registry.getNode(placed.nodes[0])
    assert record.stake == 2 * MIN_STAKE - SLASH_AMOUNT
    assert record.unlockTime > 0


def test_settle_slash_amount_zero_refunds_without_slashing(
    market, node_registry, place_query, chain, owner
):
    market.setSlashAmount(0, sender=owner)
    placed = place_query()
    warp_to(chain, placed.deadline + 1)
    receipt = market.settle(placed.query_id, sender=owner)
    assert [e.slashed for e in receipt.events.filter(market.ShareMissed)] == [0, 0, 0]
    assert node_registry.getNode(placed.nodes[0]).stake == 2 * MIN_STAKE


def test_settle_before_deadline_reverts(market, place_query):
    placed = place_query()
    with ape.reverts(market.DeadlineNotPassed, queryId=placed.query_id, deadline=placed.deadline):
        market.settle(placed.query_id, sender=placed.nodes[0])


def test_settle_twice_reverts(market, place_query, chain):
    placed = place_query()
    warp_to(chain, placed.deadline + 1)
    market.settle(placed.query_id, sender=placed.nodes[0])
    with ape.reverts(market.QueryAlreadySettled, queryId=placed.query_id):
        market.settle(placed.query_id, sender=placed.nodes[0])


def test_settle_unknown_query_reverts(market, stranger):
    with ape.reverts(market.QueryNotFound, queryId=5):
        market.settle(5, sender=stranger)


# ------------------------------------------------------------------ payouts and fees


def test_claimPayouts_pays_proven_shares_and_books_cuts(market, token, place_query, circuit10):
    first, second = place_query(), place_query()
    submit(market, circuit10, first, 0)
    submit(market, circuit10, second, 0)
    node = first.nodes[0]
    before = token.balanceOf(node)
    receipt = market.claimPayouts([first.query_id, second.query_id], [0, 0], sender=node)
    [event] = receipt.events.filter(market.PayoutsClaimed)
    assert (event.node, event.shares, event.payout) == (node.address, 2, 2 * PAYOUT)
    assert (event.protocolCut, event.contributorCut) == (2 * PROTOCOL_CUT, 2 * CONTRIBUTOR_CUT)
    assert token.balanceOf(node) == before + 2 * PAYOUT
    assert market.accruedFees() == (2 * PROTOCOL_CUT, 2 * CONTRIBUTOR_CUT)
    assert market.getShare(first.query_id, 0).status == PAID


def test_claimPayouts_after_settle_still_pays(market, token, place_query, circuit10, chain):
    placed = place_query()
    submit(market, circuit10, placed, 1)
    warp_to(chain, placed.deadline + 1)
    market.settle(placed.query_id, sender=placed.nodes[0])
    before = token.balanceOf(placed.nodes[1])
    market.claimPayouts([placed.query_id], [1], sender=placed.nodes[1])
    assert token.balanceOf(placed.nodes[1]) == before + PAYOUT


def test_claimPayouts_twice_reverts(market, place_query, circuit10):
    placed = place_query()
    submit(market, circuit10, placed, 0)
    market.claimPayouts([placed.query_id], [0], sender=placed.nodes[0])
    with ape.reverts(market.ShareNotClaimable, queryId=placed.query_id, shareIndex=0, status=PAID):
        market.claimPayouts([placed.query_id], [0], sender=placed.nodes[0])


def test_claimPayouts_pending_share_reverts(market, place_query):
    placed = place_query()
    with ape.reverts(
        market.ShareNotClaimable, queryId=placed.query_id, shareIndex=2, status=PENDING
    ):
        market.claimPayouts([placed.query_id], [2], sender=placed.nodes[2])


def test_claimPayouts_other_nodes_share_reverts(market, place_query, circuit10):
    placed = place_query()
    submit(market, circuit10, placed, 0)
    with ape.reverts(
        market.NotAssignedNode,
        queryId=placed.query_id,
        shareIndex=0,
        caller=placed.nodes[1].address,
        node=placed.nodes[0].address,
    ):
        market.claimPayouts([placed.query_id], [0], sender=placed.nodes[1])


def test_claimPayouts_length_mismatch_reverts(market, nodes):
    with ape.reverts(market.ClaimLengthMismatch, queryIds=2, shareIndexes=1):
        market.claimPayouts([1, 2], [0], sender=nodes[0])


def test_sweepFees_sends_cuts_to_treasury_and_rewards_pool(
    market, token, place_query, circuit10, treasury, rewards, stranger
):
    placed = place_query()
    submit(market, circuit10, placed, 0)
    submit(market, circuit10, placed, 2)
    market.claimPayouts([placed.query_id], [0], sender=placed.nodes[0])
    market.claimPayouts([placed.query_id], [2], sender=placed.nodes[2])
    treasury_before = token.balanceOf(treasury)
    receipt = market.sweepFees(sender=stranger)
    [event] = receipt.events.filter(market.FeesSwept)
    assert (event.treasury, event.protocolFees) == (treasury.address, 2 * PROTOCOL_CUT)
    assert (event.rewardsPool, event.contributorFees) == (rewards.address, 2 * CONTRIBUTOR_CUT)
    assert token.balanceOf(treasury) == treasury_before + 2 * PROTOCOL_CUT
    assert token.balanceOf(rewards) == 2 * CONTRIBUTOR_CUT
    assert market.accruedFees() == (0, 0)


def test_sweepFees_nothing_accrued_emits_zeroes(market, stranger):
    receipt = market.sweepFees(sender=stranger)
    assert receipt.events.filter(market.FeesSwept)[0].protocolFees == 0


# ------------------------------------------------------------------ owner parameters


def test_setFees_applies_to_new_queries_only(market, owner, place_query, circuit10):
    old = place_query()
    receipt = market.setFees(1_000, 2_000, sender=owner)
    assert receipt.events.filter(market.FeesSet)[0].contributorFeeBps == 2_000
    assert market.fees() == (1_000, 2_000)
    new = place_query()
    assert market.shareSplit(old.query_id)[0] == PAYOUT
    assert market.shareSplit(new.query_id)[0] == FEE_PER_SHARE * 7_000 // 10_000


def test_setFees_above_bounds_reverts(market, owner):
    with ape.reverts(market.FeesOutOfBounds, protocolFeeBps=1_001, contributorFeeBps=0):
        market.setFees(1_001, 0, sender=owner)
    with ape.reverts(market.FeesOutOfBounds, protocolFeeBps=0, contributorFeeBps=2_001):
        market.setFees(0, 2_001, sender=owner)


def test_setFees_not_owner_reverts(market, stranger):
    with ape.reverts(market.OwnableUnauthorizedAccount, account=stranger.address):
        market.setFees(0, 0, sender=stranger)


def test_setTreasury_updates_and_emits(market, owner, stranger):
    receipt = market.setTreasury(stranger, sender=owner)
    assert receipt.events.filter(market.TreasurySet)[0].treasury == stranger.address
    assert market.treasury() == stranger.address


def test_setTreasury_zero_reverts(market, owner):
    with ape.reverts(market.InvalidTreasury, treasury=ape.utils.ZERO_ADDRESS):
        market.setTreasury(ape.utils.ZERO_ADDRESS, sender=owner)


def test_setRewardsPool_updates_and_emits(market, owner, stranger):
    receipt = market.setRewardsPool(stranger, sender=owner)
    assert receipt.events.filter(market.RewardsPoolSet)[0].rewardsPool == stranger.address
    assert market.rewardsPool() == stranger.address


def test_setRewardsPool_zero_reverts(market, owner):
    with ape.reverts(market.InvalidRewardsPool, rewardsPool=ape.utils.ZERO_ADDRESS):
        market.setRewardsPool(ape.utils.ZERO_ADDRESS, sender=owner)


def test_setSlashAmount_updates_and_emits(market, owner):
    receipt = market.setSlashAmount(5, sender=owner)
    assert receipt.events.filter(market.SlashAmountSet)[0].slashAmount == 5
    assert market.slashAmount() == 5


def test_setSlashAmount_above_bound_reverts(market, owner):
    too_much = market.MAX_SLASH_AMOUNT() + 1
    with ape.reverts(market.SlashAmountOutOfBounds, slashAmount=too_much):
        market.setSlashAmount(too_much, sender=owner)


def test_setMaxDeadlineWindow_updates_and_emits(market, owner):
    receipt = market.setMaxDeadlineWindow(UNBONDING_PERIOD, sender=owner)
    assert receipt.events.filter(market.MaxDeadlineWindowSet)[0].window == UNBONDING_PERIOD
    assert market.maxDeadlineWindow() == UNBONDING_PERIOD


def test_setMaxDeadlineWindow_beyond_unbonding_reverts(market, owner):
    with ape.reverts(
        market.DeadlineWindowOutOfBounds, window=UNBONDING_PERIOD + 1, min=60, max=UNBONDING_PERIOD
    ):
        market.setMaxDeadlineWindow(UNBONDING_PERIOD + 1, sender=owner)


def test_setMaxDeadlineWindow_below_minimum_reverts(market, owner):
    with ape.reverts(market.DeadlineWindowOutOfBounds, window=59):
        market.setMaxDeadlineWindow(59, sender=owner)


# ------------------------------------------------------------------ constructor


def test_constructor_wires_everything(
    market, token, node_registry, model_registry, treasury, rewards
):
    assert market.token() == token.address
    assert market.nodeRegistry() == node_registry.address
    assert market.modelRegistry() == model_registry.address
    assert market.treasury() == treasury.address
    assert market.rewardsPool() == rewards.address
    assert market.fees() == (PROTOCOL_FEE_BPS, CONTRIBUTOR_FEE_BPS)
    assert market.slashAmount() == SLASH_AMOUNT
    assert market.maxDeadlineWindow() == MAX_DEADLINE_WINDOW


def test_constructor_token_without_code_reverts(deploy_market, project, stranger):
    with ape.reverts(project.QueryMarket.InvalidContract, account=stranger.address):
        deploy_market(token=stranger.address)


@pytest.mark.parametrize(
    ("overrides", "error", "args"),
    [
        ({"treasury": ape.utils.ZERO_ADDRESS}, "InvalidTreasury", {}),
        ({"rewardsPool": ape.utils.ZERO_ADDRESS}, "InvalidRewardsPool", {}),
        ({"protocolFeeBps": 1_001}, "FeesOutOfBounds", {"protocolFeeBps": 1_001}),
        ({"slashAmount": 10**24 + 1}, "SlashAmountOutOfBounds", {"slashAmount": 10**24 + 1}),
        ({"maxDeadlineWindow": 10}, "DeadlineWindowOutOfBounds", {"window": 10}),
    ],
)
def test_constructor_bad_parameter_reverts(deploy_market, project, overrides, error, args):
    with ape.reverts(getattr(project.QueryMarket, error), **args):
        deploy_market(**overrides)
