"""A training round's state in Redis, shared by the round's owner and the aggregation workers.

Keys, under ``zkai:training:<round id>:``:
- ``info``: the round (`RoundInfo`) as JSON; ``context``: its public CKKS context (bytes);
- ``state``: ``open`` or ``closed``;
- ``sum``: the running encrypted sum (`zkai.training.he` envelope), absent until the first update;
- ``accepted``: hash address -> JSON {"ciphertext": sha256 hex, "weight": int};
- ``rejected``: list of JSON {"address", "reason", "detail"} (what was refused and why);
- ``blob:<sha256 hex>``: a staged ciphertext waiting for its task (content-addressed, so a
  second submission cannot overwrite the first; expires a day after the deadline).

Updates to ``sum`` and ``accepted`` happen in one WATCH/MULTI transaction that also watches
``state``, so concurrent workers never lose an update and nothing is added after the close.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, cast

import redis
from eth_utils.address import is_address, to_checksum_address

from zkai.errors import TrainingError

__all__ = ["ROUND_ID", "AcceptedUpdate", "RoundInfo", "RoundStore"]

ROUND_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
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

    def create(self, info: RoundInfo, public_context: bytes) -> None:
        """Record a new open round; refuses an id that is already used."""
        if hashlib.sha256(public_context).hexdigest() != info.context_fingerprint:
            raise TrainingError("the round's context fingerprint does not match its context")
        with self.redis.pipeline() as pipe:
            pipe.setnx(self.key(info.round_id, "info"), info.to_json())
            pipe.set(self.key(info.round_id, "context"), public_context, nx=True)
            pipe.set(self.key(info.round_id, "state"), "open", nx=True)
            created = pipe.execute()
        if not all(created):
            raise TrainingError(f"round {info.round_id!r} already exists")

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

    def record_rejection(self, round_id: str, address: str, reason: str, detail: str) -> None:
        entry = json.dumps({"address": address, "reason": reason, "detail": detail})
        self.redis.rpush(self.key(round_id, "rejected"), entry)

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
