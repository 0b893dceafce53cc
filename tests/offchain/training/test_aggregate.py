"""Submissions to a round on the real Redis: checks, idempotence, the Celery worker."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import pytest
from celery import Celery
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from zkai.errors import UpdateRejectedError
from zkai.models.demo import DemoSplit
from zkai.models.manifest import Manifest
from zkai.training.aggregate import (
    ROUND_STATUS_TASK,
    add_submission,
    submission_message,
)
from zkai.training.he import ERROR_BOUND, KeyHolder, encrypt_update
from zkai.training.local import train_local
from zkai.training.rounds import Submission, enqueue, make_submission, submit
from zkai.training.store import RoundInfo, RoundStore

P = 650


def _signed(info: RoundInfo, account: LocalAccount, ciphertext: bytes, weight: int) -> Submission:
    import hashlib

    digest = hashlib.sha256(ciphertext).hexdigest()
    message = encode_defunct(text=submission_message(info.round_id, digest, weight))
    signature = account.sign_message(message).signature.to_0x_hex()
    return Submission(info.round_id, account.address, ciphertext, weight, signature)


def _update(key_holder: KeyHolder, seed: int) -> tuple[bytes, np.ndarray]:
    values = np.random.default_rng(seed).normal(size=P)
    return encrypt_update(key_holder.public_context(), values), values


@pytest.fixture
def two_accepted(
    store: RoundStore,
    key_holder: KeyHolder,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
) -> tuple[RoundInfo, np.ndarray, bytes]:
    """A round with the first two contributors' updates accepted: (info, plain sum, enc sum)."""
    info = new_round()
    total = np.zeros(P)
    for i, account in enumerate(contributors[:2]):
        ciphertext, values = _update(key_holder, i)
        submit(store, _signed(info, account, ciphertext, 10))
        total += values
    encrypted = store.encrypted_sum(info.round_id)
    assert encrypted is not None
    return info, total, encrypted


def _assert_sum_unchanged(
    store: RoundStore, key_holder: KeyHolder, state: tuple[RoundInfo, np.ndarray, bytes]
) -> None:
    info, plain, encrypted = state
    assert store.encrypted_sum(info.round_id) == encrypted
    assert len(store.accepted(info.round_id)) == 2
    decrypted = key_holder.decrypt_sum(encrypted, min_updates=2)
    assert np.max(np.abs(decrypted - plain)) <= ERROR_BOUND


def _rejected(store: RoundStore, submission: Submission, reason: str) -> UpdateRejectedError:
    with pytest.raises(UpdateRejectedError) as info:
        submit(store, submission)
    assert info.value.reason == reason, info.value
    return info.value


def test_submit_accepts_and_sums(
    store: RoundStore, key_holder: KeyHolder, two_accepted: tuple[RoundInfo, np.ndarray, bytes]
) -> None:
    info = two_accepted[0]
    assert [e.weight for e in store.accepted(info.round_id)] == [10, 10]
    _assert_sum_unchanged(store, key_holder, two_accepted)


def test_second_update_from_same_wallet_rejected(
    store: RoundStore,
    key_holder: KeyHolder,
    two_accepted: tuple[RoundInfo, np.ndarray, bytes],
    contributors: list[LocalAccount],
) -> None:
    info = two_accepted[0]
    ciphertext, _ = _update(key_holder, 99)
    error = _rejected(store, _signed(info, contributors[0], ciphertext, 10), "duplicate")
    assert "already has an update" in str(error)
    _assert_sum_unchanged(store, key_holder, two_accepted)


def test_resubmitting_the_same_update_is_idempotent(
    store: RoundStore,
    key_holder: KeyHolder,
    two_accepted: tuple[RoundInfo, np.ndarray, bytes],
    contributors: list[LocalAccount],
) -> None:
    info = two_accepted[0]
    ciphertext, _ = _update(key_holder, 5)
    third = _signed(info, contributors[2], ciphertext, 7)
    submit(store, third)
    after = store.encrypted_sum(info.round_id)
    assert submit(store, third).address == contributors[2].address
    assert store.encrypted_sum(info.round_id) == after
    assert len(store.accepted(info.round_id)) == 3


def test_update_for_closed_round_rejected(
    store: RoundStore,
    key_holder: KeyHolder,
    two_accepted: tuple[RoundInfo, np.ndarray, bytes],
    contributors: list[LocalAccount],
) -> None:
    info = two_accepted[0]
    store.close(info.round_id)
    ciphertext, _ = _update(key_holder, 3)
    error = _rejected(store, _signed(info, contributors[2], ciphertext, 10), "round-closed")
    assert "is closed" in str(error)
    _assert_sum_unchanged(store, key_holder, two_accepted)


def test_update_after_deadline_rejected(
    store: RoundStore,
    key_holder: KeyHolder,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
) -> None:
    open_info = new_round()
    info = dataclasses.replace(open_info, round_id=open_info.round_id + "-late", deadline=1)
    store.create(info, store.public_context(open_info.round_id))
    ciphertext, _ = _update(key_holder, 3)
    _rejected(store, _signed(info, contributors[0], ciphertext, 10), "round-closed")
    assert store.encrypted_sum(info.round_id) is None


