"""Fixtures shared by the whole suite.

The test command runs pytest twice through `ape test`: every test not marked `pyevm` on anvil
(`--network ethereum:local:foundry`, started and stopped by ape-foundry), then the `pyevm` ones on
ape's in-process EVM. Services a test needs are started here and stopped at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from zkai.devservices import ensure_redis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis for the tests: ZKAI_TEST_REDIS_URL if it answers, else a private redis-server."""
    url, started = ensure_redis(os.environ.get("ZKAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    try:
        yield url
    finally:
        if started is not None:
            started.stop()
