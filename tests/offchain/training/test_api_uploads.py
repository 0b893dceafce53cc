"""Uploads through the API: a round is published with its public context, signed encrypted
updates are staged and aggregated by a real Celery worker on the real Redis, and every bad
upload is refused with its reason and leaves the round's sum as it was."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tenseal as ts
from celery import Celery
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from zkai.api.app import create_app
from zkai.api.limits import MAX_REQUEST_BYTES
from zkai.chain.client import Deployment
from zkai.config import Settings
from zkai.models.demo import DemoSplit
from zkai.models.manifest import Manifest
from zkai.models.store import ManifestStore
from zkai.training.aggregate import submission_message
from zkai.training.he import (
    ERROR_BOUND,
    KIND_UPDATE,
    Envelope,
    KeyHolder,
    context_fingerprint,
    encrypt_update,
    load_public_context,
)
from zkai.training.local import train_local
from zkai.training.rounds import Submission, make_submission
from zkai.training.store import RoundInfo, RoundStore


@pytest.fixture
def api(tmp_path: Path, redis_url: str, worker: Celery) -> Iterator[TestClient]:
    """The API on the tests' Redis (no chain: the indexer is off), with the worker running."""
    settings = Settings(
        data_dir=tmp_path,
        redis_url=redis_url,
        rpc_url="http://127.0.0.1:9",
        database_url=f"sqlite:///{tmp_path / 'index.db'}",
    )
    contracts = ("ZKAIToken", "NodeRegistry", "ModelRegistry", "ContributorRewards", "QueryMarket")
    deployment = Deployment(
        "local", 31337, {name: f"0x{i + 1:040x}" for i, name in enumerate(contracts)}
    )
    app = create_app(settings, deployment=deployment, run_indexer=False)
    with TestClient(app) as client:
        yield client


def _body(submission: Submission) -> dict[str, Any]:
    return {
        "address": submission.address,
        "weight": submission.weight,
        "signature": submission.signature,
        "ciphertext": base64.b64encode(submission.ciphertext).decode(),
    }


def _signed(info: RoundInfo, account: LocalAccount, ciphertext: bytes, weight: int) -> Submission:
    digest = hashlib.sha256(ciphertext).hexdigest()
    message = encode_defunct(text=submission_message(info.round_id, digest, weight))
    signature = account.sign_message(message).signature.to_0x_hex()
    return Submission(info.round_id, account.address, ciphertext, weight, signature)


def _verdict(api: TestClient, info: RoundInfo, submission: Submission) -> dict[str, Any]:
    digest = hashlib.sha256(submission.ciphertext).hexdigest()
    deadline = time.monotonic() + 30
    while True:
        status = api.get(
            f"/api/training/rounds/{info.round_id}/updates/{submission.address}",
            params={"ciphertext": digest},
        ).json()
        if status["status"] != "pending" or time.monotonic() > deadline:
            return dict(status)
        time.sleep(0.1)


def test_round_is_published_with_a_public_context_only(
    api: TestClient, new_round: Callable[..., RoundInfo], digits: Manifest
) -> None:
    info = new_round()
    listed = api.get("/api/training/rounds", params={"state": "open", "model": "digits"}).json()
    assert info.round_id in [r["round_id"] for r in listed["items"]]
    detail = api.get(f"/api/training/rounds/{info.round_id}").json()
    assert detail["state"] == "open"
    assert detail["base_manifest_hash"] == digits.hash_hex
    assert detail["parameter_count"] == 650
    assert detail["result"] is None
    context = api.get(f"/api/training/rounds/{info.round_id}/context")
    assert hashlib.sha256(context.content).hexdigest() == info.context_fingerprint
    assert not load_public_context(context.content).has_secret_key()


def test_uploads_are_summed_by_the_worker(
    api: TestClient,
    store: RoundStore,
    key_holder: KeyHolder,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
    digits: Manifest,
    digits_split: DemoSplit,
) -> None:
    info = new_round()
    public = store.public_context(info.round_id)
    parts = np.array_split(np.arange(90), 3)
    submissions = [
        make_submission(info, public, digits, digits_split.x_train[p], digits_split.y_train[p], a)
        for a, p in zip(contributors, parts, strict=True)
    ]
    for submission in submissions:
        response = api.post(f"/api/training/rounds/{info.round_id}/updates", json=_body(submission))
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"
    assert [_verdict(api, info, s)["status"] for s in submissions] == ["accepted"] * 3
    again = api.post(f"/api/training/rounds/{info.round_id}/updates", json=_body(submissions[0]))
    assert again.status_code == 200
    assert again.json()["status"] == "accepted"

    detail = api.get(f"/api/training/rounds/{info.round_id}").json()
    updated = sorted(u["address"] for u in detail["updates"])
    assert updated == sorted(c.address for c in contributors)
    assert detail["pending"] == 0
    encrypted = store.encrypted_sum(info.round_id)
    assert encrypted is not None
    expected = sum(
        train_local(digits, digits_split.x_train[p], digits_split.y_train[p]).vector for p in parts
    )
    decrypted = key_holder.decrypt_sum(encrypted, min_updates=3)
    assert np.max(np.abs(decrypted - expected)) <= ERROR_BOUND
    # Aggregated ciphertexts are not kept: the sum is all that remains.
    assert store.drop_staged(info.round_id) == 0


