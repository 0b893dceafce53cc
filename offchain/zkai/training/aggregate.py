"""Aggregation of encrypted updates: the checks, the Redis transaction, and the Celery tasks.

A submission is (round id, contributor address, sha256 of the staged ciphertext, weight,
signature). The signature is EIP-191 (`personal_sign`) by the contributor over
`submission_message`, which binds the round, the ciphertext's hash and the declared weight (the
weight decides the contributor's reward share, so it is signed too). Checks, in order, each a
`UpdateRejectedError` with a reason code: the round exists (unknown-round), the signature
recovers to the address (bad-signature), the address is on the round's allow-list
(unknown-contributor: the chain has no contributor registry, so the round's owner lists who may
contribute when it opens the round), the weight is 1..max_weight (bad-weight), the ciphertext was
staged and matches its hash (malformed), then, inside the transaction, the round is open and
before its deadline (round-closed), the wallet has no other accepted update (duplicate), and the
ciphertext fits the round (wrong-context, wrong-size). Re-running an accepted submission is a
no-op that reports it accepted, so the task is idempotent and safe with `acks_late`.

The aggregator loads only the round's *public* context (`zkai.training.he.load_public_context`
refuses one with a secret key); `round_status` reports, from inside the worker process, that
none of the TenSEAL contexts it holds has one.
"""

from __future__ import annotations

import gc
import json
from typing import Any, cast

import redis
from celery import Celery
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils.address import is_address, to_checksum_address
from eth_utils.exceptions import ValidationError

from zkai.celery_config import create_celery_app
from zkai.config import Settings, get_settings
from zkai.errors import UpdateRejectedError
from zkai.training.he import KIND_UPDATE, EncryptedSum, Envelope
from zkai.training.store import AcceptedUpdate, RoundInfo, RoundStore

__all__ = [
    "ADD_UPDATE_TASK",
    "QUEUE",
    "ROUND_STATUS_TASK",
    "add_submission",
    "app",
    "check_envelope",
    "check_submitter",
    "create_app",
    "submission_message",
    "verify_signature",
]

QUEUE = "zkai.training"
ADD_UPDATE_TASK = "zkai.training.add_update"
ROUND_STATUS_TASK = "zkai.training.round_status"


def submission_message(round_id: str, ciphertext_sha256: str, weight: int) -> str:
    """The text a contributor signs (EIP-191) for one submission."""
    return (
        "ZKAI training update\n"
        f"round: {round_id}\n"
        f"weight: {weight}\n"
        f"ciphertext sha256: 0x{ciphertext_sha256}"
    )


def verify_signature(
    round_id: str, ciphertext_sha256: str, weight: int, address: str, signature: str | bytes
) -> str:
    """The checksummed signer; `UpdateRejectedError('bad-signature')` unless it is `address`."""
    if not is_address(address):
        raise UpdateRejectedError("bad-signature", f"{address!r} is not an address")
    message = encode_defunct(text=submission_message(round_id, ciphertext_sha256, weight))
    try:
        signer: str = Account.recover_message(message, signature=signature)
    except (BadSignature, ValidationError, ValueError) as exc:
        raise UpdateRejectedError("bad-signature", f"malformed signature: {exc}") from exc
    if signer != to_checksum_address(address):
        raise UpdateRejectedError(
            "bad-signature",
            f"the signature is by {signer}, not by {to_checksum_address(address)}, over this "
            "round, ciphertext and weight",
        )
    return signer


def check_submitter(
    store: RoundStore,
    round_id: str,
    address: str,
    ciphertext_sha256: str,
    weight: int,
    signature: str | bytes,
    received_at: float | None = None,
) -> tuple[RoundInfo, str]:
    """The checks that need no ciphertext: round, signature, allow-list, weight, open, once.

    Returns the round and the checksummed contributor. The API runs them before it stages an
    upload (so a refusal is immediate); the worker runs them again inside `add_submission`.
    """
    info = store.info(round_id)
    if info is None:
        raise UpdateRejectedError("unknown-round", f"no training round {round_id!r}")
    contributor = verify_signature(round_id, ciphertext_sha256, weight, address, signature)
    if contributor not in info.contributors:
        raise UpdateRejectedError(
            "unknown-contributor", f"{contributor} is not on round {round_id!r}'s allow-list"
        )
    if not 1 <= weight <= info.max_weight:
        raise UpdateRejectedError(
            "bad-weight", f"weight {weight} is outside 1..{info.max_weight} (clipped sample count)"
        )
    _require_open(store, info, store.state(round_id), received_at)
    return info, contributor


def _require_open(
    store: RoundStore, info: RoundInfo, state: str | None, received_at: float | None
) -> None:
    if not store.is_open(info, state, received_at):
        raise UpdateRejectedError(
            "round-closed", f"round {info.round_id!r} is closed (deadline {info.deadline})"
        )


