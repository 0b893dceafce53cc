"""Training rounds: what the key holder opened, the public CKKS context, and contributors' uploads.

Reading a round needs nothing. An upload is checked here before anything is stored (round,
signature, allow-list, weight, open, one per wallet, the envelope's context and size), so a
refusal is immediate and says why; then the ciphertext is staged in the round store and handed to
the aggregation workers, which check it again and add it to the encrypted sum. The API never
loads a secret key and never decrypts anything (it does not even parse the ciphertexts).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from typing import Annotated, Any

import kombu.exceptions
from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse

from zkai.api.deps import PageDep, RoundsDep, StateDep
from zkai.api.schemas import (
    AddressPath,
    Amount,
    DistributionEntry,
    ErrorOut,
    Page,
    RejectedOut,
    RejectionOut,
    RoundDetail,
    RoundIdPath,
    RoundOut,
    RoundResultOut,
    RoundState,
    SubmissionOut,
    UpdateIn,
    UpdateOut,
)
from zkai.errors import NotIndexedError, UpdateRejectedError
from zkai.training.aggregate import ADD_UPDATE_TASK, QUEUE, check_envelope, check_submitter
from zkai.training.store import RoundInfo, RoundResultRecord, RoundStore

router = APIRouter(prefix="/api/training", tags=["training"])

REJECTION_STATUS = {
    "unknown-round": status.HTTP_404_NOT_FOUND,
    "bad-signature": status.HTTP_403_FORBIDDEN,
    "unknown-contributor": status.HTTP_403_FORBIDDEN,
    "round-closed": status.HTTP_409_CONFLICT,
    "duplicate": status.HTTP_409_CONFLICT,
    "full": status.HTTP_409_CONFLICT,
}
"""HTTP status of each refusal; the rest (malformed, wrong-context, wrong-size, bad-weight) 400
(422 stays FastAPI's answer to a request body that does not fit `UpdateIn`)."""
REFUSED: dict[int | str, dict[str, Any]] = {
    code: {"model": RejectedOut, "description": "The update was refused; `reason` says why."}
    for code in (400, 403, 404, 409)
}
UNKNOWN_ROUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such round."}
}


def rejection_response(exc: UpdateRejectedError) -> JSONResponse:
    code = REJECTION_STATUS.get(exc.reason, status.HTTP_400_BAD_REQUEST)
    return JSONResponse(status_code=code, content={"detail": exc.detail, "reason": exc.reason})


def _state(store: RoundStore, info: RoundInfo) -> RoundState:
    if store.is_open(info, store.state(info.round_id)):
        return "open"
    return "finalised" if store.result(info.round_id) is not None else "closed"


def _round_out(store: RoundStore, info: RoundInfo) -> RoundOut:
    return RoundOut(
        round_id=info.round_id,
        model_name=info.model_name,
        model_id=info.model_id,
        base_version=info.base_version,
        base_manifest_hash=info.base_manifest_hash,
        parameter_count=info.parameter_count,
        deadline=info.deadline,
        state=_state(store, info),
        contributors=list(info.contributors),
        context_fingerprint=info.context_fingerprint,
        clip_norm=info.clip_norm,
        max_weight=info.max_weight,
        min_updates=info.min_updates,
        accepted=len(store.accepted(info.round_id)),
        rejected=len(store.rejected(info.round_id)),
        pending=len(store.pending(info.round_id)),
        announcement=store.announcement(info.round_id),
        result=_result_out(store.result(info.round_id)),
    )


def _info(store: RoundStore, round_id: str) -> RoundInfo:
    info = store.info(round_id)
    if info is None:
        raise NotIndexedError(f"no training round {round_id!r}")
    return info


def _result_out(record: RoundResultRecord | None) -> RoundResultOut | None:
    if record is None:
        return None
    return RoundResultOut(
        accepted=record["accepted"],
        reason=record["reason"],
        published=record["published"],
        version=record["version"],
        epoch=record["epoch"],
        old_accuracy=record["old_accuracy"],
        new_accuracy=record["new_accuracy"],
        total_weight=record["total_weight"],
        pool=Amount.of(int(record["pool"])),
        manifest_hash=record["manifest_hash"],
        rewards=[
            DistributionEntry(contributor=a, amount=Amount.of(int(v))) for a, v in record["rewards"]
        ],
        finalised_at=record["finalised_at"],
    )


