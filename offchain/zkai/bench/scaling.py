"""Scaling: prove time and verifier gas against the input size of a random linear model, and
requestQuery gas against k (extra offline nodes registered on the local network)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zkai.bench.common import JSONDict, Progress, sample_input
from zkai.bench.gas import bare_verifier_gas
from zkai.bench.groth16 import groth16_model_section
from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.build import build_circuit_dev
from zkai.circuits.prove import prove_share
from zkai.crypto.field import encode_signed_vector
from zkai.crypto.sharing import deal
from zkai.models.demo import load_demo_manifest
from zkai.models.importers import from_linear
from zkai.models.manifest import Manifest
from zkai.units import ETHER

if TYPE_CHECKING:
    from zkai.bench.network import NetworkBench

__all__ = [
    "InputScalingRow",
    "KScalingRow",
    "ScalingResult",
    "k_scaling_section",
    "random_linear_manifest",
    "scaling_gas",
    "scaling_offchain",
]


@dataclass(frozen=True)
class InputScalingRow:
    """One input size: the Groth16 figures, and the bare verifier's gas once measured."""

    inputs: int
    outputs: int
    constraints: int
    setup_ms: float
    proving_key_bytes: int
    witness_path: str
    prove_ms_median: float
    prove_ms_p90: float
    verify_offchain_ms_median: float
    verifier_runtime_bytes: int
    verify_gas_floor: int
    bare_verifier_gas: int | None = None

    def to_json(self) -> JSONDict:
        data = dataclasses.asdict(self)
        if self.bare_verifier_gas is not None:
            data["bare_verifier_over_floor"] = round(
                self.bare_verifier_gas / self.verify_gas_floor, 4
            )
        return data


@dataclass(frozen=True)
class KScalingRow:
    """requestQuery gas and calldata for one k."""

    k: int
    request_query_gas: int
    calldata_bytes: int

    def to_json(self) -> JSONDict:
        return dataclasses.asdict(self) | {
            "note": "requestQueryWithPermit; k-1 seeded payloads and one explicit share"
        }


@dataclass(frozen=True)
class ScalingResult:
    """The document's `scaling` section; `k` is None when that part failed."""

    inputs: tuple[InputScalingRow, ...]
    k: tuple[KScalingRow, ...] | None

    def to_json(self) -> JSONDict:
        return {
            "inputs": [row.to_json() for row in self.inputs],
            "k": None if self.k is None else [row.to_json() for row in self.k],
        }


def random_linear_manifest(inputs: int, outputs: int = 10, seed: int = 0) -> Manifest:
    rng = np.random.default_rng(seed + inputs)
    weights = rng.integers(-1000, 1001, size=(outputs, inputs)).astype(np.float64)
    bias = rng.integers(-1000, 1001, size=outputs).astype(np.float64)
    return from_linear(
        weights,
        bias,
        name=f"bench-linear-{inputs}",
        version=1,
        input_scale_bits=0,
        weight_scale_bits=0,
        postprocess="argmax",
        input_min=[0.0] * inputs,
        input_max=[16.0] * inputs,
    )


def scaling_offchain(
    sizes: Sequence[int], artifacts_root: Path, repeats: int, say: Progress
) -> list[tuple[InputScalingRow, CircuitArtifacts]]:
    """The Groth16 section of a random n x 10 model for each n in `sizes`."""
    rows = []
    for n in sizes:
        manifest = random_linear_manifest(n)
        x = [float(v) for v in np.random.default_rng(n).integers(0, 17, n)]
        say(f"scaling: {n} inputs x 10 outputs")
        section, artifacts = groth16_model_section(
            manifest, x, artifacts_root, repeats=repeats, say=say
        )
        row = InputScalingRow(
            inputs=n,
            outputs=10,
            constraints=section.constraints,
            setup_ms=section.setup_ms,
            proving_key_bytes=section.proving_key_bytes,
            witness_path=section.witness_path,
            prove_ms_median=section.prove_ms_median,
            prove_ms_p90=section.prove_ms_p90,
            verify_offchain_ms_median=section.verify_offchain_ms_median,
            verifier_runtime_bytes=section.verifier_runtime_bytes,
            verify_gas_floor=section.verify_gas_floor,
        )
        rows.append((row, artifacts))
    return rows


