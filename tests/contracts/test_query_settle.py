"""QueryMarket v2, settle, fees and owner powers: refunds never wait on slashing, and no owner
power reaches a query in flight."""

from __future__ import annotations

import ape
import pytest
from ape.contracts import ContractContainer
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak
from ethpm_types import ContractType

from tests.contracts.conftest import (
    CHALLENGE_WINDOW,
    CONTRIBUTOR_FEE_BPS,
    NO_VALIDITY,
    PART0,
    PART1,
    PROTOCOL_FEE_BPS,
    SLASH_AMOUNT,
    UNBONDING_MARGIN,
    Proto,
    part_terms,
    set_slasher,
    warp_to,
)
from zkai.chain.solidity import compile_solidity


def test_settle_after_proof_deadline_refunds_unclaimed(proto, market, token, nodes, chain):
    placed = proto.request(budgets=[2, 3])
    proto.claim(placed, 0, nodes[0], 1)
    credits = PART0["price"]
    warp_to(chain, placed.proof_deadline + 1)
    before = token.balanceOf(proto.user)
    receipt = market.settle(placed.query_id, sender=nodes[1])  # anyone
    [event] = receipt.events.filter(market.QuerySettled)
    assert (event.user, event.credits, event.refund) == (
        proto.user.address,
        credits,
        placed.escrow - credits,
    )
    assert token.balanceOf(proto.user) == before + placed.escrow - credits
    assert market.getQuery(placed.query_id).settled


def test_settle_never_calls_the_node_registry(proto, market, node_registry, chain):
    placed = proto.request()
    warp_to(chain, placed.proof_deadline + 1)
    receipt = market.settle(placed.query_id, sender=proto.user)
    trace = chain.provider.make_request(
        "debug_traceTransaction", [receipt.txn_hash, {"tracer": "callTracer"}]
    )

    def callees(frame):
        for call in frame.get("calls", []):
            yield call["to"].lower()
            yield from callees(call)

    assert node_registry.address.lower() not in set(callees(trace))


def test_settle_early_once_every_assignment_claimed(proto, market, token, nodes):
    placed = proto.request(budgets=[2, 3])
    proto.claim(placed, 0, nodes[0], 2)
    proto.claim(placed, 0, nodes[1], 1)
    with ape.reverts(market.SettleTooEarly, unfinalised=1):
        market.settle(placed.query_id, sender=proto.user)
    proto.claim(placed, 1, nodes[2], 3)
    before = token.balanceOf(proto.user)
    market.settle(placed.query_id, sender=proto.user)
    refund = PART0["price"]  # node 1 claimed 1 of its 2 rounds
    assert token.balanceOf(proto.user) == before + refund


def test_settle_twice_or_unknown_refused(proto, market, chain):
    placed = proto.request()
    warp_to(chain, placed.proof_deadline + 1)
    market.settle(placed.query_id, sender=proto.user)
    with ape.reverts(market.QueryAlreadySettled, queryId=placed.query_id):
        market.settle(placed.query_id, sender=proto.user)
    with ape.reverts(market.QueryNotFound):
        market.settle(b"\x07" * 32, sender=proto.user)


def test_settle_without_slasher_role_still_refunds(
    proto, market, node_registry, owner, token, chain
):
    placed = proto.request()
    # Removing the slasher takes an unbonding period; refunds do not wait for it either way.
    set_slasher(chain, node_registry, owner, market, False)
    warp_to(chain, placed.proof_deadline + 1)
    before = token.balanceOf(proto.user)
    market.settle(placed.query_id, sender=proto.user)
    assert token.balanceOf(proto.user) == before + placed.escrow


def test_sweepFees_sends_settled_cuts_to_treasury_and_pool(
    proto, market, token, nodes, treasury, rewards, chain
):
    placed = proto.request()
    proto.claim(placed, 0, nodes[0], 2)
    credit = 2 * PART0["price"]
    protocol, contributor = (
        credit * PROTOCOL_FEE_BPS // 10_000,
        credit * CONTRIBUTOR_FEE_BPS // 10_000,
    )
    assert market.accruedFees() == (0, 0)  # a claim's cuts accrue when its query settles
    warp_to(chain, placed.proof_deadline + 1)
    market.settle(placed.query_id, sender=nodes[2])
    assert market.accruedFees() == (protocol, contributor)
    t0, r0 = token.balanceOf(treasury), token.balanceOf(rewards)
    receipt = market.sweepFees(sender=nodes[2])
    [event] = receipt.events.filter(market.FeesSwept)
    assert (event.protocolFees, event.contributorFees) == (protocol, contributor)
    assert token.balanceOf(treasury) == t0 + protocol
    assert token.balanceOf(rewards) == r0 + contributor
    assert market.accruedFees() == (0, 0)