@router.get("/rounds", summary="Training rounds (open ones first by deadline)")
def list_rounds(
    rounds: RoundsDep,
    page: PageDep,
    state: Annotated[RoundState | None, Query(description="Only rounds in this state.")] = None,
    model: Annotated[
        str | None, Query(max_length=64, description="Only rounds of this model name.")
    ] = None,
) -> Page[RoundOut]:
    items = [_round_out(rounds, info) for info in rounds.rounds()]
    items = [
        r
        for r in items
        if (state is None or r.state == state) and (model is None or r.model_name == model)
    ]
    return Page(
        items=items[page.offset : page.offset + page.limit],
        total=len(items),
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/rounds/{round_id}", responses=UNKNOWN_ROUND, summary="A round with its verdicts")
def get_round(rounds: RoundsDep, round_id: RoundIdPath) -> RoundDetail:
    info = _info(rounds, round_id)
    return RoundDetail(
        **_round_out(rounds, info).model_dump(),
        updates=[UpdateOut(address=u.address, weight=u.weight) for u in rounds.accepted(round_id)],
        rejections=[
            RejectionOut(address=r["address"], reason=r["reason"], detail=r["detail"])
            for r in rounds.rejected(round_id)
        ],
    )


@router.get(
    "/rounds/{round_id}/context",
    responses={
        **UNKNOWN_ROUND,
        200: {
            "content": {"application/octet-stream": {}},
            "description": "The serialized TenSEAL context: public key only.",
        },
    },
    response_class=Response,
    summary="The round's public CKKS context (no secret key)",
)
def get_context(rounds: RoundsDep, round_id: RoundIdPath) -> Response:
    info = _info(rounds, round_id)
    context = rounds.public_context(round_id)
    return Response(
        content=context,
        media_type="application/octet-stream",
        headers={"X-Context-Fingerprint": info.context_fingerprint},
    )


@router.post(
    "/rounds/{round_id}/updates",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**REFUSED, 200: {"model": SubmissionOut, "description": "Already accepted."}},
    summary="Upload a signed, encrypted update (aggregated by the workers)",
)
def post_update(state: StateDep, rounds: RoundsDep, round_id: RoundIdPath, update: UpdateIn) -> Any:
    try:
        return _accept_upload(state.training_celery, rounds, round_id, update)
    except UpdateRejectedError as exc:
        # Listed only once the signature is known to be the wallet's: nobody can put refusals
        # under someone else's name. Never clears a pending upload (only its verdict does).
        if exc.reason not in ("unknown-round", "bad-signature"):
            rounds.record_rejection(
                round_id,
                to_checksum_address(update.address),
                exc.reason,
                exc.detail,
                clear_pending=False,
            )
        return rejection_response(exc)


def _accept_upload(celery: Any, rounds: RoundStore, round_id: str, update: UpdateIn) -> Any:
    if rounds.info(round_id) is None:
        raise UpdateRejectedError("unknown-round", f"no training round {round_id!r}")
    try:
        ciphertext = base64.b64decode(update.ciphertext, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UpdateRejectedError("malformed", f"the ciphertext is not base64: {exc}") from exc
    digest = hashlib.sha256(ciphertext).hexdigest()
    info, contributor = check_submitter(
        rounds, round_id, update.address, digest, update.weight, update.signature
    )
    known = rounds.submission_status(round_id, contributor)
    if known is not None and known["status"] != "rejected":
        if known["ciphertext"] == digest:  # the same upload again: say where it stands
            code = 200 if known["status"] == "accepted" else 202
            body = SubmissionOut(round_id=round_id, address=contributor, **_status_fields(known))
            return JSONResponse(status_code=code, content=body.model_dump())
        raise UpdateRejectedError(
            "duplicate",
            f"{contributor} already has an update in round {round_id!r} "
            f"({known['status']}); one update per wallet and round",
        )
    check_envelope(info, ciphertext)
    received_at = time.time()
    rounds.stage(round_id, ciphertext)
    if not rounds.mark_pending(round_id, contributor, digest):
        raise UpdateRejectedError(
            "duplicate", f"{contributor} already has an update on its way in round {round_id!r}"
        )
    args = [round_id, contributor, digest, update.weight, update.signature, received_at]
    try:
        celery.send_task(ADD_UPDATE_TASK, args=args, queue=QUEUE, retry=False)
    except kombu.exceptions.OperationalError:
        rounds.redis.hdel(rounds.key(round_id, "pending"), contributor)
        raise
    return SubmissionOut(
        round_id=round_id, address=contributor, status="pending", ciphertext=digest
    )


def _status_fields(known: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": known["status"],
        "ciphertext": known.get("ciphertext") or "",
        "weight": known.get("weight"),
        "reason": known.get("reason"),
        "detail": known.get("detail"),
    }


@router.get(
    "/rounds/{round_id}/updates/{address}",
    responses={404: {"model": ErrorOut, "description": "No upload from this wallet."}},
    summary="Where a contributor's upload stands: pending, accepted or rejected (and why)",
)
def get_update(
    rounds: RoundsDep,
    round_id: RoundIdPath,
    address: AddressPath,
    ciphertext: Annotated[
        str | None, Query(pattern=r"^[0-9a-f]{64}$", description="sha256 hex of one upload.")
    ] = None,
) -> SubmissionOut:
    _info(rounds, round_id)
    contributor = to_checksum_address(address)
    known = rounds.submission_status(round_id, contributor, ciphertext)
    if known is None:
        raise NotIndexedError(f"no upload from {contributor} in round {round_id!r}")
    return SubmissionOut(round_id=round_id, address=contributor, **_status_fields(known))
