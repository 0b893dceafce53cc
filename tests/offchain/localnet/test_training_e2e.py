"""Encrypted training end to end on a real local network: `zkai demo` with its training round
(three contributors, a new model version served by running nodes, rewards claimed), then the
contributor and key-holder commands with bad inputs.

Everything is real: anvil, Redis, the aggregation worker (Celery), the API over HTTP, TenSEAL
ciphertexts, the nodes proving version 2 with Groth16, the reward claims on-chain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from zkai.chain.client import load_abi
from zkai.config import Settings
from zkai.devservices import free_port
from zkai.localnet.demo import CONTRIBUTOR_INDEXES, write_training_csv
from zkai.localnet.processes import stop_process
from zkai.localnet_state import LocalnetState, anvil_account
from zkai.models.demo import load_split
from zkai.toolchain import REPO_ROOT
from zkai.training.aggregate import ROUND_STATUS_TASK, create_app

ETHER = 10**18


def zkai(env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 300) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "zkai.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("training-net")
    shared = Path(os.environ.get("ZKAI_DATA_DIR", REPO_ROOT / ".zkai-test"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZKAI_", "APE_"))}
    env.update(
        {
            "ZKAI_DATA_DIR": str(data_dir),
            "ZKAI_ARTIFACTS_DIR": str(shared / "artifacts"),  # circuit keys, shared with the run
            "ZKAI_REDIS_URL": redis_url,
            "COLUMNS": "400",  # Rich would wrap the messages the tests look for
        }
    )
    rpc_port, api_port = free_port(), free_port()
    run = zkai(
        env,
        "demo",
        "--samples",
        "1",
        "--rpc-port",
        str(rpc_port),
        "--api-port",
        str(api_port),
        "--json",
        timeout=900,
    )
    state_file = data_dir / "localnet" / "state.json"
    try:
        assert run.returncode == 0, run.stderr[-4000:]
        report = json.loads(run.stdout)
        state = LocalnetState.load(state_file)
        yield {"env": env, "report": report, "state": state, "data_dir": data_dir}
    finally:
        zkai(env, "down")
        for record in LocalnetState.load(state_file).processes:
            stop_process(record)


def _chain(demo: dict[str, Any]) -> tuple[Web3, dict[str, str]]:
    w3 = Web3(Web3.HTTPProvider(demo["state"].endpoints["rpc"]))
    record = json.loads((demo["data_dir"] / "localnet" / "deployments" / "local.json").read_text())
    return w3, {name: c["address"] for name, c in record["contracts"].items()}


def test_demo_round_publishes_a_version_that_is_queried_and_pays_contributors(
    demo: dict[str, Any],
) -> None:
    report = demo["report"]
    training = report["training"]
    assert report["ok"] is True, training
    assert training["accepted"] is True
    assert training["base_version"] == 1
    assert training["version"] == 2
    assert training["new_accuracy"] >= training["old_accuracy"] - 0.01
    queries = training["queries"]
    assert queries
    assert all(q["version"] == 2 and q["exact"] and q["verified"] for q in queries)

    contributors = training["contributors"]
    assert [c["address"] for c in contributors] == [
        anvil_account(i).address for i in CONTRIBUTOR_INDEXES
    ]
    assert all(c["status"] == "accepted" for c in contributors)
    # Weights are the clipped sample counts: the largest contributor hits the 500 cap.
    assert [c["weight"] for c in contributors] == [min(c["samples"], 500) for c in contributors]
    assert max(c["samples"] for c in contributors) > 500
    pool, weights = int(training["pool"]), [c["weight"] for c in contributors]
    rewards = [int(c["reward"]) for c in contributors]
    assert sum(rewards) == pool >= 100 * ETHER
    for reward, weight in zip(rewards, weights, strict=True):
        assert abs(reward - pool * weight // sum(weights)) <= 1
    assert [int(c["claimed"]) for c in contributors] == rewards

    w3, addresses = _chain(demo)
    registry = w3.eth.contract(address=addresses["ModelRegistry"], abi=load_abi("ModelRegistry"))
    digits_id = demo["state"].info["models"]["digits"]
    model = registry.functions.getModel(digits_id).call()
    assert model[2] == 2  # currentVersion
    version = registry.functions.getVersion(digits_id, 2).call()
    manifests = demo["data_dir"] / "manifests"
    assert (manifests / f"{bytes(version[0]).hex()}.json").exists()
    pool_contract = w3.eth.contract(
        address=addresses["ContributorRewards"], abi=load_abi("ContributorRewards")
    )
    for c in contributors:
        assert pool_contract.functions.isClaimed(
            training["epoch"], c["address"], int(c["reward"])
        ).call()


def test_nodes_served_the_new_version_without_a_restart(demo: dict[str, Any]) -> None:
    nodes = [p for p in demo["state"].processes if p.name.startswith("node-")]
    assert nodes
    assert all(p.running for p in nodes)
    for record in nodes:
        log = Path(record.log).read_text()
        assert log.count('"service.started"') == 1, record.name


def test_the_running_aggregator_holds_no_secret_key(demo: dict[str, Any]) -> None:
    celery = create_app(Settings(redis_url=demo["state"].endpoints["redis"]))
    status = celery.send_task(ROUND_STATUS_TASK, args=[demo["report"]["training"]["round_id"]]).get(
        timeout=60
    )
    assert status["accepted"] == 3
    assert status["contexts_loaded"] >= 1
    assert status["secret_contexts"] == 0


def test_rewards_show_reports_the_claims(demo: dict[str, Any]) -> None:
    contributor = demo["report"]["training"]["contributors"][0]
    shown = zkai(demo["env"], "rewards", "show", "--address", contributor["address"], "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["claimed"]["wei"] == contributor["reward"]
    assert [r["status"] for r in data["rewards"]] == ["claimed"]


def _wallet(env: dict[str, str], name: str, index: int) -> str:
    account = anvil_account(index)
    made = zkai(env, "wallet", "import", name, stdin=account.key.hex() + "\n")
    assert made.returncode == 0, made.stderr
    return str(account.address)


def test_cli_round_refuses_bad_contributions_and_too_few_updates(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    env = {**demo["env"], "ZKAI_PASSPHRASE": "e2e-passphrase"}
    round_id = f"cli-{uuid.uuid4().hex[:12]}"  # the tests' Redis outlives this network
    first, second = _wallet(env, "c1", 110), _wallet(env, "c2", 111)
    opened = zkai(
        env,
        "train",
        "open",
        "--model",
        "breast-cancer",
        "--contributors",
        f"{first},{second}",
        "--duration",
        "300",
        "--round-id",
        round_id,
        "--json",
    )
    assert opened.returncode == 0, opened.stderr
    # (The tests' Redis also holds other tests' rounds: filter by model.)
    listed = json.loads(zkai(env, "train", "rounds", "-m", "breast-cancer", "--json").stdout)
    assert (round_id, "open") in [(r["round_id"], r["state"]) for r in listed]
    assert {r["model_name"] for r in listed} == {"breast-cancer"}

    split = load_split("breast-cancer")
    data = write_training_csv(tmp_path / "mine.csv", split.x_train[:80], split.y_train[:80])
    mine = ("-m", "breast-cancer", "--round", round_id)  # older rounds may still be open
    ok = zkai(env, "contribute", *mine, "--data", str(data), "--wallet", "c1", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "accepted"
    assert json.loads(ok.stdout)["weight"] == 80

    again = zkai(env, "contribute", *mine, "--data", str(data), "--wallet", "c1")
    assert again.returncode == 1
    assert "(duplicate)" in again.stderr
    stranger = zkai(env, "contribute", *mine, "--data", str(data))
    assert stranger.returncode == 1
    assert "(unknown-contributor)" in stranger.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    malformed = zkai(env, "contribute", *mine, "--data", str(bad), "--wallet", "c2")
    assert malformed.returncode == 1
    assert "takes 30 features" in malformed.stderr
    assert zkai(env, "train", "close", round_id).returncode == 0
    late = zkai(env, "contribute", *mine, "--data", str(data), "--wallet", "c2")
    assert late.returncode == 1
    assert "(round-closed)" in late.stderr

    held_out = write_training_csv(tmp_path / "held.csv", split.x_test, split.y_test)
    final = zkai(env, "train", "finalise", round_id, "--held-out", str(held_out), "--json")
    assert final.returncode == 2, final.stderr
    record = json.loads(final.stdout)
    assert record["accepted"] is False
    assert "fewer than the 2 required" in record["reason"]
    shown = json.loads(zkai(env, "train", "show", round_id, "--json").stdout)
    assert shown["state"] == "finalised"
    assert [r["reason"] for r in shown["rejections"]] == [
        "duplicate",
        "unknown-contributor",
        "round-closed",
    ]
    assert not (demo["data_dir"] / "training-keys" / f"{round_id}.json").exists()
