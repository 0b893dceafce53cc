"""The foundation works: the offline compiler, OpenZeppelin imports, and both EVMs."""

from __future__ import annotations

import json
import subprocess

import pytest
import solcx

from zkai.devservices import redis_reachable, start_redis
from zkai.toolchain import REPO_ROOT, SOLC_VERSION, solc_path

SUPPLY_CAP = 10**9 * 10**18


def _deploy_token_and_transfer(project, accounts):  # type: ignore[no-untyped-def]
    admin, holder = accounts[0], accounts[1]
    token = project.ZKAIToken.deploy(admin, SUPPLY_CAP, admin, 1000, sender=admin)
    token.transfer(holder, 250, sender=admin)
    assert token.balanceOf(holder) == 250
    assert token.balanceOf(admin) == 750
    assert token.name() == "ZKAI Token"
    return token


def test_token_deploys_on_anvil(project, accounts, chain):  # type: ignore[no-untyped-def]
    assert chain.provider.name == "foundry", "this test belongs to the anvil pass"
    _deploy_token_and_transfer(project, accounts)


@pytest.mark.pyevm
def test_token_deploys_on_in_process_evm(project, accounts, chain):  # type: ignore[no-untyped-def]
    assert chain.provider.name == "test", "this test belongs to the in-process EVM pass"
    _deploy_token_and_transfer(project, accounts)


def test_solc_adapter_reports_pinned_version() -> None:
    version = solcx.wrapper.get_solc_version(solc_path())
    assert str(version) == SOLC_VERSION


def test_solc_adapter_compiles_openzeppelin_import_through_solcx() -> None:
    source = (
        'pragma solidity ^0.8.24; import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";'
        " contract UsesMath { function m(uint a, uint b) external pure returns (uint)"
        " { return Math.max(a, b); } }"
    )
    out = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {"UsesMath.sol": {"content": source}},
            "settings": {
                "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
                "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
            },
        },
        base_path=str(REPO_ROOT),
        allow_paths=[str(REPO_ROOT)],
        solc_binary=solc_path(),
    )
    contract = out["contracts"]["UsesMath.sol"]["UsesMath"]
    assert contract["abi"][0]["name"] == "m"
    assert len(contract["evm"]["bytecode"]["object"]) > 100


def test_solc_adapter_refuses_unsupported_options_clearly() -> None:
    proc = subprocess.run(
        [str(solc_path()), "--combined-json", "abi", "x.sol"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "unsupported option --combined-json" in proc.stderr
    assert "--standard-json" in proc.stderr


def test_solc_adapter_reports_missing_import_as_compiler_error() -> None:
    request = {
        "language": "Solidity",
        "sources": {"A.sol": {"content": 'import "./does/not/exist.sol"; contract A {}'}},
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    proc = subprocess.run(
        [str(solc_path()), "--standard-json", "--base-path", str(REPO_ROOT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    errors = json.loads(proc.stdout)["errors"]
    assert any("does/not/exist.sol" in e["formattedMessage"] for e in errors)


def test_redis_fixture_answers(redis_url: str) -> None:
    assert redis_reachable(redis_url)


def test_private_redis_server_starts_restarts_and_stops() -> None:
    server = start_redis()
    try:
        assert redis_reachable(server.url)
        server.restart()
        assert redis_reachable(server.url)
    finally:
        server.stop()
    assert not redis_reachable(server.url, timeout=0.3)
