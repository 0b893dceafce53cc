"""A training round from opening to the new model version and its rewards.

1. `open_round` (the key holder / model owner): records the round in Redis with the current
   version's manifest hash, a deadline, the contributor allow-list and the public CKKS context.
2. `make_submission` (a contributor): trains locally from that manifest (refusing any other),
   encrypts the weighted update with the public context and signs it with its wallet.
   `submit` stages the ciphertext and adds it in-process; `enqueue` stages it and hands it to the
   aggregation workers (`zkai.training.aggregate`).
3. `close_round`, then `finalise_round` (the key holder): decrypts only the sum, and only if at
   least `min_updates` updates were accepted; derives theta + sum / total weight; checks the
   quantised model on the key holder's held-out set and accepts it only if its accuracy does
   not drop by more than `tolerance`; builds manifest version + 1 and the reward tree: the pool
   split in proportion to the accepted (clipped) weights, largest remainders rounded up so the
   amounts sum to the pool exactly.
4. `publish_round` (on-chain, idempotent): the new version through
   `zkai.registration.publish_version` (new circuit and verifier) and the epoch root
   through `ContributorRewards.postEpoch`.

`zkai.training.keyholder` runs steps 1, 3 and 4 for the key holder (with the secret key sealed in
the keystore); `zkai.training.client` runs step 2 for a contributor over the API.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from celery.result import AsyncResult
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from zkai.chain.client import ChainClient
from zkai.errors import ChainError, TrainingError
from zkai.models.manifest import Manifest
from zkai.rewards import RewardTree
from zkai.training.aggregate import ADD_UPDATE_TASK, add_submission, submission_message
from zkai.training.he import KeyHolder, encrypt_update
from zkai.training.local import (
    LocalTrainingConfig,
    manifest_from_parameters,
    parameter_count,
    parameters_of,
    train_local,
)
from zkai.training.store import AcceptedUpdate, RoundInfo, RoundStore
from zkai.units import format_amount

__all__ = [
    "RoundResult",
    "Submission",
    "accuracy",
    "close_round",
    "enqueue",
    "finalise_round",
    "find_epoch",
    "make_submission",
    "open_round",
    "publish_round",
    "split_rewards",
    "submit",
]

if TYPE_CHECKING:
    from collections.abc import Sequence

    from zkai.registration import PartPricing


@dataclass(frozen=True)
class Submission:
    """A contributor's signed, encrypted update for one round."""

    round_id: str
    address: str
    ciphertext: bytes
    weight: int
    signature: str
    delta_norm: float = 0.0
    """The update's L2 norm before clipping (local information: not uploaded)."""


@dataclass(frozen=True)
class RoundResult:
    """The key holder's verdict on a closed round."""

    round_id: str
    accepted: bool
    reason: str
    old_accuracy: float
    new_accuracy: float
    total_weight: int
    contributions: tuple[AcceptedUpdate, ...]
    manifest: Manifest | None
    """The new version (None if the round was rejected)."""
    rewards: tuple[tuple[str, int], ...]
    tree: RewardTree | None


def open_round(
    store: RoundStore,
    key_holder: KeyHolder,
    manifest: Manifest,
    *,
    round_id: str,
    deadline: int,
    contributors: Sequence[str],
    config: LocalTrainingConfig | None = None,
    min_updates: int = 2,
    model_id: int | None = None,
    base_version: int | None = None,
    owner: LocalAccount | None = None,
) -> RoundInfo:
    """Announce a round on `manifest` (the model's current version) with the public context.

    `base_version` is the version's on-chain number (default: the manifest's own); `owner`, the
    model owner, signs the round's announcement so contributors can check it against the chain.
    """
    config = config or LocalTrainingConfig()
    if deadline <= time.time():
        raise TrainingError(f"deadline {deadline} is in the past")
    public = key_holder.public_context()
    info = RoundInfo(
        round_id=round_id,
        model_name=manifest.name,
        base_version=manifest.version if base_version is None else base_version,
        base_manifest_hash=manifest.hash_hex,
        parameter_count=parameter_count(manifest),
        deadline=int(deadline),
        contributors=tuple(contributors),
        context_fingerprint=key_holder.fingerprint.hex(),
        clip_norm=config.clip_norm,
        max_weight=config.max_weight,
        min_updates=min_updates,
        model_id=model_id,
    )
    announcement = ""
    if owner is not None:
        signed = owner.sign_message(encode_defunct(text=info.announcement()))
        announcement = signed.signature.to_0x_hex()
    store.create(info, public, announcement)
    return info


