"""The user's day, end to end on a real local network: `zkai up`, private queries from the CLI,
bad inputs that cost nothing, a query that expires and is refunded, `zkai down`.

Everything is real: anvil, Redis, the deployed contracts, the nodes' Celery workers proving with
Groth16, the verifier contract, the API process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from zkai.devservices import free_port
from zkai.localnet.processes import stop_process
from zkai.localnet_state import DEMO_USER_INDEX, LocalnetState, anvil_account, pid_alive
from zkai.models.demo import load_demo_manifest, load_split
from zkai.toolchain import REPO_ROOT


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
def network(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("localnet")
    shared = Path(os.environ.get("ZKAI_DATA_DIR", REPO_ROOT / ".zkai-test"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ZKAI_") and not k.startswith("APE_")
    }
    env.update(
        {
            "ZKAI_DATA_DIR": str(data_dir),
            # Circuit keys are cached by content hash: share them with the rest of the run.
            "ZKAI_ARTIFACTS_DIR": str(shared / "artifacts"),
            "ZKAI_REDIS_URL": redis_url,
        }
    )
    rpc_port, api_port = free_port(), free_port()
    up = zkai(env, "up", "--rpc-port", str(rpc_port), "--api-port", str(api_port), "--json")
    state_file = data_dir / "localnet" / "state.json"
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        status = json.loads(up.stdout)
        yield {"env": env, "status": status, "state_file": state_file, "data_dir": data_dir}
    finally:
        down = zkai(env, "down")
        assert down.returncode == 0, down.stderr
        for record in LocalnetState.load(state_file).processes:
            stop_process(record)


def _digit(i: int) -> list[float]:
    return [float(v) for v in load_split("digits").x_test[i]]


def _token_balance(network: dict[str, Any]) -> int:
    w3 = Web3(Web3.HTTPProvider(network["status"]["endpoints"]["rpc"]))
    record = json.loads(
        (network["data_dir"] / "localnet" / "deployments" / "local.json").read_text()
    )
    token = w3.eth.contract(
        address=record["contracts"]["ZKAIToken"]["address"],
        abi=[
            {
                "name": "balanceOf",
                "type": "function",
                "stateMutability": "view",
                "inputs": [{"name": "a", "type": "address"}],
                "outputs": [{"name": "", "type": "uint256"}],
            }
        ],
    )
    return int(token.functions.balanceOf(anvil_account(DEMO_USER_INDEX).address).call())


def test_up_reports_every_service_running(network: dict[str, Any]) -> None:
    status = network["status"]
    names = {p["name"] for p in status["processes"] if p["running"]}
    assert {"anvil", "node-1", "node-2", "api"} <= names
    assert set(status["models"]) == {"digits", "breast-cancer"}
    again = zkai(network["env"], "status", "--json")
    assert json.loads(again.stdout)["running"] is True


def test_query_from_another_shell_matches_the_plaintext_model(network: dict[str, Any]) -> None:
    manifest = load_demo_manifest("digits")
    x = _digit(3)
    expected = manifest.forward(manifest.quantise_input(x))
    before = _token_balance(network)
    result = zkai(
        network["env"], "query", "--model", "digits", "--input", "-", "--json", stdin=json.dumps(x)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout)
    assert answer["outputs"] == expected
    assert answer["prediction"] == manifest.predict(expected).label
    assert answer["verified"] is True
    assert len(answer["shares"]) == 2
    assert len({s["node"] for s in answer["shares"]}) == 2
    assert all(0 < s["gas_used"] < 360_000 for s in answer["shares"])
    assert before - _token_balance(network) == answer["fee"] > 0


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("[1, 2, 3]", "takes 64 numbers, the input has 3"),
        (json.dumps([0] * 63 + ["x"]), "not a finite number"),
        (json.dumps([17] * 64), "outside the declared range"),
        ("not json", "not JSON"),
    ],
)
def test_bad_input_fails_clearly_before_paying(
    network: dict[str, Any], stdin: str, message: str
) -> None:
    before = _token_balance(network)
    result = zkai(network["env"], "query", "-m", "digits", "-i", "-", stdin=stdin)
    assert result.returncode == 1
    assert message in " ".join(result.stderr.split())
    assert _token_balance(network) == before


def test_unknown_model_is_refused(network: dict[str, Any]) -> None:
    result = zkai(
        network["env"], "query", "-m", "no-such-model", "-i", "-", stdin=json.dumps(_digit(0))
    )
    assert result.returncode == 1
    assert "unknown model 'no-such-model'" in " ".join(result.stderr.split())


def test_query_expires_and_is_refunded_when_nodes_are_down(network: dict[str, Any]) -> None:
    """Runs last in this module: it stops the nodes."""
    state = LocalnetState.load(network["state_file"])
    for record in state.processes:
        if record.name.startswith("node-"):
            stop_process(record)
            assert not pid_alive(record.pid)
    before = _token_balance(network)
    result = zkai(
        network["env"],
        "query",
        "-m",
        "digits",
        "-i",
        "-",
        "--json",
        "--deadline",
        "8",
        stdin=json.dumps(_digit(1)),
        timeout=180,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    answer = json.loads(result.stdout)
    assert answer["expired"] is True
    assert answer["refund"] == answer["fee"] > 0
    assert _token_balance(network) == before
