"""scripts/deploy.py: deploys and wires everything, records it, and re-runs without redeploying."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.contracts.conftest import SLASH_AMOUNT
from zkai.toolchain import load_module_from_path

deploy_script = load_module_from_path(
    "zkai_deploy_script", Path(__file__).resolve().parents[2] / "scripts" / "deploy.py"
)
NAMES = [
    "ContributorRewards",
    "ModelRegistry",
    "NodeRegistry",
    "QueryMarket",
    "VerifierFactory",
    "ZKAIToken",
]


def _check_wiring(contracts, deployer):
    market, registry = contracts["QueryMarket"], contracts["NodeRegistry"]
    assert registry.isSlasher(market)
    assert market.rewardsPool() == contracts["ContributorRewards"].address
    assert market.token() == contracts["ZKAIToken"].address
    assert registry.stakingToken() == contracts["ZKAIToken"].address
    assert market.slashAmount() == SLASH_AMOUNT
    assert market.owner() == deployer.address
    assert contracts["ModelRegistry"].verifierFactory() == contracts["VerifierFactory"].address
    assert market.minProofWindowFloor() == 60
    assert market.challengeWindow() == 3600
    assert market.unbondingMargin() == 3600


def _deploy_and_check(tmp_path, owner, chain):
    path = tmp_path / "net.json"
    contracts = deploy_script.deploy(owner, path, deploy_script.Parameters())
    record = json.loads(path.read_text())
    assert record["chain_id"] == chain.chain_id
    assert sorted(record["contracts"]) == NAMES
    for name, entry in record["contracts"].items():
        assert entry["address"] == contracts[name].address
        assert entry["block"] <= chain.blocks.head.number
    _check_wiring(contracts, owner)
    return path, record


def test_deploy_rerun_reuses_everything(tmp_path, owner, chain, capsys):
    path, record = _deploy_and_check(tmp_path, owner, chain)
    capsys.readouterr()
    again = deploy_script.deploy(owner, path, deploy_script.Parameters())
    out = capsys.readouterr().out
    assert out.count("reusing") == 6
    assert "deployed" not in out
    assert {name: c.address for name, c in again.items()} == {
        name: entry["address"] for name, entry in record["contracts"].items()
    }


def test_deploy_missing_code_redeploys_it_and_dependents(tmp_path, owner, chain, capsys):
    path, record = _deploy_and_check(tmp_path, owner, chain)
    chain.provider.make_request(
        "anvil_setCode", [record["contracts"]["NodeRegistry"]["address"], "0x"]
    )
    capsys.readouterr()
    contracts = deploy_script.deploy(owner, path, deploy_script.Parameters())
    out = capsys.readouterr().out
    assert "replacing NodeRegistry" in out
    assert "replacing QueryMarket" in out
    assert "NodeRegistry redeployed" in out
    assert "reusing   ZKAIToken" in out
    updated = json.loads(path.read_text())["contracts"]
    assert updated["ZKAIToken"] == record["contracts"]["ZKAIToken"]
    assert updated["QueryMarket"]["address"] != record["contracts"]["QueryMarket"]["address"]
    _check_wiring(contracts, owner)


def test_deploy_record_of_another_chain_starts_anew(tmp_path, owner, chain):
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"chain_id": 1, "contracts": {"ZKAIToken": {"address": "0x1"}}}))
    _deploy_and_check(tmp_path, owner, chain)


@pytest.mark.pyevm
def test_deploy_on_in_process_evm(tmp_path, owner, chain):
    assert chain.provider.name == "test"
    _deploy_and_check(tmp_path, owner, chain)


def test_deploy_env_overrides_windows(tmp_path, owner, monkeypatch):
    monkeypatch.setenv("ZKAI_MIN_PROOF_WINDOW_FLOOR", "90")
    monkeypatch.setenv("ZKAI_CHALLENGE_WINDOW", "7200")
    monkeypatch.setenv("ZKAI_UNBONDING_MARGIN", "600")
    params = deploy_script.Parameters.from_env()
    contracts = deploy_script.deploy(owner, tmp_path / "env.json", params)
    market = contracts["QueryMarket"]
    assert (market.minProofWindowFloor(), market.challengeWindow(), market.unbondingMargin()) == (
        90,
        7200,
        600,
    )
    record = json.loads((tmp_path / "env.json").read_text())
    assert record["parameters"]["challenge_window"] == 7200
    assert record["contracts"]["VerifierFactory"]["address"] == (
        contracts["VerifierFactory"].address
    )


def test_deploy_new_factory_redeploys_model_registry_and_market(tmp_path, owner, chain, capsys):
    path, record = _deploy_and_check(tmp_path, owner, chain)
    chain.provider.make_request(
        "anvil_setCode", [record["contracts"]["VerifierFactory"]["address"], "0x"]
    )
    capsys.readouterr()
    contracts = deploy_script.deploy(owner, path, deploy_script.Parameters())
    out = capsys.readouterr().out
    assert "replacing VerifierFactory" in out
    assert "replacing ModelRegistry" in out
    assert "replacing QueryMarket" in out
    assert "reusing   NodeRegistry" in out
    _check_wiring(contracts, owner)
