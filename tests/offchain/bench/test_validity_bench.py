"""`zkai bench`'s validity section (issue 17) on tiny synthetic ranges rules (4 and 6 values) and
a small decoder's tokens rule, its gas on a private anvil with the VerifierFactory: the JSON's
shape, positive and consistent numbers, and the targets read from it. No timing assertions
beyond signs and order."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from web3 import Web3

from tests.offchain.bench.lm_fixture import small_decoder
from zkai.bench.targets import targets_section
from zkai.bench.validity import (
    LM_NOTE,
    ChainTarget,
    ValidityResult,
    lm_case,
    synthetic_case,
    validity_section,
)
from zkai.chain.client import ChainClient, Deployment, load_abi
from zkai.devservices import free_port
from zkai.localnet_state import anvil_account
from zkai.toolchain import require_tool

TINY = synthetic_case(4, mask_size=2)
WIDER = synthetic_case(6, mask_size=2)
MICRO = small_decoder(d=4, heads=1, hidden=8, context=6, forbidden="h.", name="micro-lm")
LM = lm_case(MICRO, "a")


@pytest.fixture(scope="module")
def target() -> Iterator[ChainTarget]:
    """A private anvil with only the VerifierFactory deployed."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    anvil = subprocess.Popen(
        [require_tool("anvil"), "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        w3 = Web3(Web3.HTTPProvider(url))
        deadline = time.monotonic() + 30
        while not w3.is_connected():
            assert anvil.poll() is None, "anvil exited"
            assert time.monotonic() < deadline, "anvil did not start"
            time.sleep(0.1)
        owner = anvil_account(0)
        bare = ChainClient(url, Deployment("local", w3.eth.chain_id, {}))
        factory, _ = bare.deploy(owner, "VerifierFactory")
        chain = ChainClient(url, Deployment("local", w3.eth.chain_id, {"VerifierFactory": factory}))
        yield ChainTarget(chain, owner)
    finally:
        anvil.terminate()
        anvil.wait(timeout=10)


@pytest.fixture(scope="module")
def measured(target: ChainTarget) -> ValidityResult:
    messages: list[str] = []
    return validity_section(
        [TINY, LM],
        [WIDER, TINY],
        repeats=2,
        snarkjs_repeats=1,
        target=target,
        say=messages.append,
        policy=MICRO,
        policy_sizes=(0, 4, 8),
    )


def test_the_section_measures_a_tiny_rule(measured: ValidityResult, target: ChainTarget) -> None:
    document: dict[str, Any] = json.loads(json.dumps(measured.to_json()))
    assert document["errors"] == {}
    assert document["shares"] == 2
    assert document["repeats"] == 2
    lm = document["language_model"]
    assert (lm["model"], lm["rule"], lm["measured"], lm["note"]) == (
        "micro-lm",
        "tokens",
        True,
        LM_NOTE,
    )
    # forbidding more tokens removes them from the one-hot: fewer constraints
    policy = lm["policy_growth"]
    assert [(r["forbidden_tokens"], r["allowed_tokens"]) for r in policy] == [
        (0, 11),
        (4, 7),
        (8, 3),
    ]
    assert policy[0]["constraints"] > policy[1]["constraints"] > policy[2]["constraints"]
    micro = document["models"]["micro-lm"]
    assert micro["proofs_verified"] is True
    assert micro["input_size"] == 4
    assert micro["gas"]["verify_proof_gas"] > 21_000
    assert "warm-up" in document["timing_note"]
    tiny = document["models"][TINY.name]
    assert tiny["input_size"] == 4
    assert tiny["mask_size"] == 2
    assert tiny["public_inputs"] == 5
    assert tiny["constraints"] > 0
    assert tiny["proofs_verified"] is True
    assert len(tiny["python_prove_ms"]["samples"]) == 2  # the warm-up call is not counted
    assert 0 < tiny["python_prove_ms"]["min"] <= tiny["python_prove_ms_median"]
    assert tiny["verify_offchain_ms_median"] > 0
    [full], [wall] = tiny["snarkjs_fullprove_s"], tiny["snarkjs_wall_s"]
    assert 0 < full < wall  # the Node process's wall time includes its start-up
    assert (tiny["setup_s"] is None) == tiny["setup_cached"]
    assert (tiny["setup_s"] or tiny["setup_s_recorded_at_build"]) > 0
    gas = tiny["gas"]
    assert 21_000 < gas["verify_proof_gas"] < 1_000_000
    # the EIP-1108 formula is the call's floor; the verifier adds its own work
    assert gas["verify_proof_formula_gas"] < gas["verify_proof_gas"]
    assert gas["verify_proof_calldata_bytes"] > 32 * (8 + 5)
    assert gas["verifier_deployed_now"] is True
    assert gas["verifier_deploy_gas"] > 0
    # the verifier it measured on is the factory's for this circuit's key
    chain = target.chain
    factory = chain.contract("VerifierFactory")
    assert (
        chain.call(factory.functions.verifierOf(bytes.fromhex(tiny["key_hash"][2:])))
        == (gas["verifier"])
    )
    verifier = chain.w3.eth.contract(address=gas["verifier"], abi=load_abi("Groth16Verifier"))
    assert chain.call(verifier.functions.publicInputCount()) == 5


def test_growth_rows_are_ordered_and_constraints_grow(measured: ValidityResult) -> None:
    growth = measured.to_json()["growth"]
    rows = growth["rows"]
    assert [r["input_size"] for r in rows] == [4, 6]
    assert rows[0]["constraints"] < rows[1]["constraints"]
    assert growth["constraints_per_input_value"] > 0
    assert growth["between_input_sizes"] == [4, 6]
    for row in rows:  # snarkjs for the smallest and the largest
        assert row["python_prove_ms_median"] > 0
        assert row["snarkjs_fullprove_s_median"] > 0
        assert row["proofs_verified"] is True


def test_without_a_chain_there_is_no_gas(measured: ValidityResult) -> None:
    result = validity_section([TINY], [], repeats=1, snarkjs_repeats=0, target=None, say=print)
    document = result.to_json()
    tiny = document["models"][TINY.name]
    assert tiny["gas"] is None
    assert document["gas_note"]
    assert tiny["snarkjs_fullprove_s_median"] is None
    assert tiny["setup_cached"] is True  # built for `measured`


def test_targets_read_the_validity_section(measured: ValidityResult) -> None:
    section = measured.to_json()
    tiny = section["models"][TINY.name]
    # the targets are judged on digits: present the tiny rule's figures under that name
    document = {"validity": {**section, "models": {"digits": tiny}}}
    targets = targets_section(document).to_json()
    prove, gas = targets["validity_snarkjs_prove_s"], targets["validity_verify_gas"]
    assert prove["measured"] == tiny["snarkjs_fullprove_s_median"]
    assert prove["met"] is (prove["measured"] < 2.0)
    assert prove["measured_on"] == "digits"
    assert "not measured" in prove["note"]
    assert prove["snarkjs_wall_s_median"] == tiny["snarkjs_wall_s_median"]
    assert gas["measured"] == tiny["gas"]["verify_proof_gas"]
    assert gas["met"] is (gas["measured"] < 300_000)
    # with the language model measured, the targets are judged on it
    on_lm = targets_section({"validity": section}).to_json()["validity_snarkjs_prove_s"]
    assert on_lm["measured_on"] == "micro-lm"
    one = section["models"]["micro-lm"]["snarkjs_fullprove_s_median"]
    assert on_lm["snarkjs_fullprove_s_median"] == one
    assert on_lm["measured"] == round(32 * one, 4)  # a 32-token prompt, token by token
    empty = targets_section({}).to_json()
    assert empty["validity_snarkjs_prove_s"]["measured"] is None
    assert empty["validity_verify_gas"]["met"] is None
