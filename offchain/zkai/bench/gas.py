"""On-chain gas of one model on the local network: `submitResult` from real queries (with the
verifier's share from the call trace) and the bare generated verifier's `verifyProof`."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from zkai.bench.common import JSONDict, sample_input
from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.prove import proof_words, prove_share
from zkai.crypto.field import encode_signed_vector
from zkai.crypto.sharing import deal
from zkai.errors import ZKAIError
from zkai.models.demo import load_split

if TYPE_CHECKING:
    from zkai.bench.network import NetworkBench

__all__ = ["GasResult", "SubmitResultBreakdown", "bare_verifier_gas", "gas_section"]


@dataclass(frozen=True)
class SubmitResultBreakdown:
    """Where the gas of the last `submitResult` went."""

    tx: str
    total: int
    verifier_frame: int | None
    intrinsic_and_calldata: int
    calldata_bytes: int
    rest_market_and_adapter: int | None


@dataclass(frozen=True)
class GasResult:
    """submitResult gas (the steady-state median, the first of each node's, the samples), the
    queries' requestQuery gas, and the bare verifier's transaction, estimate and deployment."""

    submit_result_gas: int
    submit_result_gas_first_of_node: tuple[int, ...]
    submit_result_gas_samples: tuple[int, ...]
    request_query_gas: tuple[int, ...]
    bare_verifier_gas: int
    bare_verifier_estimate_gas: int
    verifier_deploy_gas: int
    submit_result_breakdown: SubmitResultBreakdown

    def to_json(self) -> JSONDict:
        data = asdict(self)
        for key in (
            "submit_result_gas_first_of_node",
            "submit_result_gas_samples",
            "request_query_gas",
        ):
            data[key] = list(data[key])
        return data


def _find_verifier_frame(frame: JSONDict) -> JSONDict | None:
    """The call frame that calls the pairing precompile (0x...08): the Groth16 verifier."""
    calls = frame.get("calls", []) or []
    if any(str(c.get("to", "")).lower().endswith("0" * 38 + "08") for c in calls):
        return frame
    for call in calls:
        found = _find_verifier_frame(call)
        if found is not None:
            return found
    return None


def _intrinsic_gas(data: bytes) -> int:
    zeros = data.count(0)
    return 21_000 + 4 * zeros + 16 * (len(data) - zeros)


def bare_verifier_gas(
    chain: Any, account: Any, address: str, build: JSONDict, proof: Any
) -> tuple[int, int]:
    """(gas used, gas estimated) of a verifyProof transaction to the verifier at `address`."""
    w = proof_words(proof.proof)
    contract = chain.w3.eth.contract(address=address, abi=build["abi"])
    fn = contract.functions.verifyProof(
        [w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]], list(proof.public_inputs)
    )
    if not chain.call(fn):
        raise ZKAIError("the deployed verifier rejects a valid proof")
    estimate = chain.estimate_gas(account, fn)
    receipt = chain.transact(account, fn)
    return int(receipt["gasUsed"]), int(estimate)


def gas_section(
    net: NetworkBench, name: str, artifacts: CircuitArtifacts, queries: int
) -> GasResult:
    """submitResult gas of real queries (first and steady state) and the bare verifier."""
    from zkai.localnet_state import DEMO_USER_INDEX, DEPLOYER_INDEX, anvil_account

    chain = net.chain()
    user = anvil_account(DEMO_USER_INDEX)
    split = load_split(name)
    outcomes = []
    for i in range(queries):
        net.say(f"{name}: query {i + 1}/{queries} on the local network (gas)")
        outcomes.append(net.query_once(chain, user, name, [float(v) for v in split.x_test[i]]))
    first = [s.gas_used for s in outcomes[0].shares]
    steady = [s.gas_used for o in outcomes[1:] for s in o.shares] or first
    last_tx = outcomes[-1].shares[0].tx_hash
    frame = _find_verifier_frame(net.trace(chain, last_tx))
    verifier_frame = int(frame["gasUsed"], 16) if frame else None
    tx = chain.w3.eth.get_transaction(last_tx)
    calldata = bytes(tx["input"])
    intrinsic = _intrinsic_gas(calldata)

    # The bare verifier: deploy the generated verifier and send verifyProof as a transaction.
    deployer = anvil_account(DEPLOYER_INDEX)
    build = artifacts.verifier_build
    address, deploy_receipt = chain.deploy(
        deployer, (build["abi"], "0x" + build["bytecode"].removeprefix("0x"))
    )
    manifest = artifacts.manifest
    opening = deal(
        encode_signed_vector(manifest.quantise_input(sample_input(name)), what="input"),
        2,
        manifest.output_size,
    )[0].opening()
    proof = prove_share(artifacts, opening)
    bare_tx, bare_estimate = bare_verifier_gas(chain, deployer, address, build, proof)
    total = int(outcomes[-1].shares[0].gas_used)
    return GasResult(
        submit_result_gas=int(statistics.median(steady)),
        submit_result_gas_first_of_node=tuple(first),
        submit_result_gas_samples=tuple(steady),
        request_query_gas=tuple(o.request_gas for o in outcomes),
        bare_verifier_gas=bare_tx,
        bare_verifier_estimate_gas=bare_estimate,
        verifier_deploy_gas=int(deploy_receipt["gasUsed"]),
        submit_result_breakdown=SubmitResultBreakdown(
            tx=last_tx,
            total=total,
            verifier_frame=verifier_frame,
            intrinsic_and_calldata=intrinsic,
            calldata_bytes=len(calldata),
            rest_market_and_adapter=None
            if verifier_frame is None
            else total - verifier_frame - intrinsic,
        ),
    )
