"""ContributorRewards: epochs, Merkle claims (trees built by zkai.rewards), rollover."""

from __future__ import annotations

import ape
import pytest

from tests.contracts.conftest import CLAIM_WINDOW, warp_to
from zkai.rewards import RewardTree

ETHER = 10**18


@pytest.fixture
def tree(accounts, contributor):
    entries = [(contributor.address, 5 * ETHER)] + [
        (accounts[i].address, i * ETHER) for i in (1, 2, 3, 4)
    ]
    return RewardTree.of(entries)


@pytest.fixture
def funded(rewards, token, owner):
    token.transfer(rewards, 100 * ETHER, sender=owner)
    return rewards


@pytest.fixture
def epoch(funded, tree, aggregator):
    receipt = funded.postEpoch(tree.root, tree.total, sender=aggregator)
    return receipt.events.filter(funded.EpochPosted)[0].epoch


def test_postEpoch_reserves_total(funded, tree, aggregator, chain):
    receipt = funded.postEpoch(tree.root, tree.total, sender=aggregator)
    [event] = receipt.events.filter(funded.EpochPosted)
    block_time = chain.blocks[receipt.block_number].timestamp
    assert (event.epoch, event.aggregator, bytes(event.root)) == (1, aggregator.address, tree.root)
    assert (event.total, event.claimDeadline) == (tree.total, block_time + CLAIM_WINDOW)
    assert funded.reserved() == tree.total
    assert funded.available() == 100 * ETHER - tree.total
    assert funded.epochCount() == 1


def test_postEpoch_not_aggregator_reverts(funded, tree, stranger):
    with ape.reverts(funded.NotAggregator, caller=stranger.address):
        funded.postEpoch(tree.root, 1, sender=stranger)


def test_postEpoch_zero_root_reverts(funded, aggregator):
    with ape.reverts(funded.RootZero, total=1):
        funded.postEpoch(b"\x00" * 32, 1, sender=aggregator)


def test_postEpoch_more_than_available_reverts(funded, tree, aggregator):
    with ape.reverts(funded.InsufficientRewards, total=101 * ETHER, available=100 * ETHER):
        funded.postEpoch(tree.root, 101 * ETHER, sender=aggregator)


def test_claim_pays_leaf_once(funded, token, tree, epoch, contributor, stranger):
    proof = tree.proof(contributor.address, 5 * ETHER)
    receipt = funded.claim(epoch, contributor, 5 * ETHER, proof, sender=stranger)
    [event] = receipt.events.filter(funded.Claimed)
    assert (event.epoch, event.contributor, event.amount) == (epoch, contributor.address, 5 * ETHER)
    assert token.balanceOf(contributor) == 5 * ETHER
    assert funded.isClaimed(epoch, contributor, 5 * ETHER)
    assert funded.getEpoch(epoch).claimed == 5 * ETHER
    assert funded.reserved() == tree.total - 5 * ETHER
    with ape.reverts(
        funded.AlreadyClaimed, epoch=epoch, account=contributor.address, amount=5 * ETHER
    ):
        funded.claim(epoch, contributor, 5 * ETHER, proof, sender=contributor)


def test_claim_wrong_amount_reverts(funded, tree, epoch, contributor):
    proof = tree.proof(contributor.address, 5 * ETHER)
    with ape.reverts(
        funded.InvalidMerkleProof, epoch=epoch, account=contributor.address, amount=6 * ETHER
    ):
        funded.claim(epoch, contributor, 6 * ETHER, proof, sender=contributor)


def test_claim_unknown_epoch_reverts(funded, tree, contributor):
    with ape.reverts(funded.EpochNotFound, epoch=9):
        funded.claim(9, contributor, 5 * ETHER, [], sender=contributor)


def test_claim_after_window_reverts(funded, tree, epoch, contributor, chain):
    deadline = funded.getEpoch(epoch).claimDeadline
    warp_to(chain, deadline + 1)
    with ape.reverts(funded.ClaimWindowClosed, epoch=epoch, claimDeadline=deadline):
        funded.claim(
            epoch,
            contributor,
            5 * ETHER,
            tree.proof(contributor.address, 5 * ETHER),
            sender=contributor,
        )


