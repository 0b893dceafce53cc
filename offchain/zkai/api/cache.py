"""Dashboard aggregates computed once for a crowd: a short-lived cache with one computation at a
time per key.

`/api/stats`, `/api/stats/timeseries` and `/api/token` read the whole index. Every dashboard
polls them, so under a crowd the same answer would be computed hundreds of times a second. An
answer is kept for `ttl_s` seconds (`ZKAI_API_CACHE_TTL_S`) and only while the index has not
changed since (the indexer's `version`): an update is visible at once. Concurrent requests for a
missing answer wait for the one computation (in a worker thread) instead of each starting one, and
a cached answer is served from the event loop without taking a thread.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

__all__ = ["AggregateCache"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Entry:
    value: Any
    version: int
    stored_at: float


class AggregateCache:
    """Answers by key, each valid for `ttl_s` seconds at one index version (0: no caching)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[Hashable, _Entry] = {}
        # asyncio locks belong to one event loop (a test client may run several in turn).
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[Hashable, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()
        self.computed = 0
        """How many answers were computed (the rest were served from the cache)."""

    def _fresh(self, key: Hashable, version: int) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != version:
            return None
        if time.monotonic() - entry.stored_at >= self.ttl_s:
            return None
        return entry

    async def get(self, key: Hashable, version: int, compute: Callable[[], _T]) -> _T:
        """The answer for `key` at index `version`: cached, or `compute()`d in a thread once."""
        if self.ttl_s <= 0:
            self.computed += 1
            return await run_in_threadpool(compute)
        entry = self._fresh(key, version)
        if entry is not None:
            return entry.value  # type: ignore[no-any-return]
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        lock = locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._fresh(key, version)
            if entry is not None:
                return entry.value  # type: ignore[no-any-return]
            value = await run_in_threadpool(compute)
            self.computed += 1
            self._entries[key] = _Entry(value, version, time.monotonic())
            return value
