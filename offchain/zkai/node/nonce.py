"""Transaction nonces shared by every worker process of one node, kept in Redis.

Several Celery workers of a node submit results concurrently from the same account. Each takes the
next nonce under a short Redis lock; the stored value is resynchronised with the chain's pending
count whenever the chain is ahead (another process, a restart, a Redis without persistence) and
reset after a failed send, so a gap never blocks the account for long.
"""

from __future__ import annotations

from collections.abc import Callable

import redis

NONCE_PREFIX = "zkai:nonce"


class NonceManager:
    def __init__(
        self,
        client: redis.Redis,
        address: str,
        chain_pending_nonce: Callable[[], int],
        chain: str = "",
    ):
        """`chain` (`ChainClient.identity`) keeps the nonces of the same account on different
        chains apart: a nonce left by another local network would be ahead of this chain's,
        and every transaction would wait in the mempool for a gap that never fills."""
        self._redis = client
        self._key = f"{NONCE_PREFIX}:{chain}:{address.lower()}"
        self._lock_name = f"{self._key}:lock"
        self._chain_pending_nonce = chain_pending_nonce

    def _stored(self) -> int | None:
        value: bytes | None = self._redis.get(self._key)  # type: ignore[assignment]
        return int(value) if value is not None else None

    def reserve(self) -> int:
        """The next nonce for this account; no other worker gets the same one."""
        with self._redis.lock(self._lock_name, timeout=30, blocking_timeout=30):
            stored = self._stored()
            nonce = max(stored if stored is not None else 0, self._chain_pending_nonce())
            self._redis.set(self._key, nonce + 1)
            return nonce

    def release_failed(self, nonce: int) -> None:
        """A transaction with `nonce` was never sent: resync from the chain on the next reserve."""
        with self._redis.lock(self._lock_name, timeout=30, blocking_timeout=30):
            if self._stored() == nonce + 1:
                self._redis.set(self._key, nonce)
            else:
                self._redis.delete(self._key)

    def resync(self) -> None:
        """Forget the stored nonce: the next reservation starts from the chain's pending count."""
        with self._redis.lock(self._lock_name, timeout=30, blocking_timeout=30):
            self._redis.delete(self._key)