def make_submission(
    info: RoundInfo,
    public_context: bytes,
    manifest: Manifest,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    account: LocalAccount,
    config: LocalTrainingConfig | None = None,
) -> Submission:
    """Train on private (x, y) from the round's manifest, encrypt and sign the update."""
    if manifest.hash_hex != info.base_manifest_hash:
        raise TrainingError(
            f"round {info.round_id!r} trains model version {info.base_version} "
            f"({info.base_manifest_hash}); this manifest is {manifest.hash_hex}"
        )
    config = config or LocalTrainingConfig(clip_norm=info.clip_norm, max_weight=info.max_weight)
    if config.clip_norm > info.clip_norm or config.max_weight > info.max_weight:
        raise TrainingError("the training config exceeds the round's clip norm or weight cap")
    update = train_local(manifest, x, y, config)
    ciphertext = encrypt_update(public_context, update.vector)
    digest = hashlib.sha256(ciphertext).hexdigest()
    message = submission_message(info.round_id, digest, update.weight)
    signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    return Submission(
        info.round_id, account.address, ciphertext, update.weight, signature, update.delta_norm
    )


def submit(store: RoundStore, submission: Submission) -> AcceptedUpdate:
    """Stage and add a submission in this process (`UpdateRejectedError` if refused)."""
    digest = store.stage(submission.round_id, submission.ciphertext)
    return add_submission(
        store,
        submission.round_id,
        submission.address,
        digest,
        submission.weight,
        submission.signature,
    )


def enqueue(store: RoundStore, celery: Any, submission: Submission) -> AsyncResult:
    """Stage a submission and hand it to the aggregation workers; the result says the verdict."""
    digest = store.stage(submission.round_id, submission.ciphertext)
    return celery.send_task(
        ADD_UPDATE_TASK,
        args=[
            submission.round_id,
            submission.address,
            digest,
            submission.weight,
            submission.signature,
        ],
    )


def close_round(store: RoundStore, round_id: str) -> None:
    store.close(round_id)


