"""zkai.rewards.merkle: StandardMerkleTree layout and proofs (also checked on-chain)."""

from __future__ import annotations

import pytest

from zkai.rewards import RewardTree, RewardTreeError, reward_leaf, verify_proof

ALICE = "0x1111111111111111111111111111111111111111"
BOB = "0x2222222222222222222222222222222222222222"


def test_of_single_leaf_root_is_leaf():
    tree = RewardTree.of([(ALICE, 5)])
    assert tree.root == reward_leaf(ALICE, 5)
    assert tree.proof(ALICE, 5) == []


@pytest.mark.parametrize("size", [2, 3, 7, 16])
def test_proof_verifies_for_every_leaf(size):
    entries = [(f"0x{i + 1:040x}", i * 10**18) for i in range(size)]
    tree = RewardTree.of(entries)
    assert tree.total == sum(amount for _, amount in entries)
    for account, amount in entries:
        assert verify_proof(tree.root, reward_leaf(account, amount), tree.proof(account, amount))
    assert not verify_proof(tree.root, reward_leaf(ALICE, 1), tree.proof(*entries[0]))


def test_of_duplicate_entry_raises():
    with pytest.raises(RewardTreeError, match="duplicate"):
        RewardTree.of([(ALICE, 1), (ALICE, 1)])


def test_of_empty_raises():
    with pytest.raises(RewardTreeError, match="at least one"):
        RewardTree.of([])


def test_proof_unknown_leaf_raises():
    with pytest.raises(RewardTreeError, match="not a leaf"):
        RewardTree.of([(ALICE, 1), (BOB, 2)]).proof(ALICE, 2)


def test_reward_leaf_negative_amount_raises():
    with pytest.raises(RewardTreeError, match="uint256"):
        reward_leaf(ALICE, -1)
