"""Contributor rewards: the Merkle tree of (contributor, amount) behind `ContributorRewards`."""

from zkai.rewards.merkle import RewardTree, RewardTreeError, reward_leaf, verify_proof

__all__ = ["RewardTree", "RewardTreeError", "reward_leaf", "verify_proof"]