def test_bad_signatures_rejected(
    store: RoundStore,
    key_holder: KeyHolder,
    two_accepted: tuple[RoundInfo, np.ndarray, bytes],
    contributors: list[LocalAccount],
) -> None:
    info = two_accepted[0]
    ciphertext, _ = _update(key_holder, 3)
    good = _signed(info, contributors[2], ciphertext, 10)
    by_other = _signed(info, contributors[1], ciphertext, 10)
    forged = Submission(info.round_id, contributors[2].address, ciphertext, 10, by_other.signature)
    error = _rejected(store, forged, "bad-signature")
    assert f"not by {contributors[2].address}" in str(error)
    heavier = Submission(info.round_id, good.address, ciphertext, 11, good.signature)
    _rejected(store, heavier, "bad-signature")
    other_ciphertext, _ = _update(key_holder, 4)
    swapped = Submission(info.round_id, good.address, other_ciphertext, 10, good.signature)
    _rejected(store, swapped, "bad-signature")
    garbage = Submission(info.round_id, good.address, ciphertext, 10, "0x" + "00" * 3)
    assert "malformed signature" in str(_rejected(store, garbage, "bad-signature"))
    _assert_sum_unchanged(store, key_holder, two_accepted)


def test_unknown_wallet_and_bad_weight_rejected(
    store: RoundStore, key_holder: KeyHolder, two_accepted: tuple[RoundInfo, np.ndarray, bytes]
) -> None:
    info = two_accepted[0]
    ciphertext, _ = _update(key_holder, 3)
    stranger = Account.create()
    error = _rejected(store, _signed(info, stranger, ciphertext, 10), "unknown-contributor")
    assert "allow-list" in str(error)
    _assert_sum_unchanged(store, key_holder, two_accepted)


def test_wrong_context_and_size_rejected_by_store(
    store: RoundStore,
    key_holder: KeyHolder,
    two_accepted: tuple[RoundInfo, np.ndarray, bytes],
    contributors: list[LocalAccount],
) -> None:
    info = two_accepted[0]
    foreign = encrypt_update(KeyHolder.generate().public_context(), np.ones(P))
    _rejected(store, _signed(info, contributors[2], foreign, 10), "wrong-context")
    short = encrypt_update(key_holder.public_context(), np.ones(P - 1))
    _rejected(store, _signed(info, contributors[2], short, 10), "wrong-size")
    big = encrypt_update(key_holder.public_context(), np.ones(P))
    _rejected(store, _signed(info, contributors[2], big, info.max_weight + 1), "bad-weight")
    _assert_sum_unchanged(store, key_holder, two_accepted)


def test_upload_received_before_the_deadline_counts_even_if_added_after_it(
    store: RoundStore,
    key_holder: KeyHolder,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
) -> None:
    info = new_round(deadline=int(time.time()) + 2)
    ciphertext, _ = _update(key_holder, 8)
    late = _signed(info, contributors[0], ciphertext, 10)
    digest = store.stage(info.round_id, late.ciphertext)
    received = time.time()
    time.sleep(max(0.0, info.deadline - time.time()) + 1.1)
    with pytest.raises(UpdateRejectedError) as refused:  # received now: too late
        add_submission(store, info.round_id, late.address, digest, 10, late.signature)
    assert refused.value.reason == "round-closed"
    entry = add_submission(
        store, info.round_id, late.address, digest, 10, late.signature, received_at=received
    )
    assert entry.address == contributors[0].address
    store.close(info.round_id)  # once the key holder closes it, nothing more is added
    ciphertext, _ = _update(key_holder, 9)
    other = _signed(info, contributors[1], ciphertext, 10)
    digest = store.stage(info.round_id, other.ciphertext)
    with pytest.raises(UpdateRejectedError, match="closed"):
        add_submission(
            store, info.round_id, other.address, digest, 10, other.signature, received_at=received
        )


def test_unknown_round_rejected(store: RoundStore) -> None:
    with pytest.raises(UpdateRejectedError) as info:
        add_submission(store, "no-such-round", Account.create().address, "00" * 32, 1, "0x")
    assert info.value.reason == "unknown-round"


# -- through a real Celery worker -----------------------------------------------------------


def test_streaming_sum_through_a_real_worker(
    worker: Celery,
    store: RoundStore,
    key_holder: KeyHolder,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
    digits: Manifest,
    digits_split: DemoSplit,
) -> None:
    info = new_round()
    public = store.public_context(info.round_id)
    parts = np.array_split(np.arange(60), 3)
    submissions = [
        make_submission(info, public, digits, digits_split.x_train[p], digits_split.y_train[p], a)
        for a, p in zip(contributors, parts, strict=True)
    ]
    results = [enqueue(store, worker, s) for s in submissions]
    verdicts = [r.get(timeout=30) for r in results]
    assert [v["accepted"] for v in verdicts] == [True, True, True]
    duplicate = Submission(
        info.round_id,
        submissions[0].address,
        submissions[1].ciphertext,
        submissions[1].weight,
        submissions[0].signature,
    )
    refused = enqueue(store, worker, duplicate).get(timeout=30)
    assert refused["accepted"] is False
    assert refused["reason"] in {"bad-signature", "duplicate"}
    status = worker.send_task(ROUND_STATUS_TASK, args=[info.round_id]).get(timeout=30)
    assert status["accepted"] == 3
    assert status["rejected"] == 1
    assert status["contexts_loaded"] >= 1
    assert status["secret_contexts"] == 0
    encrypted = store.encrypted_sum(info.round_id)
    assert encrypted is not None
    assert store.rejected(info.round_id)[0]["reason"] == refused["reason"]
    assert encrypted is not None
    decrypted = key_holder.decrypt_sum(encrypted, min_updates=3)
    expected = sum(
        train_local(digits, digits_split.x_train[p], digits_split.y_train[p]).vector for p in parts
    )
    assert np.max(np.abs(decrypted - expected)) <= ERROR_BOUND
