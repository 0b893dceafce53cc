"""Contributor rewards: the Merkle tree of (contributor, amount) behind `ContributorRewards`, and
the published distribution of each epoch's leaves."""

from zkai.rewards.distribution import distribution_path, load_distribution, publish_distribution
from zkai.rewards.merkle import RewardTree, RewardTreeError, reward_leaf, verify_proof

__all__ = [
    "RewardTree",
    "RewardTreeError",
    "distribution_path",
    "load_distribution",
    "publish_distribution",
    "reward_leaf",
    "verify_proof",
]