def test_owner_changes_do_not_touch_query_in_flight(
    proto, market, owner, nodes, token, chain, node_registry, model_registry, model_owner, verifier
):
    placed = proto.request()
    recorded = market.getAssignment(placed.query_id, 0, nodes[1])
    market.setFees(1_000, 2_000, sender=owner)
    market.setSlashAmount(1, sender=owner)
    market.setChallengeWindow(2 * CHALLENGE_WINDOW, sender=owner)
    market.setMinProofWindowFloor(900, sender=owner)
    model_registry.publishVersion(
        proto.model2,
        b"\x45" * 32,
        [part_terms(verifier, price=1), part_terms(verifier, **PART1)],
        NO_VALIDITY,
        sender=model_owner,
    )
    model_registry.setActive(proto.model2, False, sender=model_owner)
    node_registry.updateNode(
        b"\x0f" * 32, Account.create().address, "https://x", "", sender=nodes[1]
    )
    query = market.getQuery(placed.query_id)
    assert query.challengeDeadline == placed.proof_deadline + CHALLENGE_WINDOW
    assert (query.protocolBps, query.contributorBps, query.slashAmount) == (
        PROTOCOL_FEE_BPS,
        CONTRIBUTOR_FEE_BPS,
        SLASH_AMOUNT,
    )
    assert market.getAssignment(placed.query_id, 0, nodes[1]) == recorded
    receipt, _ = proto.claim(placed, 0, nodes[0], 2)
    credit = 2 * PART0["price"]
    expected = credit - credit * PROTOCOL_FEE_BPS // 10_000 - credit * CONTRIBUTOR_FEE_BPS // 10_000
    assert receipt.events.filter(market.Claimed)[0].payout == expected
    ack = proto.ack(placed, 0, nodes[1], 1, 3, 4)  # by node 1's signer recorded at request
    warp_to(chain, placed.proof_deadline + 1)
    slashed = market.slash(placed.query_id, 0, nodes[1], 1, 3, 4, ack, sender=proto.user)
    assert slashed.events.filter(market.AssignmentSlashed)[0].amount == SLASH_AMOUNT
    market.settle(placed.query_id, sender=proto.user)


@pytest.mark.parametrize(("protocol", "contributor"), [(1_001, 0), (0, 2_001)])
def test_setFees_above_caps_reverts(market, owner, protocol, contributor):
    with ape.reverts(market.FeesOutOfBounds):
        market.setFees(protocol, contributor, sender=owner)


def test_setSlashAmount_above_cap_reverts(market, owner):
    with ape.reverts(market.SlashAmountOutOfBounds):
        market.setSlashAmount(10**6 * 10**18 + 1, sender=owner)


@pytest.mark.parametrize("floor", [29, 86_401])
def test_setMinProofWindowFloor_out_of_bounds_reverts(market, owner, floor):
    with ape.reverts(market.ProofWindowFloorOutOfBounds, floor=floor):
        market.setMinProofWindowFloor(floor, sender=owner)


@pytest.mark.parametrize("window", [599, 30 * 86_400 + 1])
def test_setChallengeWindow_out_of_bounds_reverts(market, owner, window):
    with ape.reverts(market.ChallengeWindowOutOfBounds, window=window):
        market.setChallengeWindow(window, sender=owner)


def test_setChallengeWindow_beyond_unbonding_reverts(market, owner):
    # 7 days of unbonding: a 7-day challenge window leaves no room for the floor and margin.
    with ape.reverts(market.WindowsExceedUnbonding):
        market.setChallengeWindow(7 * 86_400 - 60 - UNBONDING_MARGIN, sender=owner)
    market.setChallengeWindow(7 * 86_400 - 61 - UNBONDING_MARGIN, sender=owner)


def test_owner_setters_not_owner_revert(market, stranger):
    for call in (
        lambda: market.setFees(0, 0, sender=stranger),
        lambda: market.setTreasury(stranger, sender=stranger),
        lambda: market.setRewardsPool(stranger, sender=stranger),
        lambda: market.setSlashAmount(0, sender=stranger),
        lambda: market.setMinProofWindowFloor(60, sender=stranger),
        lambda: market.setChallengeWindow(3600, sender=stranger),
    ):
        with ape.reverts(market.OwnableUnauthorizedAccount, account=stranger.address):
            call()