def accuracy(manifest: Manifest, x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Held-out accuracy of the quantised model (exact integer arithmetic)."""
    from zkai.models.demo import evaluate

    return evaluate(manifest, np.asarray(x, dtype=np.float64), np.asarray(y))


def finalise_round(
    store: RoundStore,
    key_holder: KeyHolder,
    round_id: str,
    manifest: Manifest,
    held_out_x: npt.ArrayLike,
    held_out_y: npt.ArrayLike,
    *,
    reward_pool: int,
    tolerance: float = 0.01,
) -> RoundResult:
    """Decrypt the closed round's sum, validate the new model, and split the reward pool."""
    if not 0.0 <= tolerance <= 1.0:  # also refuses NaN, which would accept any model
        raise TrainingError(f"the tolerance must be an accuracy drop in [0, 1], not {tolerance}")
    info = store.info(round_id)
    if info is None:
        raise TrainingError(f"no training round {round_id!r}")
    if manifest.hash_hex != info.base_manifest_hash:
        raise TrainingError(
            f"round {round_id!r} trained version {info.base_version} ({info.base_manifest_hash}), "
            f"not {manifest.hash_hex}"
        )
    if store.is_open(info, store.state(info.round_id)):
        raise TrainingError(f"round {info.round_id!r} is still open: close it first")
    contributions = tuple(store.accepted(round_id))
    if len(contributions) < info.min_updates:
        raise TrainingError(
            f"round {info.round_id!r} has {len(contributions)} accepted updates, fewer than the "
            f"{info.min_updates} needed to decrypt their sum"
        )
    encrypted = store.encrypted_sum(info.round_id)
    if encrypted is None:
        raise TrainingError(f"round {info.round_id!r} has no encrypted sum")
    total = key_holder.decrypt_sum(encrypted, min_updates=info.min_updates)
    total_weight = sum(entry.weight for entry in contributions)
    candidate = manifest_from_parameters(
        manifest, parameters_of(manifest) + total / total_weight, manifest.version + 1
    )
    old_accuracy = accuracy(manifest, held_out_x, held_out_y)
    new_accuracy = accuracy(candidate, held_out_x, held_out_y)
    if new_accuracy < old_accuracy - tolerance:
        return RoundResult(
            info.round_id,
            False,
            f"held-out accuracy would drop from {old_accuracy:.4f} to {new_accuracy:.4f}, more "
            f"than the tolerance {tolerance}",
            old_accuracy,
            new_accuracy,
            total_weight,
            contributions,
            None,
            (),
            None,
        )
    rewards = split_rewards(reward_pool, [(c.address, c.weight) for c in contributions])
    tree = RewardTree.of(rewards) if reward_pool > 0 else None
    reason = (
        f"held-out accuracy {old_accuracy:.4f} -> {new_accuracy:.4f}, within the tolerance "
        f"{tolerance}"
    )
    return RoundResult(
        info.round_id,
        True,
        reason,
        old_accuracy,
        new_accuracy,
        total_weight,
        contributions,
        candidate,
        tuple(rewards),
        tree,
    )


def split_rewards(pool: int, weights: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """`pool` split in proportion to weights; largest remainders get the leftover units."""
    if pool < 0:
        raise TrainingError(f"reward pool {pool} is negative")
    total = sum(weight for _, weight in weights)
    if total <= 0:
        raise TrainingError("rewards need a positive total weight")
    shares = [(a, pool * w // total, pool * w % total) for a, w in weights]
    leftover = pool - sum(amount for _, amount, _ in shares)
    order = sorted(range(len(shares)), key=lambda i: (-shares[i][2], shares[i][0]))
    bonus = set(order[:leftover])
    return [
        (address, amount + (1 if i in bonus else 0))
        for i, (address, amount, _) in enumerate(shares)
    ]


def publish_round(
    chain: ChainClient,
    owner: LocalAccount,
    aggregator: LocalAccount,
    model_id: int,
    manifest: Manifest,
    tree: RewardTree | None,
    *,
    pricing: Sequence[PartPricing],
    after_epoch: int,
) -> tuple[int, int | None]:
    """Publish an accepted round: the new model version, then the reward epoch's root.

    Idempotent, so an interrupted publication can simply be run again: a version whose
    commitment is already the model's current one is not published twice, nor is an epoch with
    this root posted after `after_epoch` (the epoch count when this round's publication began:
    an earlier round that paid the same amounts to the same wallets has the same root, and must
    not be mistaken for this one). Returns (on-chain version, reward epoch or None).
    """
    from zkai.protocol.market import read_model
    from zkai.registration import publish_version

    current = read_model(chain, model_id)
    if current.manifest_hash == manifest.hash:
        version = current.version
    else:
        version = publish_version(chain, owner, model_id, manifest, pricing)
    if tree is None:
        return version, None
    rewards = chain.contract("ContributorRewards")
    posted_before = find_epoch(chain, tree.root, after=after_epoch)
    if posted_before is not None:
        return version, posted_before
    available = int(chain.call(rewards.functions.available()))
    if tree.total > available:
        raise TrainingError(
            f"the round's rewards ({format_amount(tree.total)} ZKAI) exceed what "
            f"ContributorRewards has free now ({format_amount(available)} ZKAI; another epoch "
            "reserved it meanwhile?): send tokens to it and run finalise again"
        )
    receipt = chain.transact(aggregator, rewards.functions.postEpoch(tree.root, tree.total))
    posted = rewards.events.EpochPosted().process_receipt(receipt, errors=DISCARD)
    if not posted:
        raise ChainError("ContributorRewards emitted no EpochPosted")
    return version, int(posted[0]["args"]["epoch"])


def find_epoch(chain: ChainClient, root: bytes, *, after: int) -> int | None:
    """The first reward epoch numbered above `after` that was posted with `root`, if any."""
    rewards = chain.contract("ContributorRewards")
    count = int(chain.call(rewards.functions.epochCount()))
    for epoch in range(after + 1, count + 1):
        if bytes(chain.call(rewards.functions.getEpoch(epoch))[0]) == root:
            return epoch
    return None