def check_envelope(info: RoundInfo, ciphertext: bytes) -> None:
    """Header checks of an uploaded update (kind, round context, size), without TenSEAL."""
    envelope = Envelope.from_bytes(ciphertext)
    if envelope.kind != KIND_UPDATE:
        raise UpdateRejectedError("malformed", "expected an encrypted update")
    if envelope.fingerprint.hex() != info.context_fingerprint:
        raise UpdateRejectedError(
            "wrong-context",
            f"the update was encrypted under context {envelope.fingerprint.hex()[:16]}..., round "
            f"{info.round_id!r} publishes context {info.context_fingerprint[:16]}...; fetch the "
            "round's context again",
        )
    if envelope.parameter_count != info.parameter_count:
        raise UpdateRejectedError(
            "wrong-size",
            f"the update has {envelope.parameter_count} parameters, model {info.model_name!r} "
            f"version {info.base_version} has {info.parameter_count}",
        )


def add_submission(
    store: RoundStore,
    round_id: str,
    address: str,
    ciphertext_sha256: str,
    weight: int,
    signature: str | bytes,
    received_at: float | None = None,
) -> AcceptedUpdate:
    """Check a staged submission and add it to the round's sum (see the module docstring).

    `received_at` is when the API took the upload: one received before the deadline is added
    even if a worker gets to it later, as long as the key holder has not closed the round.
    """
    info, contributor = check_submitter(
        store, round_id, address, ciphertext_sha256, weight, signature, received_at
    )
    ciphertext = store.staged(round_id, ciphertext_sha256)
    if ciphertext is None:
        raise UpdateRejectedError(
            "malformed", f"no staged ciphertext 0x{ciphertext_sha256} for round {round_id!r}"
        )
    context = store.public_context(round_id)
    keys = [store.key(round_id, part) for part in ("state", "sum", "accepted")]
    accepted = AcceptedUpdate(contributor, ciphertext_sha256, weight)
    while True:
        with store.redis.pipeline() as pipe:
            try:
                pipe.watch(*keys)  # type: ignore[no-untyped-call]
                state = cast(bytes | None, pipe.get(keys[0]))
                _require_open(store, info, None if state is None else state.decode(), received_at)
                previous = cast(bytes | None, pipe.hget(keys[2], contributor))
                if previous is not None:
                    if _same(previous, accepted):
                        return accepted
                    raise UpdateRejectedError(
                        "duplicate", f"{contributor} already has an update in round {round_id!r}"
                    )
                current = cast(bytes | None, pipe.get(keys[1]))
                accumulator = EncryptedSum(context, info.parameter_count, current)
                accumulator.add(ciphertext)
                pipe.multi()
                pipe.set(keys[1], accumulator.to_bytes())
                pipe.hset(keys[2], contributor, _accepted_json(accepted))
                pipe.hdel(store.key(round_id, "pending"), contributor)
                # The individual ciphertext is no longer needed once it is in the sum.
                pipe.delete(store.key(round_id, f"blob:{ciphertext_sha256}"))
                pipe.execute()
                return accepted
            except redis.WatchError:
                continue


def _accepted_json(entry: AcceptedUpdate) -> str:
    return json.dumps({"ciphertext": entry.ciphertext_sha256, "weight": entry.weight})


def _same(raw: bytes, entry: AcceptedUpdate) -> bool:
    return raw.decode() == _accepted_json(entry)


# -- Celery --------------------------------------------------------------------------------


def create_app(settings: Settings | None = None) -> Celery:
    """The aggregation workers' Celery app (broker, backend and round store: `redis_url`)."""
    settings = settings or get_settings()
    celery = create_celery_app(
        "zkai.training",
        broker=settings.redis_url,
        backend=settings.redis_url,
        default_queue=QUEUE,
    )
    celery.task(name=ADD_UPDATE_TASK)(_add_update_task)
    celery.task(name=ROUND_STATUS_TASK)(_round_status_task)
    return celery


def _store() -> RoundStore:
    return RoundStore.from_url(get_settings().redis_url)


def _add_update_task(
    round_id: str,
    address: str,
    ciphertext_sha256: str,
    weight: int,
    signature: str,
    received_at: float | None = None,
) -> dict[str, Any]:
    """Add one staged update; a refusal is recorded in the round and returned, not retried, and
    the refused ciphertext is dropped."""
    store = _store()
    try:
        entry = add_submission(
            store, round_id, address, ciphertext_sha256, weight, signature, received_at
        )
    except UpdateRejectedError as exc:
        store.record_rejection(round_id, address, exc.reason, exc.detail, ciphertext_sha256)
        store.drop_staged(round_id, [ciphertext_sha256])
        return {"accepted": False, "reason": exc.reason, "detail": exc.detail}
    return {"accepted": True, "address": entry.address, "weight": entry.weight}


def _round_status_task(round_id: str) -> dict[str, Any]:
    """The round's counts, and whether this worker process holds any secret CKKS key."""
    import tenseal as ts

    store = _store()
    contexts = [obj for obj in gc.get_objects() if isinstance(obj, ts.Context)]
    return {
        "state": store.state(round_id),
        "accepted": len(store.accepted(round_id)),
        "rejected": len(store.rejected(round_id)),
        "contexts_loaded": len(contexts),
        "secret_contexts": sum(1 for c in contexts if c.has_secret_key() or c.is_private()),
    }


app = create_app()
