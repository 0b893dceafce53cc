"""A training round end to end in-process: three contributors, a new version, rewards."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from eth_account.signers.local import LocalAccount

from zkai.errors import TrainingError
from zkai.models.demo import DemoSplit
from zkai.models.manifest import Manifest
from zkai.rewards import reward_leaf, verify_proof
from zkai.training.he import KeyHolder
from zkai.training.local import LocalTrainingConfig, manifest_from_parameters, parameters_of
from zkai.training.rounds import (
    accuracy,
    close_round,
    finalise_round,
    make_submission,
    split_rewards,
    submit,
)
from zkai.training.store import RoundInfo, RoundStore

POOL = 1_000 * 10**18 + 7
TOLERANCE = 0.01


def test_round_end_to_end_three_contributors(
    store: RoundStore,
    key_holder: KeyHolder,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
    digits: Manifest,
    digits_split: DemoSplit,
) -> None:
    info = new_round()
    public = store.public_context(info.round_id)
    split = digits_split
    parts = np.array_split(np.random.default_rng(0).permutation(len(split.y_train)), 3)
    for account, part in zip(contributors, parts, strict=True):
        submission = make_submission(
            info, public, digits, split.x_train[part], split.y_train[part], account
        )
        submit(store, submission)
    with pytest.raises(TrainingError, match="still open"):
        finalise_round(
            store, key_holder, info.round_id, digits, split.x_test, split.y_test, reward_pool=POOL
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
        tolerance=TOLERANCE,
    )
    assert result.accepted, result.reason
    assert result.manifest is not None
    assert result.manifest.version == digits.version + 1
    assert result.manifest.hash != digits.hash
    new_accuracy = accuracy(result.manifest, split.x_test, split.y_test)
    assert new_accuracy == result.new_accuracy
    assert new_accuracy >= accuracy(digits, split.x_test, split.y_test) - TOLERANCE
    assert result.total_weight == sum(len(p) for p in parts)

    assert sum(amount for _, amount in result.rewards) == POOL
    weights = {c.address: c.weight for c in result.contributions}
    for address, amount in result.rewards:
        assert abs(amount - POOL * weights[address] / result.total_weight) <= 1
    assert result.tree is not None
    assert result.tree.total == POOL
    for address, amount in result.rewards:
        proof = result.tree.proof(address, amount)
        assert verify_proof(result.tree.root, reward_leaf(address, amount), proof)
        assert not verify_proof(result.tree.root, reward_leaf(address, amount + 1), proof)


def test_round_with_too_few_updates_is_not_decrypted(
    store: RoundStore,
    key_holder: KeyHolder,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
    digits: Manifest,
    digits_split: DemoSplit,
) -> None:
    info = new_round()
    split = digits_split
    public = store.public_context(info.round_id)
    submit(
        store,
        make_submission(
            info, public, digits, split.x_train[:50], split.y_train[:50], contributors[0]
        ),
    )
    close_round(store, info.round_id)
    with pytest.raises(TrainingError, match="fewer than the 2 needed"):
        finalise_round(
            store, key_holder, info.round_id, digits, split.x_test, split.y_test, reward_pool=POOL
        )


def test_degrading_round_is_rejected(
    store: RoundStore,
    key_holder: KeyHolder,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
    digits: Manifest,
    digits_split: DemoSplit,
) -> None:
    """Contributors with shuffled labels and a loose clip bound pull the model off: refused."""
    config = LocalTrainingConfig(epochs=60, learning_rate=2.0, clip_norm=50.0)
    info = new_round(config=config)
    split = digits_split
    public = store.public_context(info.round_id)
    wrong = np.random.default_rng(1).permutation(split.y_train)
    for i, account in enumerate(contributors):
        rows = slice(100 * i, 100 * (i + 1))
        submit(
            store, make_submission(info, public, digits, split.x_train[rows], wrong[rows], account)
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
        tolerance=TOLERANCE,
    )
    assert not result.accepted
    assert "would drop" in result.reason
    assert result.manifest is None
    assert result.tree is None


def test_contributor_must_train_from_the_rounds_manifest(
    store: RoundStore,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
    digits: Manifest,
    digits_split: DemoSplit,
) -> None:
    info = new_round()
    other = manifest_from_parameters(digits, parameters_of(digits), version=2)
    with pytest.raises(TrainingError, match="trains model version 1"):
        make_submission(
            info,
            store.public_context(info.round_id),
            other,
            digits_split.x_train[:10],
            digits_split.y_train[:10],
            contributors[0],
        )


def test_split_rewards_sums_to_pool() -> None:
    entries = [("0x" + "11" * 20, 3), ("0x" + "22" * 20, 3), ("0x" + "33" * 20, 1)]
    rewards = split_rewards(100, entries)
    assert sum(amount for _, amount in rewards) == 100
    assert [amount for _, amount in rewards] == [43, 43, 14]
    with pytest.raises(TrainingError):
        split_rewards(10, [("0x" + "11" * 20, 0)])
