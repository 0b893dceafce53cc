"""The contributor's side of a round, over the API: find the round, train, encrypt, sign, upload.

Nothing here trusts the API (or whoever can write to the round store behind it): the round's
announcement must be signed by the model's owner as the chain records it, and name a version
whose on-chain commitment is the manifest trained from; the public context must hash to the
fingerprint in that announcement (and TenSEAL refuses one that carries a secret key); the manifest
must hash to the version's commitment. The contributor's own signature binds the round, the
ciphertext's hash and the declared weight. The private data never leaves this process; what is
uploaded is the CKKS ciphertext of the clipped, weighted update.

Training data is a CSV file: one sample per row, the model's input features in order, then the
label (a class index; 0/1 for a sigmoid model) in the last column. A header row is allowed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import requests
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

from zkai.chain.client import ChainClient
from zkai.errors import TrainingError, UnknownModelError, UpdateRejectedError
from zkai.http import api_request
from zkai.models.store import parse_commitment, resolve_manifest
from zkai.protocol.market import read_model
from zkai.training.local import LocalTrainingConfig
from zkai.training.rounds import Submission, make_submission
from zkai.training.store import RoundInfo

__all__ = ["Contribution", "TrainingApi", "contribute", "read_training_csv", "verify_round"]

Say = Callable[[str], None]
_ROUND_FIELDS = set(RoundInfo.__dataclass_fields__)


def _quiet(_message: str) -> None:
    return None


class TrainingApi:
    """The API's training endpoints (`zkai.api.routers.training`)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = api_request(
            self.base_url,
            method,
            path,
            error=TrainingError,
            session=self.http,
            timeout=self.timeout,
            **kwargs,
        )
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text[:500]}
            detail = str(body.get("detail"))
            if "reason" in body:
                raise UpdateRejectedError(str(body["reason"]), detail)
            raise TrainingError(f"{method} {path}: HTTP {response.status_code}: {detail}")
        return response

    def rounds(self, *, state: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"state": state, "model": model}.items() if v is not None}
        items: list[dict[str, Any]] = []
        while True:
            page = self._request(
                "GET", "/api/training/rounds", params={**params, "limit": 200, "offset": len(items)}
            ).json()
            items.extend(page["items"])
            if len(items) >= page["total"] or not page["items"]:
                return items

    def round(self, round_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._request("GET", f"/api/training/rounds/{round_id}").json()
        return data

    def context(self, round_id: str) -> bytes:
        return self._request("GET", f"/api/training/rounds/{round_id}/context").content

    def upload(self, submission: Submission) -> dict[str, Any]:
        body = {
            "address": submission.address,
            "weight": submission.weight,
            "signature": submission.signature,
            "ciphertext": base64.b64encode(submission.ciphertext).decode(),
        }
        path = f"/api/training/rounds/{submission.round_id}/updates"
        data: dict[str, Any] = self._request("POST", path, json=body).json()
        return data

    def update_status(self, round_id: str, address: str, digest: str) -> dict[str, Any]:
        path = f"/api/training/rounds/{round_id}/updates/{address}"
        data: dict[str, Any] = self._request("GET", path, params={"ciphertext": digest}).json()
        return data


def round_info(data: dict[str, Any]) -> RoundInfo:
    """A `RoundInfo` from the API's round JSON."""
    fields = {k: v for k, v in data.items() if k in _ROUND_FIELDS}
    fields["contributors"] = tuple(fields["contributors"])
    return RoundInfo(**fields)


def read_training_csv(
    path: Path, n_features: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """(features, labels) from a CSV of `n_features` numbers then an integer label per row."""
    try:
        with path.open(newline="") as handle:
            rows = [row for row in csv.reader(handle) if row and any(c.strip() for c in row)]
    except OSError as exc:
        raise TrainingError(f"cannot read training data {path}: {exc.strerror}") from None
    if rows and not _numeric(rows[0][0]):
        rows = rows[1:]  # a header
    if not rows:
        raise TrainingError(f"{path} holds no samples")
    x = np.empty((len(rows), n_features))
    y = np.empty(len(rows), dtype=np.int64)
    for i, row in enumerate(rows, start=1):
        if len(row) != n_features + 1:
            raise TrainingError(
                f"{path} row {i} has {len(row)} columns; the model takes {n_features} features "
                "plus the label in the last column"
            )
        try:
            values = [float(cell) for cell in row]
        except ValueError:
            raise TrainingError(f"{path} row {i} holds a value that is not a number") from None
        if not all(math.isfinite(v) for v in values):
            raise TrainingError(f"{path} row {i} holds a value that is not finite")
        if values[-1] != int(values[-1]):
            raise TrainingError(f"{path} row {i}: the label {values[-1]} is not a class index")
        x[i - 1] = values[:-1]
        y[i - 1] = int(values[-1])
    return x, y


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Contribution:
    round_id: str
    address: str
    weight: int
    samples: int
    ciphertext_sha256: str
    ciphertext_bytes: int
    delta_norm: float
    status: str
    """pending, accepted or rejected (the workers' verdict, if waited for)."""
    reason: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def verify_round(chain: ChainClient, info: RoundInfo, announcement: str | None) -> None:
    """The round as the model's on-chain owner announced it, on a version the chain has.

    `TrainingError` otherwise: a round a relay made up or altered (another context, allow-list,
    deadline or base model) is refused before anything is encrypted under its context.
    """
    if info.model_id is None or not announcement:
        raise TrainingError(
            f"round {info.round_id!r} carries no signed announcement by the model's owner: refused"
        )
    try:
        model = read_model(chain, info.model_id, version=info.base_version)
    except UnknownModelError:
        raise TrainingError(
            f"round {info.round_id!r} names model {info.model_id}, unknown here"
        ) from None
    message = encode_defunct(text=info.announcement())
    try:
        signer = Account.recover_message(message, signature=announcement)
    except (BadSignature, ValidationError, ValueError) as exc:
        raise TrainingError(f"round {info.round_id!r}: malformed announcement: {exc}") from exc
    if signer != model.owner:
        raise TrainingError(
            f"round {info.round_id!r} was not announced by model {info.model_id}'s owner "
            f"{model.owner} (the signature is by {signer}): refusing to encrypt under its context"
        )
    if "0x" + model.manifest_hash.hex() != info.base_manifest_hash.lower():
        raise TrainingError(
            f"round {info.round_id!r} trains {info.base_manifest_hash}, but model "
            f"{info.model_id} version {info.base_version} commits to 0x{model.manifest_hash.hex()}"
        )


def choose_round(
    api: TrainingApi, model: str, address: str, round_id: str | None
) -> tuple[RoundInfo, str | None]:
    """The round to contribute to (`round_id`, or the one open round of `model`) and its
    announcement signature."""
    if round_id is not None:
        data = api.round(round_id)
        if data["model_name"] != model:
            raise TrainingError(f"round {round_id!r} trains {data['model_name']!r}, not {model!r}")
        return round_info(data), data.get("announcement")
    open_rounds = api.rounds(state="open", model=model)
    if not open_rounds:
        raise TrainingError(
            f"no open training round for model {model!r} at {api.base_url} "
            "(`zkai train rounds` lists them)"
        )
    if len(open_rounds) > 1:
        mine = [r for r in open_rounds if address in r["contributors"]]
        if len(mine) != 1:
            ids = ", ".join(r["round_id"] for r in open_rounds)
            raise TrainingError(f"several open rounds for {model!r} ({ids}): pick one with --round")
        open_rounds = mine
    return round_info(open_rounds[0]), open_rounds[0].get("announcement")


def contribute(
    api: TrainingApi,
    chain: ChainClient,
    account: LocalAccount,
    *,
    model: str,
    data: Path,
    round_id: str | None = None,
    config: LocalTrainingConfig | None = None,
    wait_s: float = 120.0,
    say: Say = _quiet,
) -> Contribution:
    """Train on `data`, upload the encrypted update to the round, and wait for the verdict.

    `wait_s` = 0 returns as soon as the upload is queued (status "pending"). A refusal by the API
    raises `UpdateRejectedError`; one by the workers is returned with status "rejected".
    """
    info, announcement = choose_round(api, model, account.address, round_id)
    verify_round(chain, info, announcement)
    say(
        f"round {info.round_id}: model {info.model_name} version {info.base_version}, "
        f"{info.parameter_count} parameters, open until {time.ctime(info.deadline)}"
    )
    context = api.context(info.round_id)
    if hashlib.sha256(context).hexdigest() != info.context_fingerprint:
        raise TrainingError(
            f"the API served a context that does not hash to the fingerprint the model owner "
            f"announced for round {info.round_id!r}: refusing to encrypt under it"
        )
    manifest = resolve_manifest(parse_commitment(info.base_manifest_hash), api_url=api.base_url)
    x, y = read_training_csv(data, manifest.input_size)
    say(f"training locally on {len(y)} private samples, then encrypting the update (CKKS)")
    submission = make_submission(info, context, manifest, x, y, account, config)
    digest = hashlib.sha256(submission.ciphertext).hexdigest()
    say(f"uploading {len(submission.ciphertext):,} bytes of ciphertext, weight {submission.weight}")
    status = api.upload(submission)
    deadline = time.monotonic() + wait_s
    while status["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.25)
        status = api.update_status(info.round_id, account.address, digest)
    return Contribution(
        round_id=info.round_id,
        address=account.address,
        weight=submission.weight,
        samples=len(y),
        ciphertext_sha256=digest,
        ciphertext_bytes=len(submission.ciphertext),
        delta_norm=submission.delta_norm,
        status=str(status["status"]),
        reason=status.get("reason"),
        detail=status.get("detail"),
    )