def test_setters_emit_and_apply_to_new_queries(proto, market, owner):
    receipt = market.setFees(100, 200, sender=owner)
    assert receipt.events.filter(market.FeesSet)[0].protocolFeeBps == 100
    market.setSlashAmount(5, sender=owner)
    market.setChallengeWindow(7200, sender=owner)
    placed = proto.request()
    query = market.getQuery(placed.query_id)
    assert (query.protocolBps, query.contributorBps, query.slashAmount) == (100, 200, 5)
    assert query.challengeDeadline == placed.proof_deadline + 7200


def test_ownership_two_step(market, owner, stranger):
    market.transferOwnership(stranger, sender=owner)
    assert market.owner() == owner.address
    market.acceptOwnership(sender=stranger)
    assert market.owner() == stranger.address


@pytest.mark.parametrize("margin", [59, 30 * 86_400 + 1])
def test_constructor_margin_out_of_bounds_reverts(deploy_market, margin):
    with ape.reverts():
        deploy_market(unbondingMargin=margin)


def test_constructor_windows_beyond_unbonding_reverts(deploy_market):
    with ape.reverts():
        deploy_market(challengeWindow=7 * 86_400, unbondingMargin=3600)


def test_domainSeparator_is_eip712_of_version_2(market, chain):
    typehash = keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    expected = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                typehash,
                keccak(text="ZKAI QueryMarket"),
                keccak(text="2"),
                chain.chain_id,
                market.address,
            ],
        )
    )
    assert bytes(market.domainSeparator()) == expected


# ------------------------------------------------------------------ reentrancy

HOSTILE = """
// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
/// A token that calls back into a target on every balance change, once per arming.
contract HostileToken is ERC20 {
    address public target;
    bytes public payload;
    bool public attempted;
    bool public succeeded;
    bytes public returned;
    constructor() ERC20("Hostile", "HST") { _mint(msg.sender, 1e30); }
    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
        attempted = false;
        succeeded = false;
    }
    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address t = target;
        if (t != address(0)) {
            target = address(0);
            attempted = true;
            (succeeded, returned) = t.call(payload);
        }
    }
}
"""
REENTRANT_SELECTOR = keccak(text="ReentrancyGuardReentrantCall()")[:4]


@pytest.fixture
def hostile(owner, node_registry, model_registry, treasury, rewards, project, proto, nodes, chain):
    compiled = compile_solidity(HOSTILE, "HostileToken")
    container = ContractContainer(
        ContractType.model_validate(
            {
                "contractName": "HostileToken",
                "abi": compiled.abi,
                "deploymentBytecode": {"bytecode": compiled.bytecode},
                "runtimeBytecode": {"bytecode": compiled.runtime_bytecode},
            }
        )
    )
    token = owner.deploy(container)
    market = project.QueryMarket.deploy(
        token,
        node_registry,
        model_registry,
        treasury,
        rewards,
        500,
        1000,
        0,
        60,
        3600,
        3600,
        sender=owner,
    )
    token.transfer(proto.user, 10**24, sender=owner)
    token.approve(market, 2**256 - 1, sender=proto.user)
    return (
        token,
        market,
        Proto(market, proto.circuit, chain, proto.user, nodes, proto.model2, proto.model_chunked),
    )


def _assert_reentry_blocked(token):
    assert token.attempted()
    assert not token.succeeded()
    assert bytes(token.returned())[:4] == REENTRANT_SELECTOR


def test_reentrancy_through_token_blocked_in_request_claim_settle(hostile, nodes, chain):
    token, market, proto = hostile
    sweep = market.sweepFees.encode_input()
    token.arm(market, sweep, sender=proto.user)
    placed = proto.request()
    _assert_reentry_blocked(token)
    claim = proto.prove(placed, 0, nodes[0], 1)
    token.arm(market, market.claim.encode_input(*claim.args(placed.query_id, 0)), sender=nodes[0])
    market.claim(*claim.args(placed.query_id, 0), sender=nodes[0])
    _assert_reentry_blocked(token)
    warp_to(chain, placed.proof_deadline + 1)
    token.arm(market, market.settle.encode_input(placed.query_id), sender=proto.user)
    market.settle(placed.query_id, sender=proto.user)
    _assert_reentry_blocked(token)
    token.arm(market, sweep, sender=proto.user)
    market.sweepFees(sender=proto.user)
    _assert_reentry_blocked(token)
