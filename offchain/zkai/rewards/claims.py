"""A contributor's rewards: what the API shows, and claiming them on-chain.

`rewards_of` reads `GET /api/contributors/<address>`. `claim_rewards` claims every unclaimed,
still-claimable reward: it fetches the epoch's published leaves (`GET /api/epochs/<n>/
distribution`), rebuilds the OpenZeppelin StandardMerkleTree locally, checks that its root is the
epoch's root *on-chain* (so a wrong or tampered list from the API cannot be used), and sends
`ContributorRewards.claim(epoch, contributor, amount, proof)`. Anyone may send a claim; the tokens
always go to the contributor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address

from zkai.chain.client import ChainClient
from zkai.errors import ContractRevertError, ZKAIError
from zkai.http import api_request
from zkai.rewards.merkle import RewardTree, RewardTreeError

__all__ = ["Claim", "RewardsError", "claim_rewards", "rewards_of"]


class RewardsError(ZKAIError):
    """Rewards cannot be shown or claimed as asked."""


@dataclass(frozen=True)
class Claim:
    epoch: int
    contributor: str
    amount: int
    tx_hash: str | None
    """None when the reward was already claimed (by anyone), or could not be."""
    gas_used: int
    error: str | None = None
    """Why the claim failed (the others are still made)."""


def _get(api_url: str, path: str) -> requests.Response:
    return api_request(api_url, "GET", path, error=RewardsError)


def rewards_of(api_url: str, address: str) -> dict[str, Any]:
    """The API's view of `address`'s rewards (an empty record if it has none)."""
    if not is_address(address):
        raise RewardsError(f"{address!r} is not an address (0x and 40 hex digits)")
    contributor = to_checksum_address(address)
    response = _get(api_url, f"/api/contributors/{contributor}")
    if response.status_code == 404:
        zero = {"wei": "0", "tokens": "0"}
        return {
            "address": contributor,
            "allocated": zero,
            "claimed": zero,
            "unclaimed": zero,
            "epochs": 0,
            "rewards": [],
        }
    if response.status_code != 200:
        raise RewardsError(f"the API answered HTTP {response.status_code}: {response.text[:300]}")
    data: dict[str, Any] = response.json()
    return data


def epoch_tree(chain: ChainClient, api_url: str, epoch: int) -> RewardTree:
    """The epoch's reward tree from the API's leaves, checked against the root on-chain."""
    response = _get(api_url, f"/api/epochs/{epoch}/distribution")
    if response.status_code != 200:
        raise RewardsError(
            f"the leaves of epoch {epoch} are not available from {api_url} (HTTP "
            f"{response.status_code}); without them no Merkle proof can be built"
        )
    entries = [(e["contributor"], int(e["amount"]["wei"])) for e in response.json()["entries"]]
    tree = RewardTree.of(entries)
    rewards = chain.contract("ContributorRewards")
    root = bytes(chain.call(rewards.functions.getEpoch(epoch))[0])
    if tree.root != root:
        raise RewardsError(
            f"the leaves the API lists for epoch {epoch} hash to 0x{tree.root.hex()}, but the "
            f"epoch's root on-chain is 0x{root.hex()}: refusing to use them"
        )
    return tree


def claim_rewards(
    chain: ChainClient,
    sender: LocalAccount,
    api_url: str,
    *,
    contributor: str | None = None,
    epochs: set[int] | None = None,
) -> list[Claim]:
    """Claim `contributor`'s (default: the sender's) unclaimed rewards; returns what was done."""
    address = to_checksum_address(contributor or sender.address)
    rewards = chain.contract("ContributorRewards")
    claims: list[Claim] = []
    for reward in rewards_of(api_url, address)["rewards"]:
        epoch, amount = int(reward["epoch"]), int(reward["amount"]["wei"])
        if reward["status"] != "unclaimed" or (epochs is not None and epoch not in epochs):
            continue
        if chain.call(rewards.functions.isClaimed(epoch, address, amount)):
            claims.append(Claim(epoch, address, amount, None, 0))
            continue
        try:
            proof = epoch_tree(chain, api_url, epoch).proof(address, amount)
            receipt = chain.transact(sender, rewards.functions.claim(epoch, address, amount, proof))
        except (ContractRevertError, RewardsError, RewardTreeError) as exc:
            claims.append(Claim(epoch, address, amount, None, 0, str(exc)))
            continue
        claims.append(
            Claim(
                epoch,
                address,
                amount,
                "0x" + bytes(receipt["transactionHash"]).hex(),
                int(receipt["gasUsed"]),
            )
        )
    if epochs is not None and not claims:
        raise RewardsError(f"{address} has no unclaimed reward in epoch(s) {sorted(epochs)}")
    return claims
