"""The ezkl baseline proves a tiny linear model; ezkl and the deployed Solidity verifier accept
exactly that proof, and reject it once tampered with."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from eth_abi.abi import decode, encode
from web3 import Web3

from zkai.bench.ezkl_baseline import EzklResult, run_ezkl_baseline, verify_proof_off_chain
from zkai.bench.ezkl_evm import call_verifier
from zkai.devservices import free_port
from zkai.errors import BenchmarkError
from zkai.toolchain import require_tool

pytestmark = pytest.mark.slow

WEIGHTS = np.array([[3, -2, 0, 5], [-1, 4, 2, -3]])
BIAS = np.array([7, -5])
SAMPLE_INPUT = np.array([1, 16, 0, 9])
# BN254 scalar field: ezkl's instances are elements of it.
FIELD_MODULUS = 21888242871839275222246405516453880296056614407702163490026609569061245014017


@pytest.fixture(scope="module")
def anvil_url() -> Iterator[str]:
    """A private anvil on a free port, stopped after the module."""
    port = free_port()
    process = subprocess.Popen(
        [require_tool("anvil"), "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while not Web3(Web3.HTTPProvider(url)).is_connected():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"anvil did not start on port {port}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, anvil_url: str) -> EzklResult:
    return run_ezkl_baseline(
        WEIGHTS,
        BIAS,
        SAMPLE_INPUT,
        tmp_path_factory.mktemp("ezkl"),
        repeats=1,
        deploy_rpc_url=anvil_url,
    )


def _tampered_proof_file(source: Path, target: Path, *, instance: bool) -> Path:
    """A copy of an ezkl proof file with one proof byte flipped, or one public output changed."""
    proof = json.loads(source.read_text())
    if instance:
        # Instances are little-endian hex field elements; the last one is the last output.
        last = proof["instances"][0][-1]
        value = (int.from_bytes(bytes.fromhex(last), "little") + 1) % FIELD_MODULUS
        proof["instances"][0][-1] = value.to_bytes(32, "little").hex()
    else:
        raw = bytearray(bytes.fromhex(proof["hex_proof"].removeprefix("0x")))
        raw[len(raw) // 2] ^= 0x01
        proof["hex_proof"] = "0x" + raw.hex()
        proof["proof"] = list(raw)
    target.write_text(json.dumps(proof))
    return target


def _deployed(baseline: EzklResult) -> tuple[str, bytes]:
    """The deployed verifier's address and the calldata ezkl encoded for the proof."""
    address, calldata = baseline.verifier_address, baseline.artifacts.calldata
    if address is None or calldata is None:
        pytest.fail("the baseline ran without deploying its verifier")
    return address, calldata.read_bytes()


def _calldata_parts(calldata: bytes) -> tuple[bytes, bytes, list[int]]:
    selector = calldata[:4]
    proof, instances = decode(["bytes", "uint256[]"], calldata[4:])
    return selector, proof, list(instances)


def _encode_calldata(selector: bytes, proof: bytes, instances: list[int]) -> bytes:
    return selector + encode(["bytes", "uint256[]"], [proof, instances])


def test_run_ezkl_baseline_proves_the_linear_model(baseline: EzklResult) -> None:
    assert baseline.output_values == tuple(float(v) for v in WEIGHTS @ SAMPLE_INPUT + BIAS)
    assert (baseline.inputs, baseline.outputs) == (4, 2)
    assert (baseline.input_scale, baseline.param_scale) == (0, 0)
    assert baseline.ezkl_version == "23.0.5"
    assert baseline.logrows > 0
    assert baseline.num_rows > 0
    assert len(baseline.prove_ms) == 1
    assert baseline.prove_ms_median == baseline.prove_ms_p90 == baseline.prove_ms[0] > 0
    assert min(baseline.prove_peak_rss_mib, baseline.pk_bytes, baseline.proof_bytes) > 0
    assert json.loads(json.dumps(baseline.to_json_dict()))["logrows"] == baseline.logrows


def test_verify_proof_off_chain_accepts_the_proof(baseline: EzklResult) -> None:
    assert verify_proof_off_chain(baseline.artifacts)


@pytest.mark.parametrize("instance", [False, True], ids=["proof-byte", "public-output"])
def test_verify_proof_off_chain_rejects_a_tampered_proof(
    baseline: EzklResult, tmp_path: Path, instance: bool
) -> None:
    tampered = _tampered_proof_file(
        baseline.artifacts.proof, tmp_path / "tampered.json", instance=instance
    )
    assert not verify_proof_off_chain(baseline.artifacts, tampered, workdir=tmp_path)


def test_deployed_verifier_accepts_the_proof(baseline: EzklResult, anvil_url: str) -> None:
    address, calldata = _deployed(baseline)
    assert (baseline.verifier_deploy_gas or 0) > 0
    assert (baseline.verify_gas or 0) > 21_000
    assert call_verifier(anvil_url, address, calldata)


@pytest.mark.parametrize("offset", [0, 0.5, -1], ids=["first", "middle", "last"])
def test_deployed_verifier_rejects_a_tampered_proof(
    baseline: EzklResult, anvil_url: str, offset: float
) -> None:
    address, calldata = _deployed(baseline)
    selector, proof, instances = _calldata_parts(calldata)
    flipped = bytearray(proof)
    flipped[int(offset * len(proof)) if offset >= 0 else len(proof) - 1] ^= 0x01
    tampered = bytes(flipped)
    assert not call_verifier(anvil_url, address, _encode_calldata(selector, tampered, instances))


def test_deployed_verifier_rejects_a_changed_public_output(
    baseline: EzklResult, anvil_url: str
) -> None:
    address, calldata = _deployed(baseline)
    selector, proof, instances = _calldata_parts(calldata)
    instances[-1] = (instances[-1] + 1) % FIELD_MODULUS
    assert not call_verifier(anvil_url, address, _encode_calldata(selector, proof, instances))


def test_run_ezkl_baseline_rejects_mismatched_shapes(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="bias must have shape"):
        run_ezkl_baseline(WEIGHTS, BIAS[:1], SAMPLE_INPUT, tmp_path)