def scaling_gas(net: NetworkBench, rows: list[tuple[InputScalingRow, CircuitArtifacts]]) -> None:
    """Deploy each row's verifier and measure a verifyProof transaction; `rows` is updated in
    place, row by row, so a failure keeps the rows measured before it."""
    from zkai.localnet_state import DEPLOYER_INDEX, anvil_account

    chain = net.chain()
    deployer = anvil_account(DEPLOYER_INDEX)
    for index, (row, artifacts) in enumerate(rows):
        build = artifacts.verifier_build
        address, _ = chain.deploy(
            deployer, (build["abi"], "0x" + build["bytecode"].removeprefix("0x"))
        )
        n = artifacts.manifest.input_size
        x = [int(v) for v in np.random.default_rng(n).integers(0, 17, n)]
        opening = deal(encode_signed_vector(x, what="input"), 2, 10)[0].opening()
        proof = prove_share(artifacts, opening)
        gas, _ = bare_verifier_gas(chain, deployer, address, build, proof)
        rows[index] = (dataclasses.replace(row, bare_verifier_gas=gas), artifacts)


def k_scaling_section(net: NetworkBench, ks: Sequence[int]) -> tuple[KScalingRow, ...]:
    """requestQuery gas and calldata against k, with extra (offline) nodes registered."""
    from eth_account import Account

    from zkai.client.query import QueryClient
    from zkai.crypto.encryption import generate_keypair
    from zkai.localnet_state import DEMO_USER_INDEX, DEPLOYER_INDEX, anvil_account
    from zkai.registration import register_model

    chain = net.chain()
    deployer = anvil_account(DEPLOYER_INDEX)
    user = anvil_account(DEMO_USER_INDEX)
    manifest = load_demo_manifest("digits")
    artifacts = build_circuit_dev(manifest, artifacts_root=net.artifacts_root)
    model_ids = {}
    for k in ks:
        net.say(f"k scaling: registering digits with k = {k}")
        model_ids[k], _ = register_model(
            chain, deployer, manifest, price=k * ETHER, shares=k, artifacts=artifacts
        )
    registry = chain.contract("NodeRegistry")
    token = chain.contract("ZKAIToken")
    stake = int(chain.call(registry.functions.minStake()))
    nodes: list[str] = []
    metadata = json.dumps(
        {"name": "bench-offline", "models": sorted(model_ids.values())}, separators=(",", ":")
    )
    for i in range(max(ks)):
        node = Account.create()
        net.send_eth(chain, deployer, node.address, 10 * ETHER)
        chain.transact(deployer, token.functions.transfer(node.address, stake))
        chain.transact(node, token.functions.approve(registry.address, stake))
        key = generate_keypair().public_key
        chain.transact(
            node,
            registry.functions.register(key, metadata.replace("offline", f"offline-{i}"), stake),
        )
        nodes.append(node.address)
    client = QueryClient(chain, user)
    x = sample_input("digits")
    rows = []
    for k in ks:
        pending = client.submit(
            f"digits-k{k}", manifest, model_ids[k], x, nodes=nodes[:k], deadline_s=600
        )
        tx = chain.w3.eth.get_transaction(pending.outcome.request_tx)
        rows.append(
            KScalingRow(
                k=k,
                request_query_gas=pending.outcome.request_gas,
                calldata_bytes=len(bytes(tx["input"])),
            )
        )
        net.say(f"k = {k}: requestQuery {pending.outcome.request_gas:,} gas")
    return tuple(rows)
