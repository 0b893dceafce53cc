"""The key holder on a real chain and Redis: a round opened with a sealed key, refusals before
anything is decrypted, then an accepted round published once, its key destroyed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from zkai.chain.client import ChainClient
from zkai.config import Settings
from zkai.errors import KeystoreError, TrainingError
from zkai.localnet_state import anvil_account
from zkai.models.catalog import ModelCatalog, current_version
from zkai.models.demo import DemoSplit
from zkai.models.manifest import Manifest
from zkai.models.store import ManifestStore
from zkai.registration import PartPricing, register_model
from zkai.training.client import read_training_csv, verify_round
from zkai.training.keyholder import finalise_training_round, open_training_round
from zkai.training.rounds import make_submission, submit
from zkai.training.store import ROUND_RETENTION_S, RoundInfo, RoundResultRecord, RoundStore
from zkai.wallet import Keystore

ETHER = 10**18
POOL = 90 * ETHER


def test_key_holder_round_from_open_to_published(
    chain: ChainClient,
    tmp_path: Path,
    redis_url: str,
    contributors: list[LocalAccount],
    digits: Manifest,
    digits_split: DemoSplit,
) -> None:
    settings = Settings(data_dir=tmp_path / "keyholder", redis_url=redis_url, api_url="")
    owner, stranger = anvil_account(0), anvil_account(5)
    model_id, _ = register_model(chain, owner, digits, [PartPricing(2 * ETHER, 2)])
    ModelCatalog(chain.deployment.chain_id, settings.data_dir).add(
        "digits", model_id, "demo:digits"
    )
    addresses = [c.address for c in contributors]
    with pytest.raises(TrainingError, match="does not own model"):
        open_training_round(
            chain,
            stranger,
            model="digits",
            contributors=addresses,
            duration_s=600,
            passphrase="pw",
            settings=settings,
        )
    with pytest.raises(TrainingError, match="must be addresses"):
        open_training_round(
            chain,
            owner,
            model="digits",
            contributors=["0xbad"],
            duration_s=600,
            passphrase="pw",
            settings=settings,
        )
    opened = open_training_round(
        chain,
        owner,
        model="digits",
        contributors=addresses,
        duration_s=600,
        passphrase="pw",
        settings=settings,
    )
    info = opened.info
    assert info.model_id == model_id
    assert info.base_manifest_hash == digits.hash_hex
    assert opened.key_path.exists()
    store = RoundStore.from_url(redis_url)

    # Contributors check the announcement against the chain before encrypting anything.
    announcement = store.announcement(info.round_id)
    verify_round(chain, info, announcement)
    for forged in (
        dataclasses.replace(info, deadline=info.deadline + 3600),
        dataclasses.replace(info, context_fingerprint="00" * 32),
        dataclasses.replace(info, contributors=(stranger.address,)),
    ):
        with pytest.raises(TrainingError, match="not announced by"):
            verify_round(chain, forged, announcement)
    with pytest.raises(TrainingError, match="not announced by"):
        verify_round(chain, info, _sign(stranger, info))
    with pytest.raises(TrainingError, match="no signed announcement"):
        verify_round(chain, info, None)
    other_base = dataclasses.replace(info, base_manifest_hash="0x" + "11" * 32)
    with pytest.raises(TrainingError, match="commits to"):  # even when the owner signed it
        verify_round(chain, other_base, _sign(owner, other_base))
    public = store.public_context(info.round_id)
    split = digits_split
    parts = np.array_split(np.random.default_rng(2).permutation(len(split.y_train)), 3)
    for account, part in zip(contributors, parts, strict=True):
        submit(
            store,
            make_submission(
                info, public, digits, split.x_train[part], split.y_train[part], account
            ),
        )

    def finalise(signer: LocalAccount, passphrase: str = "pw") -> RoundResultRecord:
        return finalise_training_round(
            chain,
            round_id=info.round_id,
            passphrase=passphrase,
            held_out_x=split.x_test,
            held_out_y=split.y_test,
            signer=signer,
            settings=settings,
        )

    # Refusals happen before anything is decrypted or closed; the key survives them.
    with pytest.raises(TrainingError, match="does not own model"):
        finalise(stranger)
    with pytest.raises(TrainingError, match="may not post reward epochs"):
        finalise(owner)
    rewards = chain.contract("ContributorRewards")
    chain.transact(owner, rewards.functions.setAggregator(owner.address, True))
    chain.transact(owner, chain.contract("ZKAIToken").functions.transfer(rewards.address, POOL))
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        finalise(owner, "not pw")
    assert store.state(info.round_id) == "open"
    assert store.result(info.round_id) is None
    assert opened.key_path.exists()

    leftover = store.stage(info.round_id, b"an upload that never reached the workers")
    record = finalise(owner)

    assert record["accepted"], record["reason"]
    assert record["published"]
    assert set(record) == RoundResultRecord.__required_keys__ | RoundResultRecord.__optional_keys__
    assert store.result(info.round_id) == record
    assert (record["version"], record["epoch"]) == (2, 1)
    assert sum(int(v) for _, v in record["rewards"]) == POOL == int(record["pool"])
    assert store.state(info.round_id) == "closed"
    assert not opened.key_path.exists()
    assert store.staged(info.round_id, leftover) is None
    with pytest.raises(KeystoreError):
        Keystore(settings.data_dir).load_training_key(info.round_id, "pw")
    entry = ModelCatalog(chain.deployment.chain_id, settings.data_dir).get("digits")
    manifest, version = current_version(chain, entry, ManifestStore(settings.manifests_path))
    assert version == 2
    assert manifest.hash_hex == record["manifest_hash"]
    assert entry.manifest().hash == manifest.hash
    distribution = settings.reward_distributions_dir / f"{record['root'][2:]}.json"
    assert distribution.exists()

    assert 0 < store.redis.ttl(store.key(info.round_id, "result")) <= ROUND_RETENTION_S
    # Run again (as after an interruption, here one that left a key behind): nothing is
    # published twice, and the key goes.
    Keystore(settings.data_dir).save_training_key(info.round_id, b"secret", "pw", "00")
    assert finalise(owner) == record
    assert not opened.key_path.exists()
    assert int(chain.call(rewards.functions.epochCount())) == 1


def _sign(account: LocalAccount, info: RoundInfo) -> str:
    return str(account.sign_message(encode_defunct(text=info.announcement())).signature.to_0x_hex())


def test_training_csv_is_read_strictly(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("a,b,label\n1,2,0\n3.5,-4,1\n\n")
    x, y = read_training_csv(good, 2)
    assert x.tolist() == [[1.0, 2.0], [3.5, -4.0]]
    assert y.tolist() == [0, 1]
    cases = {
        "1,2\n": "has 2 columns",
        "1,x,0\n": "not a number",
        "1,2,0.5\n": "not a class index",
        "1,inf,0\n": "not finite",
        "a,b,label\n": "no samples",
    }
    for text, message in cases.items():
        path = tmp_path / "bad.csv"
        path.write_text(text)
        with pytest.raises(TrainingError, match=message):
            read_training_csv(path, 2)
    with pytest.raises(TrainingError, match="cannot read"):
        read_training_csv(tmp_path / "missing.csv", 2)
