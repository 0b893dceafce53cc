"""The key holder's side of a training round: open it, then finalise and publish it.

`open_training_round` generates the round's CKKS keys, seals the secret context in the keystore
(`Keystore.save_training_key`, Argon2id + SecretBox under the operator's passphrase), puts the
model's current manifest in the manifest store (the API serves it to contributors) and records
the round with its *public* context in the round store, where the API publishes it.

`finalise_training_round` closes the round, unseals the key, decrypts only the sum
(`zkai.training.rounds.finalise_round`), validates the new weights on the key holder's held-out
set, and records the verdict in the round store. The secret key and the staged ciphertexts are
deleted right after the sum is decrypted: no individual update can be decrypted later, even by
whoever obtains the keystore. An accepted round is then published (`publish_round`: the new
version with its circuit and verifier, the reward epoch's Merkle root), its reward leaves are
written where the API reads them, and the model catalogue points at the new manifest. Every step
after decryption is recorded, so `finalise` run again after a failure (the RPC went away, say)
resumes the publication without decrypting anything again.

Reward pool: the contributor cut of query fees (swept from `QueryMarket` into
`ContributorRewards` first) plus whatever else was sent there (emissions); by default a round
distributes everything not reserved by earlier epochs, or `pool` wei if given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy.typing as npt
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address

from zkai.chain.client import ChainClient
from zkai.config import Settings, get_settings
from zkai.errors import TrainingError, UnknownModelError
from zkai.models.catalog import ModelCatalog, current_version
from zkai.models.store import ManifestStore, parse_commitment, resolve_manifest
from zkai.protocol.market import read_model
from zkai.registration import PartPricing
from zkai.rewards import RewardTree, publish_distribution
from zkai.training.he import KeyHolder
from zkai.training.local import LocalTrainingConfig
from zkai.training.rounds import finalise_round, open_round, publish_round
from zkai.training.store import (
    ROUND_ID,
    RoundContribution,
    RoundInfo,
    RoundResultRecord,
    RoundStore,
)
from zkai.units import format_amount
from zkai.wallet import Keystore

__all__ = ["finalise_training_round", "open_training_round"]

Say = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


@dataclass(frozen=True)
class OpenedRound:
    info: RoundInfo
    key_path: Path
    """Where the sealed secret key lives until the round is finalised."""


def open_training_round(
    chain: ChainClient,
    owner: LocalAccount,
    *,
    model: str,
    contributors: Sequence[str],
    duration_s: int,
    passphrase: str,
    round_id: str | None = None,
    config: LocalTrainingConfig | None = None,
    min_updates: int = 2,
    settings: Settings | None = None,
) -> OpenedRound:
    """Open a round on `model`'s current on-chain version for the allow-listed contributors.

    `owner` must own the model: it signs the round's announcement, which contributors check
    against the chain before they encrypt anything under the round's context.
    """
    settings = settings or get_settings()
    if duration_s < 10:
        raise TrainingError(f"a round must stay open at least 10 s, not {duration_s}")
    bad = [c for c in contributors if not is_address(c)]
    if bad or not contributors:
        raise TrainingError(f"contributors must be addresses (0x + 40 hex digits); got {bad}")
    entry = ModelCatalog(chain.deployment.chain_id, settings.data_dir).get(model)
    _check_owner(chain, owner, entry.model_id)
    manifest, version = current_version(chain, entry, ManifestStore(settings.manifests_path))
    round_id = round_id or f"{entry.name}-v{version}-{int(time.time())}"
    if not ROUND_ID.match(round_id):
        raise TrainingError(f"round id {round_id!r} must match {ROUND_ID.pattern}")
    store = RoundStore.from_url(settings.redis_url)
    keystore = Keystore(settings.data_dir)
    if store.info(round_id) is not None or keystore.training_key_path(round_id).exists():
        raise TrainingError(f"training round {round_id!r} already exists; pick another --round-id")
    holder = KeyHolder.generate()
    key_path = keystore.save_training_key(
        round_id, holder.secret_bytes(), passphrase, holder.fingerprint.hex()
    )
    ManifestStore(settings.manifests_path).put(manifest)
    try:
        info = open_round(
            store,
            holder,
            manifest,
            round_id=round_id,
            deadline=int(time.time()) + duration_s,
            contributors=[to_checksum_address(c) for c in contributors],
            config=config,
            min_updates=min_updates,
            model_id=entry.model_id,
            base_version=version,
            owner=owner,
        )
    except BaseException:
        keystore.destroy_training_key(round_id)
        raise
    return OpenedRound(info, key_path)


def finalise_training_round(
    chain: ChainClient,
    *,
    round_id: str,
    passphrase: str,
    held_out_x: npt.ArrayLike,
    held_out_y: npt.ArrayLike,
    signer: LocalAccount,
    pool: int | None = None,
    tolerance: float = 0.01,
    settings: Settings | None = None,
    drain_s: float = 60.0,
    say: Say = _quiet,
) -> RoundResultRecord:
    """Close, decrypt the sum, validate, publish; returns the round's result record.

    Uploads the API took but the workers have not decided yet are waited for, up to `drain_s`
    seconds, before the round is closed.

    `signer` must own the model (it publishes the version) and be an aggregator of
    `ContributorRewards` (it posts the epoch); both are checked before anything is decrypted.
    """
    settings = settings or get_settings()
    store = RoundStore.from_url(settings.redis_url)
    info = store.info(round_id)
    if info is None:
        raise TrainingError(f"no training round {round_id!r} in the round store")
    if info.model_id is None:
        raise TrainingError(f"round {round_id!r} names no on-chain model id")
    _check_signer(chain, signer, info.model_id)
    record = store.result(round_id)
    if record is None:
        record = _decrypt_and_validate(
            chain,
            store,
            info,
            passphrase,
            held_out_x,
            held_out_y,
            signer,
            pool,
            tolerance,
            settings,
            drain_s,
            say,
        )
    # Once a verdict exists nothing needs the key or an individual ciphertext any more; done
    # here too, so a run interrupted right after the verdict leaves nothing behind either.
    if Keystore(settings.data_dir).destroy_training_key(round_id):
        say(f"round {round_id}'s secret key is destroyed")
    store.drop_staged(round_id)
    if record["accepted"] and not record["published"]:
        record = _publish(chain, store, info, record, signer, settings, say)
    store.retain(round_id)
    return record


def _check_owner(chain: ChainClient, signer: LocalAccount, model_id: int) -> None:
    try:
        model = read_model(chain, model_id)
    except UnknownModelError:
        raise TrainingError(f"model {model_id} is not registered on this chain") from None
    if model.owner != signer.address:
        raise TrainingError(
            f"{signer.address} does not own model {model_id} (its owner is {model.owner}): only "
            "the owner opens its training rounds and publishes its versions; sign with its wallet"
        )


def _check_signer(chain: ChainClient, signer: LocalAccount, model_id: int) -> None:
    _check_owner(chain, signer, model_id)
    rewards = chain.contract("ContributorRewards")
    if not chain.call(rewards.functions.isAggregator(signer.address)):
        raise TrainingError(
            f"{signer.address} may not post reward epochs: the ContributorRewards owner must "
            f"call setAggregator({signer.address}, true) (ZKAI_AGGREGATOR at deployment)"
        )


def _decrypt_and_validate(
    chain: ChainClient,
    store: RoundStore,
    info: RoundInfo,
    passphrase: str,
    held_out_x: npt.ArrayLike,
    held_out_y: npt.ArrayLike,
    signer: LocalAccount,
    pool: int | None,
    tolerance: float,
    settings: Settings,
    drain_s: float,
    say: Say,
) -> RoundResultRecord:
    assert info.model_id is not None
    keystore = Keystore(settings.data_dir)
    secret = keystore.load_training_key(info.round_id, passphrase)  # wrong passphrase: stop here
    base = resolve_manifest(
        parse_commitment(info.base_manifest_hash), store=ManifestStore(settings.manifests_path)
    )
    current = read_model(chain, info.model_id)
    if current.manifest_hash != base.hash:
        raise TrainingError(
            f"model {info.model_id} moved to another version "
            f"(0x{current.manifest_hash.hex()}) since "
            f"round {info.round_id!r} opened on {info.base_manifest_hash}; its updates are "
            "relative to that version and cannot be applied"
        )
    amount = _reward_pool(chain, signer, pool, say)
    _drain(store, info.round_id, drain_s, say)
    if store.state(info.round_id) == "open":
        store.close(info.round_id)
        say(f"closed round {info.round_id}")
    accepted = len(store.accepted(info.round_id))
    if accepted < info.min_updates:
        # Never decrypted: a sum of fewer updates could reveal one of them.
        record = _record(
            info,
            accepted=False,
            published=True,
            reason=f"{accepted} accepted updates, fewer than the {info.min_updates} required",
        )
    else:
        say(f"decrypting the sum of {accepted} encrypted updates (never a single update)")
        result = finalise_round(
            store,
            KeyHolder.from_secret_bytes(secret),
            info.round_id,
            base,
            held_out_x,
            held_out_y,
            reward_pool=amount,
            tolerance=tolerance,
        )
        record = _record(
            info,
            accepted=result.accepted,
            reason=result.reason,
            published=not result.accepted,
            old_accuracy=result.old_accuracy,
            new_accuracy=result.new_accuracy,
            total_weight=result.total_weight,
            pool=str(amount if result.accepted else 0),
            contributions=[
                {"address": c.address, "weight": c.weight} for c in result.contributions
            ],
            rewards=[[a, str(v)] for a, v in result.rewards],
            manifest_hash=None if result.manifest is None else result.manifest.hash_hex,
        )
        if result.manifest is not None:
            ManifestStore(settings.manifests_path).put(result.manifest)
    store.set_result(info.round_id, record)
    verdict = "accepted" if record["accepted"] else "rejected"
    say(f"round {info.round_id} {verdict} ({record['reason']})")
    return record


def _drain(store: RoundStore, round_id: str, timeout_s: float, say: Say) -> None:
    """Wait until the workers have decided every upload the API took (at most `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    pending = store.pending(round_id)
    if pending:
        say(f"waiting for the workers to decide {len(pending)} upload(s) before closing")
    while pending and time.monotonic() < deadline:
        time.sleep(0.25)
        pending = store.pending(round_id)
    if pending:
        say(
            f"closing with {len(pending)} upload(s) undecided after {timeout_s:g} s: they will "
            "be refused as late (is `zkai train worker` running?)"
        )


def _record(
    info: RoundInfo,
    *,
    accepted: bool,
    reason: str,
    published: bool,
    old_accuracy: float | None = None,
    new_accuracy: float | None = None,
    total_weight: int = 0,
    pool: str = "0",
    contributions: Sequence[RoundContribution] = (),
    rewards: Sequence[list[str]] = (),
    manifest_hash: str | None = None,
) -> RoundResultRecord:
    return {
        "round_id": info.round_id,
        "model_id": info.model_id,
        "base_version": info.base_version,
        "accepted": accepted,
        "reason": reason,
        "published": published,
        "finalised_at": int(time.time()),
        "version": None,
        "epoch": None,
        "old_accuracy": old_accuracy,
        "new_accuracy": new_accuracy,
        "total_weight": total_weight,
        "pool": pool,
        "contributions": list(contributions),
        "rewards": list(rewards),
        "manifest_hash": manifest_hash,
        "epochs_before": None,
    }


def _reward_pool(chain: ChainClient, signer: LocalAccount, pool: int | None, say: Say) -> int:
    """Sweep the market's contributor fees into the pool; the amount this round distributes."""
    market = chain.contract("QueryMarket")
    rewards = chain.contract("ContributorRewards")
    _protocol, contributor_fees = chain.call(market.functions.accruedFees())
    if int(contributor_fees) > 0:
        chain.transact(signer, market.functions.sweepFees())
        say(f"swept {format_amount(int(contributor_fees))} ZKAI of contributor fees into the pool")
    available = int(chain.call(rewards.functions.available()))
    if pool is None:
        return available
    if pool > available:
        raise TrainingError(
            f"a pool of {format_amount(pool)} ZKAI exceeds the {format_amount(available)} ZKAI "
            "available in ContributorRewards; send tokens to it or lower --pool"
        )
    return pool


def _publish(
    chain: ChainClient,
    store: RoundStore,
    info: RoundInfo,
    record: RoundResultRecord,
    signer: LocalAccount,
    settings: Settings,
    say: Say,
) -> RoundResultRecord:
    assert info.model_id is not None
    manifests = ManifestStore(settings.manifests_path)
    manifest = manifests.get(parse_commitment(str(record["manifest_hash"])))
    if manifest is None:
        raise TrainingError(
            f"the new manifest {record['manifest_hash']} of round {info.round_id!r} is missing "
            f"from {manifests.root}"
        )
    rewards = [(str(a), int(v)) for a, v in record["rewards"]]
    tree = RewardTree.of(rewards) if rewards and sum(v for _, v in rewards) > 0 else None
    pricing = [
        PartPricing(price=p.price, shares=p.shares, min_proof_window=p.min_proof_window)
        for p in read_model(chain, info.model_id).parts
    ]
    epochs_before = record.get("epochs_before")
    if epochs_before is None:  # recorded before anything is posted: see publish_round
        count = chain.contract("ContributorRewards").functions.epochCount()
        epochs_before = int(chain.call(count))
        record = {**record, "epochs_before": epochs_before}
        store.set_result(info.round_id, record)
    say(f"publishing {manifest.name} version {manifest.version} (circuit, verifier, registry)")
    version, epoch = publish_round(
        chain,
        signer,
        signer,
        info.model_id,
        manifest,
        tree,
        pricing=pricing,
        after_epoch=int(epochs_before),
    )
    if tree is not None:
        publish_distribution(settings.reward_distributions_dir, tree)
        say(
            f"reward epoch {epoch}: {format_amount(tree.total)} ZKAI for {len(rewards)} "
            "contributors"
        )
    catalog = ModelCatalog(chain.deployment.chain_id, settings.data_dir)
    entry = catalog.get(str(info.model_id))
    catalog.add(entry.name, info.model_id, str(manifests.path(manifest.hash)))
    record = {
        **record,
        "published": True,
        "version": version,
        "epoch": epoch,
        "root": None if tree is None else "0x" + tree.root.hex(),
    }
    store.set_result(info.round_id, record)
    return record
