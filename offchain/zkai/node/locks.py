"""Locks held exactly as long as their holder lives: work that must survive a worker crash.

A `LivenessLock` is a Redis key (SET NX) with a short time to live (`ttl_s`, a few seconds) that a
heartbeat thread of the holding process renews every `ttl_s / 3` while the work runs. So:

- a holder that dies (SIGKILL, OOM, a lost machine) stops renewing and its lock expires within
  `ttl_s`; on the same machine it is taken over at once, without waiting for the expiry: the lock
  records its holder (host, pid and the process's start time), and a holder that is certainly gone
  (same host, and that pid no longer runs or is another process) is replaced (`acquire`, and
  `holder_gone` for recovery paths such as the node listener's reconciliation);
- a live holder keeps its lock through work of any length (a proof of all the rounds of an
  assignment), however much longer than `ttl_s` it takes;
- a holder whose lock was lost meanwhile (Redis restarted, a renewal failed for longer than the
  TTL, another process took it over) learns it before it acts: `ensure_held()` renews the lock
  atomically (only if it is still this holder's) and raises `LockLostError` otherwise. Call it
  immediately before the irreversible step (a transaction's send): it leaves a whole `ttl_s` of
  margin for that step.

Nothing here depends on what is locked: the node locks one assignment's claim
(`zkai.node.claims`); any other unit of work can use it the same way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, cast

import redis

from zkai.errors import LockLostError
from zkai.liveness import pid_alive, process_start_ticks

__all__ = ["Holder", "LivenessLock", "holder_gone", "lock_holder"]

log = logging.getLogger("zkai.node.locks")

# Renew (reset the TTL) only if the key still holds this holder's value.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
# Delete only if the key still holds the given value (release, or replace a dead holder).
_DELETE_IF = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: the lock's value, as JSON."""

    token: str
    host: str
    pid: int
    start_ticks: int
    """The holding process's start time (clock ticks since boot, 0 if unknown)."""
    since: float

    @classmethod
    def this_process(cls) -> Holder:
        pid = os.getpid()
        host = socket.gethostname()
        return cls(uuid.uuid4().hex, host, pid, process_start_ticks(pid), time.time())

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, raw: bytes | str) -> Holder | None:
        try:
            data = json.loads(raw)
            return cls(
                str(data["token"]),
                str(data["host"]),
                int(data["pid"]),
                int(data["start_ticks"]),
                float(data["since"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


def holder_gone(holder: Holder) -> bool:
    """True only when certain: the holder ran on this host and that process no longer runs (its
    pid is dead, or now names a process that started at another time). A holder on another
    host is never judged here: its lock expires by itself within its TTL."""
    if holder.host != socket.gethostname():
        return False
    if not pid_alive(holder.pid):
        return True
    return bool(holder.start_ticks) and process_start_ticks(holder.pid) != holder.start_ticks


def lock_holder(client: redis.Redis, key: str) -> tuple[Holder | None, bytes | None]:
    """The holder of the lock at `key` and the key's raw value (None, None when it is free)."""
    raw = cast(bytes | None, client.get(key))
    if raw is None:
        return None, None
    return Holder.decode(raw), raw


def release_if_gone(client: redis.Redis, key: str) -> bool:
    """Free the lock at `key` if its holder is certainly gone (`holder_gone`); True if freed (or
    already free). A value that is not a holder's (written by something else) is left alone."""
    holder, raw = lock_holder(client, key)
    if raw is None:
        return True
    if holder is None or not holder_gone(holder):
        return False
    if client.eval(_DELETE_IF, 1, key, raw.decode()):
        log.info("lock %s: holder pid %d on %s is gone, released", key, holder.pid, holder.host)
        return True
    return client.get(key) is None


class LivenessLock:
    """A lock on `key` tied to this process's liveness (see the module docstring).

    `with lock:` acquires it (raising `LockLostError` if another live holder has it; use
    `acquire()` to test instead) and releases it at the end. While it is held, a daemon thread
    renews it every `renew_every_s` (default `ttl_s / 3`)."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        *,
        ttl_s: float,
        renew_every_s: float | None = None,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("a lock's ttl_s must be positive")
        self.client = client
        self.key = key
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.renew_every_s = renew_every_s if renew_every_s is not None else ttl_s / 3
        self.holder = Holder.this_process()
        self._value = self.holder.encode()
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_renewed = 0.0

    # -- holding ----------------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take the lock if it is free or its holder is certainly gone; False if a live holder
        (or one on another host, until its lock expires) has it."""
        if self._thread is not None:
            raise RuntimeError(f"lock {self.key} is already held by this object")
        taken = bool(self.client.set(self.key, self._value, nx=True, px=self.ttl_ms))
        if not taken and release_if_gone(self.client, self.key):
            taken = bool(self.client.set(self.key, self._value, nx=True, px=self.ttl_ms))
        if not taken:
            return False
        self._last_renewed = time.monotonic()
        self._stop.clear()
        self._lost.clear()
        self._thread = threading.Thread(
            target=self._heartbeat, name=f"lock-heartbeat {self.key}", daemon=True
        )
        self._thread.start()
        return True

    def release(self) -> None:
        """Stop renewing and delete the lock if it is still ours (never someone else's)."""
        self._stop_heartbeat()
        with contextlib.suppress(redis.RedisError):  # else it expires within its TTL
            self.client.eval(_DELETE_IF, 1, self.key, self._value)

    @property
    def lost(self) -> bool:
        """Whether the heartbeat found the lock gone or taken (checked without Redis)."""
        return self._lost.is_set()

    def ensure_held(self) -> None:
        """Renew the lock now, atomically, if it is still ours; else raise `LockLostError`.

        Right before an irreversible step, this leaves a whole TTL for that step."""
        if self._thread is None:
            raise LockLostError(f"lock {self.key} is not held")
        if self._lost.is_set():
            raise LockLostError(f"lock {self.key} was lost while the work ran")
        try:
            renewed = self._renew()
        except redis.RedisError as exc:
            raise LockLostError(f"lock {self.key} could not be confirmed: {exc}") from exc
        if not renewed:
            self._lost.set()
            raise LockLostError(f"lock {self.key} was lost while the work ran")

    # -- the heartbeat ------------------------------------------------------------------------

    def _renew(self) -> bool:
        renewed = bool(self.client.eval(_RENEW, 1, self.key, self._value, str(self.ttl_ms)))
        if renewed:
            self._last_renewed = time.monotonic()
        return renewed

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.renew_every_s):
            try:
                if not self._renew():
                    self._lost.set()
                    log.warning("lock %s was lost (expired or taken over)", self.key)
                    return
            except redis.RedisError as exc:
                # Unconfirmed for longer than the TTL: it may have expired and been taken.
                if time.monotonic() - self._last_renewed >= self.ttl_ms / 1000:
                    self._lost.set()
                    log.warning("lock %s: renewal failing for a whole TTL (%s)", self.key, exc)
                    return

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.renew_every_s + 5)

    # -- context manager ------------------------------------------------------------------

    def __enter__(self) -> LivenessLock:
        if not self.acquire():
            raise LockLostError(f"lock {self.key} is held by another live process")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state: Any = "held" if self._thread is not None else "free"
        return f"LivenessLock({self.key!r}, ttl={self.ttl_ms} ms, {state})"
