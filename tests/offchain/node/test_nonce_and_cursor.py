"""Nonces shared by concurrent workers, and the listener's persisted cursor."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from zkai.node.cursor import BlockCursor
from zkai.node.nonce import NonceManager


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def _manager(client: redis.Redis, chain_nonce: list[int]) -> NonceManager:
    return NonceManager(client, f"0x{uuid.uuid4().hex[:40]}", lambda: chain_nonce[0])


def test_reserve_gives_each_concurrent_worker_a_distinct_nonce(redis_client: redis.Redis) -> None:
    chain_nonce = [5]
    manager = _manager(redis_client, chain_nonce)
    with ThreadPoolExecutor(max_workers=8) as pool:
        nonces = list(pool.map(lambda _: manager.reserve(), range(40)))
    assert sorted(nonces) == list(range(5, 45))


def test_reserve_follows_the_chain_when_it_is_ahead(redis_client: redis.Redis) -> None:
    chain_nonce = [0]
    manager = _manager(redis_client, chain_nonce)
    assert [manager.reserve(), manager.reserve()] == [0, 1]
    chain_nonce[0] = 10  # another process sent transactions from this account
    assert manager.reserve() == 10


def test_release_failed_reuses_the_last_nonce(redis_client: redis.Redis) -> None:
    chain_nonce = [3]
    manager = _manager(redis_client, chain_nonce)
    first = manager.reserve()
    manager.release_failed(first)
    assert manager.reserve() == first
    second = manager.reserve()
    manager.reserve()
    manager.release_failed(second)  # not the latest: forget the stored value, resync from chain
    assert manager.reserve() == chain_nonce[0]


def test_cursor_starts_before_the_deployment_block_and_persists(tmp_path: Path) -> None:
    cursor = BlockCursor(tmp_path / "node" / "cursor.json", start_block=17)
    assert cursor.load() == 16
    cursor.save(42)
    assert BlockCursor(tmp_path / "node" / "cursor.json", start_block=17).load() == 42
    assert [p.name for p in (tmp_path / "node").iterdir()] == ["cursor.json"]


def test_the_same_account_on_another_chain_starts_from_that_chains_nonce(
    redis_client: redis.Redis,
) -> None:
    """Local anvils reuse accounts and chain id: a nonce left by one must not hold up another."""
    address = f"0x{uuid.uuid4().hex[:40]}"
    earlier = NonceManager(redis_client, address, lambda: 0, "31337:aaaaaaaaaaaaaaaa")
    assert [earlier.reserve() for _ in range(5)] == [0, 1, 2, 3, 4]
    fresh = NonceManager(redis_client, address, lambda: 0, "31337:bbbbbbbbbbbbbbbb")
    assert fresh.reserve() == 0