BadUpload = Callable[[RoundInfo, KeyHolder, list[LocalAccount], bytes], tuple[str, dict[str, Any]]]


def _update(info: RoundInfo, public: bytes, size: int | None = None) -> bytes:
    values = np.random.default_rng(3).uniform(-1, 1, size or info.parameter_count)
    return encrypt_update(public, values)


def _not_on_allow_list(info, holder, accounts, public):  # type: ignore[no-untyped-def]
    return info.round_id, _body(_signed(info, Account.create(), _update(info, public), 5))


def _signed_by_another(info, holder, accounts, public):  # type: ignore[no-untyped-def]
    real = _signed(info, accounts[1], _update(info, public), 5)
    return info.round_id, {**_body(real), "address": accounts[0].address}


def _weight_over_cap(info, holder, accounts, public):  # type: ignore[no-untyped-def]
    return info.round_id, _body(
        _signed(info, accounts[0], _update(info, public), info.max_weight + 1)
    )


def _other_context(info, holder, accounts, public):  # type: ignore[no-untyped-def]
    other = KeyHolder.generate().public_context()
    return info.round_id, _body(_signed(info, accounts[2], _update(info, other), 5))


def _wrong_size(info, holder, accounts, public):  # type: ignore[no-untyped-def]
    return info.round_id, _body(_signed(info, accounts[2], _update(info, public, 64), 5))


def _not_base64(info, holder, accounts, public):  # type: ignore[no-untyped-def]
    return info.round_id, {**_body(_signed(info, accounts[2], b"x", 5)), "ciphertext": "%%%"}


def _not_an_envelope(info, holder, accounts, public):  # type: ignore[no-untyped-def]
    return info.round_id, _body(_signed(info, accounts[2], b"not a ZKHE envelope", 5))


def _second_update(info, holder, accounts, public):  # type: ignore[no-untyped-def]
    return info.round_id, _body(_signed(info, accounts[0], _update(info, public), 5))


def _unknown_round(info, holder, accounts, public):  # type: ignore[no-untyped-def]
    return "no-such-round", _body(_signed(info, accounts[0], _update(info, public), 5))


@pytest.mark.parametrize(
    ("make", "status", "reason"),
    [
        (_not_on_allow_list, 403, "unknown-contributor"),
        (_signed_by_another, 403, "bad-signature"),
        (_weight_over_cap, 400, "bad-weight"),
        (_other_context, 400, "wrong-context"),
        (_wrong_size, 400, "wrong-size"),
        (_not_base64, 422, None),
        (_not_an_envelope, 400, "malformed"),
        (_second_update, 409, "duplicate"),
        (_unknown_round, 404, "unknown-round"),
    ],
)
def test_bad_upload_is_refused_and_loses_nothing(
    api: TestClient,
    store: RoundStore,
    key_holder: KeyHolder,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
    make: BadUpload,
    status: int,
    reason: str | None,
) -> None:
    info = new_round()
    public = store.public_context(info.round_id)
    first = [_signed(info, contributors[i], _update(info, public), 5) for i in (0, 1)]
    for submission in first:
        api.post(f"/api/training/rounds/{info.round_id}/updates", json=_body(submission))
    assert [_verdict(api, info, s)["status"] for s in first] == ["accepted"] * 2
    before = store.encrypted_sum(info.round_id)

    round_id, body = make(info, key_holder, contributors, public)
    response = api.post(f"/api/training/rounds/{round_id}/updates", json=body)

    assert response.status_code == status, response.text
    if reason is None:  # refused by the request schema, before any check of ours
        assert response.json()["detail"][0]["loc"] == ["body", "ciphertext"]
    else:
        assert response.json()["reason"] == reason
        assert response.json()["detail"]
    assert store.encrypted_sum(info.round_id) == before
    assert len(store.accepted(info.round_id)) == 2
    assert store.pending(info.round_id) == {}
    refusals = api.get(f"/api/training/rounds/{info.round_id}").json()["rejections"]
    if reason in (None, "unknown-round", "bad-signature"):
        # Not listed: nothing proves whose upload it was (or there is no round to list it in).
        assert refusals == []
    else:
        assert [r["reason"] for r in refusals] == [reason]


