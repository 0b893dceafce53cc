"""Fixtures of the encrypted-training tests: one key holder, a round store on the test Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from zkai.models.demo import DemoSplit, load_demo_manifest, load_split
from zkai.models.manifest import Manifest
from zkai.training.he import KeyHolder
from zkai.training.rounds import open_round
from zkai.training.store import RoundInfo, RoundStore


@pytest.fixture(scope="session")
def key_holder() -> KeyHolder:
    return KeyHolder.generate()


@pytest.fixture(scope="session")
def digits() -> Manifest:
    return load_demo_manifest("digits")


@pytest.fixture(scope="session")
def digits_split() -> DemoSplit:
    return load_split("digits")


@pytest.fixture(scope="session")
def contributors() -> list[LocalAccount]:
    return [Account.create() for _ in range(3)]


@pytest.fixture
def store(redis_url: str) -> RoundStore:
    return RoundStore.from_url(redis_url)


@pytest.fixture
def new_round(
    store: RoundStore, key_holder: KeyHolder, digits: Manifest, contributors: list[LocalAccount]
) -> Callable[..., RoundInfo]:
    """Open a fresh digits round (unique id) for the contributors; keyword overrides allowed."""

    def make(**overrides: object) -> RoundInfo:
        options: dict[str, object] = {
            "round_id": f"test-{uuid.uuid4().hex[:12]}",
            "deadline": int(time.time()) + 600,
            "contributors": [c.address for c in contributors],
        }
        options.update(overrides)
        return open_round(store, key_holder, digits, **options)  # type: ignore[arg-type]

    return make
