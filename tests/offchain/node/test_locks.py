"""`zkai.node.locks.LivenessLock` on a real Redis: a killed holder frees its lock within the bound
(at once on this machine), a live holder keeps it through work far longer than its TTL, and a
lock lost mid-task stops the share's submission before any transaction is sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis

from zkai.errors import LockLostError
from zkai.node.locks import Holder, LivenessLock, holder_gone, lock_holder, release_if_gone

TTL_S = 2.0

HOLDER_SCRIPT = textwrap.dedent(
    """
    import sys, time, redis
    from zkai.node.locks import LivenessLock
    lock = LivenessLock(redis.Redis.from_url(sys.argv[1]), sys.argv[2], ttl_s=float(sys.argv[3]))
    assert lock.acquire()
    print("held", flush=True)
    time.sleep(600)
    """
)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    name = f"zkai:test:lock:{uuid.uuid4().hex}"
    try:
        yield name
    finally:
        client.delete(name)


def _holder_process(redis_url: str, key: str, ttl_s: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, redis_url, key, str(ttl_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def _kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_LivenessLock_killed_holder_on_this_host_is_taken_over_at_once(
    client: redis.Redis, redis_url: str, key: str
) -> None:
    holder = _holder_process(redis_url, key, ttl_s=60)  # a TTL far beyond the test
    mine = LivenessLock(client, key, ttl_s=TTL_S)
    assert not mine.acquire(), "a live holder keeps its lock"
    found, _ = lock_holder(client, key)
    assert found is not None
    assert found.pid == holder.pid
    assert not holder_gone(found)
    _kill(holder)
    started = time.monotonic()
    assert mine.acquire(), "the dead holder's lock is taken over"
    assert time.monotonic() - started < 1.0
    assert lock_holder(client, key)[0] == mine.holder
    mine.release()
    assert client.get(key) is None


def test_LivenessLock_killed_holder_elsewhere_expires_within_its_ttl(
    client: redis.Redis, redis_url: str, key: str
) -> None:
    holder = _holder_process(redis_url, key, ttl_s=TTL_S)
    time.sleep(2 * TTL_S)  # renewed meanwhile
    assert client.exists(key)
    _kill(holder)
    killed = time.monotonic()
    # Judged from another machine (the pid means nothing there), only the TTL frees it.
    raw = client.get(key)
    assert raw is not None
    elsewhere = Holder.decode(raw)
    assert elsewhere is not None
    assert holder_gone(elsewhere)
    assert not holder_gone(replace(elsewhere, host="another-machine"))
    while client.exists(key):
        assert time.monotonic() - killed <= TTL_S + 0.5, "the lock outlived its TTL"
        time.sleep(0.05)


def test_LivenessLock_live_holder_keeps_it_through_a_long_task(
    client: redis.Redis, key: str
) -> None:
    lock = LivenessLock(client, key, ttl_s=1.0)
    with lock:
        other = LivenessLock(client, key, ttl_s=1.0)
        until = time.monotonic() + 5.0  # five TTLs of work
        while time.monotonic() < until:
            assert not other.acquire()
            assert 0 < int(client.pttl(key)) <= 1000
            time.sleep(0.1)
        lock.ensure_held()
        assert not lock.lost
    assert client.get(key) is None
    assert release_if_gone(client, key), "a free lock needs no release"


def test_LivenessLock_lost_lock_is_noticed_and_not_renewed(client: redis.Redis, key: str) -> None:
    lock = LivenessLock(client, key, ttl_s=0.6)
    assert lock.acquire()
    client.delete(key)  # Redis restarted, say
    thief = LivenessLock(client, key, ttl_s=10)
    assert thief.acquire()
    deadline = time.monotonic() + 2
    while not lock.lost:
        assert time.monotonic() < deadline, "the heartbeat did not notice the lost lock"
        time.sleep(0.05)
    with pytest.raises(LockLostError):
        lock.ensure_held()
    lock.release()
    assert lock_holder(client, key)[0] == thief.holder, "releasing never frees another's lock"
    thief.release()
