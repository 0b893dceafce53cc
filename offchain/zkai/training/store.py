"""A training round's state in Redis, shared by the round's owner and the aggregation workers.

Keys, under ``zkai:training:<round id>:``:
- ``info``: the round (`RoundInfo`) as JSON; ``context``: its public CKKS context (bytes);
- ``announcement``: the model owner's EIP-191 signature of `RoundInfo.announcement()`, by which
  contributors check, against the chain, that the owner opened this round with this context;
- ``state``: ``open`` or ``closed``;
- ``sum``: the running encrypted sum (`zkai.training.he` envelope), absent until the first update;
- ``accepted``: hash address -> JSON {"ciphertext": sha256 hex, "weight": int};
- ``rejected``: list of JSON {"address", "reason", "detail", "ciphertext"} (what was refused, why);
- ``pending``: hash address -> sha256 hex of a ciphertext handed to the workers, not yet decided;
- ``blob:<sha256 hex>``: a staged ciphertext waiting for its task (content-addressed, so a
  second submission cannot overwrite the first; deleted once added to the sum, else expires a day
  after the deadline);
- ``result``: the key holder's verdict and what was published (`RoundResultRecord` as JSON), once
  the round is finalised.

``zkai:training:rounds`` is the set of round ids, for listing. A round's keys expire
`ROUND_RETENTION_S` after its deadline, or after its finalisation (the chain keeps the durable
record: the version and the reward epoch).

Updates to ``sum`` and ``accepted`` happen in one WATCH/MULTI transaction that also watches
``state``, so concurrent workers never lose an update and nothing is added after the close.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, NotRequired, TypedDict, cast

import redis
from eth_utils.address import is_address, to_checksum_address

from zkai.errors import TrainingError

__all__ = [
    "ROUND_ID",
    "ROUND_RETENTION_S",
    "AcceptedUpdate",
    "RoundContribution",
    "RoundInfo",
    "RoundResultRecord",
    "RoundStore",
]

_ROUNDS = "zkai:training:rounds"
ROUND_RETENTION_S = 30 * 86_400
"""How long a finalised round stays listed (its verdict, counts and encrypted sum)."""
_PARTS = (
    "info",
    "context",
    "announcement",
    "state",
    "sum",
    "accepted",
    "rejected",
    "pending",
    "result",
)
_MAX_REJECTIONS = 1000
"""Refusals kept per round (anyone can sign a refused upload; the list must stay bounded)."""

ROUND_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""A round id: also the key holder's keystore file name, so the same rule as keystore names."""
_BLOB_GRACE_S = 86_400


