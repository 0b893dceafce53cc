"""An accepted training round on a real chain: new model version, reward epoch, a claim."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from eth_account.signers.local import LocalAccount

from zkai.chain.client import ChainClient
from zkai.localnet_state import anvil_account
from zkai.models.demo import DemoSplit
from zkai.models.manifest import Manifest
from zkai.protocol.market import read_model
from zkai.registration import PartPricing, register_model
from zkai.training.he import KeyHolder
from zkai.training.rounds import close_round, finalise_round, make_submission, publish_round, submit
from zkai.training.store import RoundInfo, RoundStore

ETHER = 10**18
POOL = 300 * ETHER
PRICE, SHARES = 2 * ETHER, 2


def test_publish_round_registers_the_new_version_and_pays_a_contributor(
    chain: ChainClient,
    store: RoundStore,
    key_holder: KeyHolder,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
    digits: Manifest,
    digits_split: DemoSplit,
) -> None:
    owner = anvil_account(0)
    model_id, version = register_model(chain, owner, digits, [PartPricing(PRICE, SHARES)])
    assert version == 1

    info = new_round()
    public = store.public_context(info.round_id)
    split = digits_split
    parts = np.array_split(np.random.default_rng(1).permutation(len(split.y_train)), 3)
    for account, part in zip(contributors, parts, strict=True):
        submit(
            store,
            make_submission(
                info, public, digits, split.x_train[part], split.y_train[part], account
            ),
        )
    close_round(store, info.round_id)
    result = finalise_round(
        store,
        key_holder,
        info.round_id,
        digits,
        split.x_test,
        split.y_test,
        reward_pool=POOL,
        tolerance=0.01,
    )
    assert result.accepted, result.reason
    assert result.manifest is not None
    assert result.tree is not None

    rewards = chain.contract("ContributorRewards")
    token = chain.contract("ZKAIToken")
    chain.transact(owner, token.functions.transfer(rewards.address, POOL))
    chain.transact(owner, rewards.functions.setAggregator(owner.address, True))

    new_version, epoch = publish_round(
        chain,
        owner,
        owner,
        model_id,
        result.manifest,
        result.tree,
        pricing=[PartPricing(PRICE, SHARES)],
        after_epoch=0,
    )
    # Publishing again (an interrupted run resumed) changes nothing.
    assert publish_round(
        chain,
        owner,
        owner,
        model_id,
        result.manifest,
        result.tree,
        pricing=[PartPricing(PRICE, SHARES)],
        after_epoch=0,
    ) == (new_version, epoch)

    assert new_version == 2
    assert int(chain.call(rewards.functions.epochCount())) == 1
    assert read_model(chain, model_id).version == 2
    assert read_model(chain, model_id).manifest_hash == result.manifest.hash
    assert epoch == 1
    assert bytes(chain.call(rewards.functions.getEpoch(epoch))[0]) == result.tree.root

    address, amount = result.rewards[0]
    before = int(chain.call(token.functions.balanceOf(address)))
    proof = result.tree.proof(address, amount)
    chain.transact(owner, rewards.functions.claim(epoch, address, amount, proof))
    assert int(chain.call(token.functions.balanceOf(address))) == before + amount
    assert chain.call(rewards.functions.isClaimed(epoch, address, amount)) is True
    assert int(chain.call(rewards.functions.reserved())) == POOL - amount

    # A later round that pays the same amounts to the same wallets has the same Merkle root; its
    # publication starts after epoch 1, so it posts an epoch of its own.
    chain.transact(owner, token.functions.transfer(rewards.address, POOL))
    _version, second = publish_round(
        chain,
        owner,
        owner,
        model_id,
        result.manifest,
        result.tree,
        pricing=[PartPricing(PRICE, SHARES)],
        after_epoch=epoch,
    )
    assert second == epoch + 1
    assert bytes(chain.call(rewards.functions.getEpoch(second))[0]) == result.tree.root