def test_upload_to_a_closed_round_is_refused(
    api: TestClient,
    store: RoundStore,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
) -> None:
    info = new_round()
    store.close(info.round_id)
    submission = _signed(
        info, contributors[0], _update(info, store.public_context(info.round_id)), 5
    )
    response = api.post(f"/api/training/rounds/{info.round_id}/updates", json=_body(submission))
    assert response.status_code == 409
    assert response.json()["reason"] == "round-closed"
    assert store.encrypted_sum(info.round_id) is None
    assert api.get(f"/api/training/rounds/{info.round_id}").json()["state"] == "closed"


def test_manifests_are_served_by_hash(api: TestClient, tmp_path: Path, digits: Manifest) -> None:
    ManifestStore(tmp_path / "manifests").put(digits)
    served = api.get(f"/api/manifests/{digits.hash_hex}")
    assert served.status_code == 200
    assert Manifest.from_json(served.content).hash == digits.hash
    # A stored file that was edited no longer matches its name: it is not served.
    path = ManifestStore(tmp_path / "manifests").path(digits.hash)
    path.write_text(path.read_text().replace('"digits"', '"digitz"'))
    assert api.get(f"/api/manifests/{digits.hash_hex}").status_code == 404


def test_refusals_at_the_api_never_clear_a_pending_upload(
    api: TestClient,
    store: RoundStore,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
) -> None:
    """A forged upload in someone's name, or their own second upload, is refused without
    touching the upload of theirs that the workers have not decided yet."""
    info = new_round()
    public = store.public_context(info.round_id)
    owner_of_pending = contributors[0]
    assert store.mark_pending(info.round_id, owner_of_pending.address, "ab" * 32)
    assert not store.mark_pending(info.round_id, owner_of_pending.address, "cd" * 32)
    forged = _signed(info, contributors[1], _update(info, public), 5)
    refused = api.post(
        f"/api/training/rounds/{info.round_id}/updates",
        json={**_body(forged), "address": owner_of_pending.address},
    )
    assert refused.json()["reason"] == "bad-signature"
    second = _signed(info, owner_of_pending, _update(info, public), 5)
    again = api.post(f"/api/training/rounds/{info.round_id}/updates", json=_body(second))
    assert (again.status_code, again.json()["reason"]) == (409, "duplicate")
    assert store.pending(info.round_id) == {owner_of_pending.address: "ab" * 32}
    status = api.get(f"/api/training/rounds/{info.round_id}/updates/{owner_of_pending.address}")
    assert status.json()["status"] == "pending"
    # The forged refusal is not listed under the victim's name either.
    assert [r["reason"] for r in store.rejected(info.round_id)] == ["duplicate"]


def test_a_ciphertext_at_another_scale_is_refused_by_the_worker_and_blocks_nothing(
    api: TestClient,
    store: RoundStore,
    key_holder: KeyHolder,
    new_round: Callable[..., RoundInfo],
    contributors: list[LocalAccount],
) -> None:
    """It passes the API's header checks (same context fingerprint, right size) but would make
    every later addition fail: the worker refuses it, and the round goes on."""
    info = new_round()
    public = store.public_context(info.round_id)
    context = ts.context_from(public)
    context.global_scale = 2.0**20
    values = np.random.default_rng(4).uniform(-1, 1, info.parameter_count)
    poisoned = Envelope(
        KIND_UPDATE,
        context_fingerprint(public),
        info.parameter_count,
        1,
        (ts.ckks_vector(context, values.tolist()).serialize(),),
    ).to_bytes()
    bad = _signed(info, contributors[0], poisoned, 5)
    assert (
        api.post(f"/api/training/rounds/{info.round_id}/updates", json=_body(bad)).status_code
        == 202
    )
    verdict = _verdict(api, info, bad)
    assert (verdict["status"], verdict["reason"]) == ("rejected", "wrong-context")
    assert store.pending(info.round_id) == {}
    assert store.drop_staged(info.round_id) == 0  # the refused ciphertext is not kept
    honest = [_signed(info, contributors[i], encrypt_update(public, values), 5) for i in (0, 1)]
    for submission in honest:  # the refused wallet may upload again
        api.post(f"/api/training/rounds/{info.round_id}/updates", json=_body(submission))
    assert [_verdict(api, info, s)["status"] for s in honest] == ["accepted"] * 2
    encrypted = store.encrypted_sum(info.round_id)
    assert encrypted is not None
    decrypted = key_holder.decrypt_sum(encrypted, min_updates=2)
    assert np.max(np.abs(decrypted - 2 * values)) <= ERROR_BOUND


def test_an_oversized_request_is_refused_before_it_is_read(
    api: TestClient, new_round: Callable[..., RoundInfo]
) -> None:
    info = new_round()
    huge = b'{"ciphertext": "' + b"A" * (MAX_REQUEST_BYTES + 1) + b'"}'
    response = api.post(
        f"/api/training/rounds/{info.round_id}/updates",
        content=huge,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "request body over" in response.json()["detail"]