@dataclass(frozen=True)
class RoundInfo:
    """What a round announces to contributors (public)."""

    round_id: str
    model_name: str
    base_version: int
    base_manifest_hash: str
    """0x-hex keccak256 of the manifest contributors must train from."""
    parameter_count: int
    deadline: int
    """Unix time after which no update is added."""
    contributors: tuple[str, ...]
    """Checksummed wallets allowed to contribute (the allow-list)."""
    context_fingerprint: str
    """sha256 hex of the public context."""
    clip_norm: float
    max_weight: int
    min_updates: int = 2
    model_id: int | None = None

    def __post_init__(self) -> None:
        if not ROUND_ID.match(self.round_id):
            raise TrainingError(f"round id {self.round_id!r} must match {ROUND_ID.pattern}")
        if not self.contributors:
            raise TrainingError("a round needs a non-empty contributor allow-list")
        for address in self.contributors:
            if not is_address(address):
                raise TrainingError(f"allow-list entry {address!r} is not an address")
        object.__setattr__(
            self, "contributors", tuple(to_checksum_address(a) for a in self.contributors)
        )
        if self.min_updates < 2:
            raise TrainingError("min_updates must be at least 2: a sum of one update reveals it")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def announcement(self) -> str:
        """The text the model owner signs (EIP-191) when opening the round: every field a
        contributor relies on, so a relay (the API, Redis) cannot change one unnoticed."""
        return (
            "ZKAI training round\n"
            f"round: {self.round_id}\n"
            f"model id: {self.model_id}\n"
            f"model: {self.model_name} version {self.base_version}\n"
            f"manifest: {self.base_manifest_hash}\n"
            f"parameters: {self.parameter_count}\n"
            f"context sha256: {self.context_fingerprint}\n"
            f"deadline: {self.deadline}\n"
            f"contributors: {','.join(sorted(self.contributors))}\n"
            f"clip norm: {self.clip_norm!r}\n"
            f"max weight: {self.max_weight}\n"
            f"min updates: {self.min_updates}"
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> RoundInfo:
        data = json.loads(text)
        data["contributors"] = tuple(data["contributors"])
        return cls(**data)


@dataclass(frozen=True)
class AcceptedUpdate:
    address: str
    ciphertext_sha256: str
    weight: int


class RoundContribution(TypedDict):
    address: str
    weight: int


class RoundResultRecord(TypedDict):
    """The key holder's verdict on a round and what it published: ``result`` in Redis, as JSON
    (so a plain dict, read back as written), served by the API as its `RoundResultOut` and
    printed by `zkai train finalise --json` as it is. Amounts are wei as decimal strings: JSON
    readers lose digits past 2**53."""

    round_id: str
    model_id: int | None
    base_version: int
    accepted: bool
    reason: str
    # True once the new version and the reward epoch are on-chain; at once for a rejected round.
    published: bool
    finalised_at: int
    version: int | None
    epoch: int | None
    old_accuracy: float | None
    new_accuracy: float | None
    total_weight: int
    pool: str
    contributions: list[RoundContribution]
    # [contributor, amount] pairs (lists: JSON has no tuples).
    rewards: list[list[str]]
    manifest_hash: str | None
    # `ContributorRewards.epochCount()` before the round posted anything (where its epoch is
    # looked for when a publication is resumed); None until the publication starts.
    epochs_before: int | None
    # The reward epoch's Merkle root (None without rewards); present once the round is published.
    root: NotRequired[str | None]


class RoundStore:
    """Round state in one Redis database (see the module docstring for the keys)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @classmethod
    def from_url(cls, url: str) -> RoundStore:
        return cls(redis.Redis.from_url(url))

    @staticmethod
    def key(round_id: str, part: str) -> str:
        return f"zkai:training:{round_id}:{part}"

    def create(self, info: RoundInfo, public_context: bytes, announcement: str = "") -> None:
        """Record a new open round (with the owner's signature of its announcement); refuses an
        id that is already used. Its keys expire `ROUND_RETENTION_S` after the deadline."""
        if hashlib.sha256(public_context).hexdigest() != info.context_fingerprint:
            raise TrainingError("the round's context fingerprint does not match its context")
        with self.redis.pipeline() as pipe:
            pipe.setnx(self.key(info.round_id, "info"), info.to_json())
            pipe.set(self.key(info.round_id, "context"), public_context, nx=True)
            pipe.set(self.key(info.round_id, "state"), "open", nx=True)
            created = pipe.execute()
        if not all(created):
            raise TrainingError(f"round {info.round_id!r} already exists")
        if announcement:
            self.redis.set(self.key(info.round_id, "announcement"), announcement)
        self.redis.sadd(_ROUNDS, info.round_id)
        self.retain(info.round_id, max(1, int(info.deadline - time.time())) + ROUND_RETENTION_S)

    def announcement(self, round_id: str) -> str | None:
        raw = self.redis.get(self.key(round_id, "announcement"))
        return None if raw is None else cast(bytes, raw).decode()

    def round_ids(self) -> list[str]:
        """Every round id this store knows, sorted."""
        members = cast(set[bytes], self.redis.smembers(_ROUNDS))
        return sorted(member.decode() for member in members)

    def rounds(self) -> list[RoundInfo]:
        """Every round, latest deadline first (ids of expired rounds are dropped from the set)."""
        found = []
        for round_id in self.round_ids():
            info = self.info(round_id)
            if info is None:
                self.redis.srem(_ROUNDS, round_id)
            else:
                found.append(info)
        return sorted(found, key=lambda i: (i.deadline, i.round_id), reverse=True)

    def retain(self, round_id: str, seconds: int = ROUND_RETENTION_S) -> None:
        """Let a finished round's keys expire after `seconds`."""
        with self.redis.pipeline() as pipe:
            for part in _PARTS:
                pipe.expire(self.key(round_id, part), seconds)
            pipe.execute()

    def info(self, round_id: str) -> RoundInfo | None:
        raw = self.redis.get(self.key(round_id, "info"))
        return None if raw is None else RoundInfo.from_json(cast(bytes, raw))

    def public_context(self, round_id: str) -> bytes:
        raw = self.redis.get(self.key(round_id, "context"))
        if raw is None:
            raise TrainingError(f"round {round_id!r} has no context")
        return cast(bytes, raw)

    def state(self, round_id: str) -> str | None:
        raw = self.redis.get(self.key(round_id, "state"))
        return None if raw is None else cast(bytes, raw).decode()

    def is_open(self, info: RoundInfo, state: str | None, now: float | None = None) -> bool:
        return state == "open" and (time.time() if now is None else now) <= info.deadline

    def close(self, round_id: str) -> None:
        """Close the round: no update is added after this (in-flight transactions fail)."""
        if self.info(round_id) is None:
            raise TrainingError(f"no round {round_id!r}")
        self.redis.set(self.key(round_id, "state"), "closed")

    def encrypted_sum(self, round_id: str) -> bytes | None:
        raw = self.redis.get(self.key(round_id, "sum"))
        return None if raw is None else cast(bytes, raw)

    def accepted(self, round_id: str) -> list[AcceptedUpdate]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.key(round_id, "accepted")))
        entries = []
        for address, value in sorted(raw.items()):
            data = json.loads(value)
            entries.append(AcceptedUpdate(address.decode(), data["ciphertext"], data["weight"]))
        return entries

    def rejected(self, round_id: str) -> list[dict[str, Any]]:
        raw = cast(list[bytes], self.redis.lrange(self.key(round_id, "rejected"), 0, -1))
        return [json.loads(item) for item in raw]

    def record_rejection(
        self,
        round_id: str,
        address: str,
        reason: str,
        detail: str,
        ciphertext_sha256: str = "",
        *,
        clear_pending: bool = True,
    ) -> None:
        """List a refusal. Only the aggregation worker's verdict on a pending upload clears
        `address`'s pending entry: a refusal at the API (a duplicate, say) must not, or anyone
        could erase someone else's upload from view."""
        entry = json.dumps(
            {
                "address": address,
                "reason": reason,
                "detail": detail,
                "ciphertext": ciphertext_sha256,
            }
        )
        with self.redis.pipeline() as pipe:
            pipe.rpush(self.key(round_id, "rejected"), entry)
            pipe.ltrim(self.key(round_id, "rejected"), -_MAX_REJECTIONS, -1)
            if clear_pending:
                pipe.hdel(self.key(round_id, "pending"), address)
            pipe.execute()

    def mark_pending(self, round_id: str, address: str, ciphertext_sha256: str) -> bool:
        """Record that `address`'s ciphertext goes to the workers; False if one already does
        (atomic, so two concurrent uploads from one wallet cannot both be queued)."""
        return bool(self.redis.hsetnx(self.key(round_id, "pending"), address, ciphertext_sha256))

    def pending(self, round_id: str) -> dict[str, str]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.key(round_id, "pending")))
        return {address.decode(): digest.decode() for address, digest in raw.items()}

    def submission_status(
        self, round_id: str, address: str, ciphertext_sha256: str | None = None
    ) -> dict[str, Any] | None:
        """The verdict on `address`'s submission (of that ciphertext, if given), or None.

        {"status": "accepted" | "rejected" | "pending", ...}; the latest rejection wins when a
        wallet was refused more than once. One transaction reads all three, so an upload that a
        worker moves from pending to decided meanwhile is never missed.
        """
        with self.redis.pipeline() as pipe:  # MULTI/EXEC: one consistent snapshot
            pipe.hget(self.key(round_id, "accepted"), address)
            pipe.hget(self.key(round_id, "pending"), address)
            pipe.lrange(self.key(round_id, "rejected"), 0, -1)
            accepted, pending, rejected = pipe.execute()
        if accepted is not None:
            data = json.loads(accepted)
            if ciphertext_sha256 in (None, data["ciphertext"]):
                return {
                    "status": "accepted",
                    "weight": data["weight"],
                    "ciphertext": data["ciphertext"],
                }
        if pending is not None and ciphertext_sha256 in (None, pending.decode()):
            return {"status": "pending", "ciphertext": pending.decode()}
        for item in reversed(cast(list[bytes], rejected)):
            rejection = json.loads(item)
            if rejection["address"] == address and ciphertext_sha256 in (
                None,
                rejection.get("ciphertext"),
            ):
                return {"status": "rejected", **rejection}
        return None

    def set_result(self, round_id: str, result: RoundResultRecord) -> None:
        self.redis.set(self.key(round_id, "result"), json.dumps(result, sort_keys=True))

    def result(self, round_id: str) -> RoundResultRecord | None:
        raw = self.redis.get(self.key(round_id, "result"))
        return None if raw is None else cast(RoundResultRecord, json.loads(cast(bytes, raw)))

    def drop_staged(self, round_id: str, digests: list[str] | None = None) -> int:
        """Delete staged ciphertexts (the given ones, or all of the round's); returns how many."""
        if digests is None:
            keys = list(self.redis.scan_iter(self.key(round_id, "blob:*")))
        else:
            keys = [self.key(round_id, f"blob:{digest}") for digest in digests]
        return int(cast(int, self.redis.delete(*keys))) if keys else 0

    def stage(self, round_id: str, ciphertext: bytes) -> str:
        """Keep a submitted ciphertext for its aggregation task; returns its sha256 hex."""
        info = self.info(round_id)
        if info is None:
            raise TrainingError(f"no round {round_id!r}")
        digest = hashlib.sha256(ciphertext).hexdigest()
        ttl = max(1, int(info.deadline - time.time()) + _BLOB_GRACE_S)
        self.redis.set(self.key(round_id, f"blob:{digest}"), ciphertext, ex=ttl)
        return digest

    def staged(self, round_id: str, digest: str) -> bytes | None:
        raw = self.redis.get(self.key(round_id, f"blob:{digest}"))
        return None if raw is None else cast(bytes, raw)
