"""Fixtures of the encrypted-training tests: one key holder, a round store on the test Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from eth_account import Account
from eth_account.signers.local import LocalAccount

from zkai.chain.client import ChainClient
from zkai.config import Settings
from zkai.models.demo import DemoSplit, load_demo_manifest, load_split
from zkai.models.manifest import Manifest
from zkai.toolchain import REPO_ROOT, load_module_from_path
from zkai.training.aggregate import QUEUE, create_app
from zkai.training.he import KeyHolder
from zkai.training.rounds import open_round
from zkai.training.store import RoundInfo, RoundStore

localchain: Any = load_module_from_path(
    "zkai_node_test_localchain", REPO_ROOT / "tests" / "offchain" / "node" / "localchain.py"
)


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


@pytest.fixture(scope="module")
def worker(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Celery]:
    """A `celery worker` subprocess for the training queue, and a client app on the same Redis."""
    log = (tmp_path_factory.mktemp("worker") / "worker.log").open("wb")
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "ZKAI_REDIS_URL": redis_url, "PYTHONPATH": str(repo / "offchain")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "zkai.training.aggregate:app",
            "worker",
            "--pool",
            "solo",
            "-Q",
            QUEUE,
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    app = create_app(Settings(redis_url=redis_url))
    try:
        yield app
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ChainClient]:
    """A private anvil with the contracts deployed (see tests/offchain/node/localchain.py)."""
    anvil = localchain.Anvil(tmp_path)
    try:
        deployment = localchain.deploy_system(anvil.url, tmp_path)
        yield ChainClient(anvil.url, deployment)
    finally:
        anvil.stop()