def test_claim_beyond_epoch_total_reverts(funded, tree, aggregator, contributor):
    receipt = funded.postEpoch(tree.root, 4 * ETHER, sender=aggregator)
    epoch = receipt.events.filter(funded.EpochPosted)[0].epoch
    with ape.reverts(
        funded.EpochTotalExceeded, epoch=epoch, claimed=0, amount=5 * ETHER, total=4 * ETHER
    ):
        funded.claim(
            epoch,
            contributor,
            5 * ETHER,
            tree.proof(contributor.address, 5 * ETHER),
            sender=contributor,
        )


def test_closeEpoch_rolls_unclaimed_over(funded, tree, epoch, contributor, chain, stranger):
    funded.claim(
        epoch,
        contributor,
        5 * ETHER,
        tree.proof(contributor.address, 5 * ETHER),
        sender=contributor,
    )
    warp_to(chain, funded.getEpoch(epoch).claimDeadline + 1)
    receipt = funded.closeEpoch(epoch, sender=stranger)
    assert receipt.events.filter(funded.EpochClosed)[0].rolledOver == tree.total - 5 * ETHER
    assert funded.reserved() == 0
    assert funded.available() == 100 * ETHER - 5 * ETHER
    assert funded.getEpoch(epoch).closed


def test_closeEpoch_still_open_reverts(funded, epoch, stranger):
    deadline = funded.getEpoch(epoch).claimDeadline
    with ape.reverts(funded.EpochStillOpen, epoch=epoch, claimDeadline=deadline):
        funded.closeEpoch(epoch, sender=stranger)


def test_closeEpoch_twice_reverts(funded, epoch, chain, stranger):
    warp_to(chain, funded.getEpoch(epoch).claimDeadline + 1)
    funded.closeEpoch(epoch, sender=stranger)
    with ape.reverts(funded.EpochAlreadyClosed, epoch=epoch):
        funded.closeEpoch(epoch, sender=stranger)


def test_closeEpoch_unknown_reverts(funded, stranger):
    with ape.reverts(funded.EpochNotFound, epoch=3):
        funded.closeEpoch(3, sender=stranger)


def test_setAggregator_allows_and_disallows(rewards, owner, stranger):
    receipt = rewards.setAggregator(stranger, True, sender=owner)
    assert receipt.events.filter(rewards.AggregatorSet)[0].aggregator == stranger.address
    assert rewards.isAggregator(stranger)
    rewards.setAggregator(stranger, False, sender=owner)
    assert not rewards.isAggregator(stranger)


def test_setAggregator_zero_reverts(rewards, owner):
    with ape.reverts(rewards.InvalidAggregator, aggregator=ape.utils.ZERO_ADDRESS):
        rewards.setAggregator(ape.utils.ZERO_ADDRESS, True, sender=owner)


def test_setAggregator_not_owner_reverts(rewards, stranger):
    with ape.reverts(rewards.OwnableUnauthorizedAccount, account=stranger.address):
        rewards.setAggregator(stranger, True, sender=stranger)


def test_setClaimWindow_updates(rewards, owner):
    receipt = rewards.setClaimWindow(2 * 86400, sender=owner)
    assert receipt.events.filter(rewards.ClaimWindowSet)[0].window == 2 * 86400
    assert rewards.claimWindow() == 2 * 86400


@pytest.mark.parametrize("window", [3600, 366 * 86400])
def test_setClaimWindow_out_of_bounds_reverts(rewards, owner, window):
    with ape.reverts(rewards.ClaimWindowOutOfBounds, window=window, min=86400, max=365 * 86400):
        rewards.setClaimWindow(window, sender=owner)


def test_constructor_token_without_code_reverts(project, owner, stranger):
    with ape.reverts(
        project.ContributorRewards.ContributorRewardsInvalidToken, token=stranger.address
    ):
        project.ContributorRewards.deploy(owner, stranger, CLAIM_WINDOW, sender=owner)


def test_rewardToken_is_the_token(rewards, token):
    assert rewards.rewardToken() == token.address
