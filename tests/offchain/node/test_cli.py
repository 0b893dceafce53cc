"""`zkai node` commands end to end against the test anvil: init, register, parts, update,
rotate-keys, status; no command prints a secret, and a bad argument says how to fix it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from zkai.node.chainview import ChainView
from zkai.node.keys import unlock
from zkai.wallet.keystore import Keystore

from .conftest import Network
from .localchain import MIN_STAKE, PASSPHRASE, fund


def _zkai_node(network: Network, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = network.env(ZKAI_DATA_DIR=str(data_dir))
    return subprocess.run(
        [sys.executable, "-m", "zkai.node", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def test_cli_node_lifecycle_registers_rotates_and_reports(network: Network, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "manifests").mkdir(parents=True)
    facts = _json(_zkai_node(network, data, "init", "op", "--json"))
    node = unlock(Keystore(data), "op", PASSPHRASE)
    secrets = [node.current.encryption_secret.hex(), bytes(node.operator.key).hex()[2:]]
    assert not any(s in json.dumps(facts) for s in secrets)
    assert facts["ack_signer"] == node.current.ack_signer
    fund(network.chain, facts["address"], tokens=3 * MIN_STAKE)
    part = f"{network.model_id}:0"
    registered = _json(
        _zkai_node(
            network,
            data,
            "register",
            "op",
            "--endpoint",
            "http://127.0.0.1:9",
            "--part",
            part,
            "--stake",
            "2000",
            "--json",
        )
    )
    assert registered["stake"] == 2 * MIN_STAKE
    view = ChainView(network.chain)
    assert view.hosts_part(facts["address"], network.model_id, 0)
    assert (
        _zkai_node(network, data, "update", "op", "--endpoint", "https://n.example").returncode == 0
    )
    assert view.node(facts["address"]).endpoint == "https://n.example"
    rotated = _json(_zkai_node(network, data, "rotate-keys", "op", "--json"))
    assert view.node(facts["address"]).ack_signer == rotated["ack_signer"]
    assert _zkai_node(network, data, "parts", "remove", "op", part).returncode == 0
    assert not view.hosts_part(facts["address"], network.model_id, 0)
    status = _zkai_node(network, data, "status", "op", "--json")
    assert status.returncode == 1  # registered, but the service is not running
    shown = json.loads(status.stdout)
    assert shown["registered"]
    assert shown["key_generations"] == 2
    assert shown["parts"] == []
    assert not any(s in status.stdout for s in secrets)


def test_cli_bad_part_says_the_form(network: Network, tmp_path: Path) -> None:
    result = _zkai_node(
        network, tmp_path, "register", "nobody", "--endpoint", "http://x", "--part", "oops"
    )
    assert result.returncode != 0
    assert "MODEL:PART" in result.stderr
