"""OpenZeppelin StandardMerkleTree for reward leaves ["address", "uint256"], in Python.

The same tree as `@openzeppelin/merkle-tree`'s `StandardMerkleTree.of(values, ["address",
"uint256"])`: each leaf is keccak256(keccak256(abi.encode(account, amount))), leaves are sorted by
hash, the tree is a complete binary tree stored as an array (root at 0, leaves at the end), and
every inner node hashes its children in sorted order. So a proof from here verifies with
OpenZeppelin's `MerkleProof.verify`, which `ContributorRewards.claim` uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from zkai.errors import ZKAIError

UINT256_MAX = 2**256 - 1


class RewardTreeError(ZKAIError):
    """A reward tree cannot be built from these entries, or a leaf is not in it."""


def reward_leaf(account: str, amount: int) -> bytes:
    """The leaf hash of (account, amount): keccak256(bytes.concat(keccak256(abi.encode(...))))."""
    if not 0 <= amount <= UINT256_MAX:
        raise RewardTreeError(f"amount {amount} is not a uint256")
    return keccak(
        keccak(abi_encode(["address", "uint256"], [to_checksum_address(account), amount]))
    )


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


@dataclass(frozen=True)
class RewardTree:
    """A reward epoch's tree: build it with `RewardTree.of`, post `root`, hand out `proof`s."""

    entries: tuple[tuple[str, int], ...]
    """(checksummed account, amount), in the order given."""
    nodes: tuple[bytes, ...]
    """The tree as an array: root first, leaves (sorted by hash) last."""
    leaf_positions: dict[bytes, int]
    """Leaf hash -> its index in `nodes`."""

    @classmethod
    def of(cls, entries: Iterable[tuple[str, int]]) -> RewardTree:
        """The tree of `entries`; each (account, amount) pair must occur once."""
        normalized = tuple(
            (to_checksum_address(account), int(amount)) for account, amount in entries
        )
        if not normalized:
            raise RewardTreeError("a reward tree needs at least one entry")
        leaves = sorted(reward_leaf(account, amount) for account, amount in normalized)
        if len(set(leaves)) != len(leaves):
            raise RewardTreeError("duplicate (account, amount) entry: each leaf is claimable once")
        size = 2 * len(leaves) - 1
        nodes: list[bytes] = [b""] * size
        for i, leaf in enumerate(leaves):
            nodes[size - 1 - i] = leaf
        for i in range(size - len(leaves) - 1, -1, -1):
            nodes[i] = _hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
        positions = {nodes[i]: i for i in range(size - len(leaves), size)}
        return cls(normalized, tuple(nodes), positions)

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    @property
    def total(self) -> int:
        """The sum of all amounts: the epoch total to post with the root."""
        return sum(amount for _, amount in self.entries)

    def proof(self, account: str, amount: int) -> list[bytes]:
        """Sibling hashes from the leaf of (account, amount) up to (not including) the root."""
        leaf = reward_leaf(account, amount)
        try:
            index = self.leaf_positions[leaf]
        except KeyError:
            raise RewardTreeError(f"({account}, {amount}) is not a leaf of this tree") from None
        path: list[bytes] = []
        while index > 0:
            sibling = index + 1 if index % 2 == 1 else index - 1
            path.append(self.nodes[sibling])
            index = (index - 1) // 2
        return path


def verify_proof(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """OpenZeppelin's `MerkleProof.verify`: fold the proof into the leaf, sorted-pair hashing."""
    computed = leaf
    for sibling in proof:
        computed = _hash_pair(computed, sibling)
    return computed == root
