"""The Groth16 path of one model: constraints, a fresh setup, proving and verifying one share,
sizes, and the gas floor that `submitResult` is measured against.

`verify_gas_floor(l)` is the floor the issue measures submitResult against:
21000 + 45000 + 4 * 34000 + l * 6150 + 16 * (256 + 32 l).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zkai.bench.common import (
    JSONDict,
    Progress,
    ms,
    peak_rss_mib,
    reset_peak_rss,
    rss_mib,
    stats_ms,
)
from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.build import build_circuit_dev, circuit_info
from zkai.circuits.prove import PROOF_BYTES, WitnessPath, prove_share, verify_share_proof
from zkai.crypto.field import encode_signed_vector
from zkai.crypto.sharing import deal
from zkai.errors import ZKAIError
from zkai.models.manifest import Manifest

if TYPE_CHECKING:
    from zkai.bench.gas import GasResult

__all__ = [
    "Groth16Result",
    "groth16_model_section",
    "proof_calldata_bytes",
    "verify_gas_floor",
]

# EIP-1108 pairing check with 4 pairings, per public input an ecMul (6000) + ecAdd (150).
FLOOR_INTRINSIC, FLOOR_PAIRING_BASE = 21_000, 45_000
FLOOR_PER_PAIRING, FLOOR_PER_INPUT = 34_000, 6_150
FLOOR_PAIRINGS = 4
MEMORY_NOTE = (
    "Groth16 proves in the bench process (Python, numpy, web3, the proving "
    "key) with the witness in a Node child: its peak is the whole process's, not comparable "
    "with ezkl's per-prover-process peak"
)


def proof_calldata_bytes(public_inputs: int) -> int:
    """Bytes of the proof (8 words) and the public inputs (one word each) in calldata."""
    return PROOF_BYTES + 32 * public_inputs


def verify_gas_floor(public_inputs: int, calldata_bytes: int | None = None) -> int:
    """21000 + 45000 + 4*34000 + l*6150 + 16*(calldata bytes of proof and public inputs)."""
    data = proof_calldata_bytes(public_inputs) if calldata_bytes is None else calldata_bytes
    return (
        FLOOR_INTRINSIC
        + FLOOR_PAIRING_BASE
        + FLOOR_PAIRINGS * FLOOR_PER_PAIRING
        + public_inputs * FLOOR_PER_INPUT
        + 16 * data
    )


@dataclass(frozen=True)
class Groth16Result:
    """One model's Groth16 figures (times in ms, sizes in bytes, memory in MiB)."""

    constraints: int
    public_inputs: int
    setup_ms: float
    setup_wall_ms: float
    setup_fresh: bool
    setup_kind: str
    proving_key_bytes: int
    witness_path: str
    prove_ms: tuple[float, ...]
    prove_ms_median: float
    prove_ms_p90: float
    bench_process_peak_rss_mib: float
    bench_process_rss_before_prove_mib: float
    verify_offchain_ms_median: float
    proof_bytes: int
    verifier_runtime_bytes: int
    verifier_initcode_bytes: int
    calldata_bytes_proof_and_inputs: int
    verify_gas_floor: int

    def to_json(self, gas: GasResult | None = None) -> JSONDict:
        """The section; its gas fields from `gas` (the chain section), None without it."""
        data: JSONDict = {
            "constraints": self.constraints,
            "public_inputs": self.public_inputs,
            "setup_ms": self.setup_ms,
            "setup_wall_ms": self.setup_wall_ms,
            "setup_fresh": self.setup_fresh,
            "setup_kind": self.setup_kind,
            "proving_key_bytes": self.proving_key_bytes,
            "witness_path": self.witness_path,
            "prove_ms": list(self.prove_ms),
            "prove_ms_median": self.prove_ms_median,
            "prove_ms_p90": self.prove_ms_p90,
            "bench_process_peak_rss_mib": self.bench_process_peak_rss_mib,
            "bench_process_rss_before_prove_mib": self.bench_process_rss_before_prove_mib,
            "memory_note": MEMORY_NOTE,
            "verify_offchain_ms_median": self.verify_offchain_ms_median,
            "proof_bytes": self.proof_bytes,
            "verifier_runtime_bytes": self.verifier_runtime_bytes,
            "verifier_initcode_bytes": self.verifier_initcode_bytes,
            "calldata_bytes_proof_and_inputs": self.calldata_bytes_proof_and_inputs,
            "verify_gas_floor": self.verify_gas_floor,
        }
        if gas is None:
            return data | {
                "submit_result_gas": None,
                "bare_verifier_gas": None,
                "submit_result_gas_over_floor": None,
            }
        return data | {
            "submit_result_gas": gas.submit_result_gas,
            "bare_verifier_gas": gas.bare_verifier_gas,
            "submit_result_gas_over_floor": round(gas.submit_result_gas / self.verify_gas_floor, 4),
            "bare_verifier_gas_over_floor": round(gas.bare_verifier_gas / self.verify_gas_floor, 4),
            "chain": gas.to_json(),
        }


def groth16_model_section(
    manifest: Manifest,
    x: Sequence[float],
    artifacts_root: Path,
    *,
    repeats: int,
    witness: WitnessPath = "auto",
    say: Progress = lambda _m: None,
) -> tuple[Groth16Result, CircuitArtifacts]:
    """Setup (fresh unless already in `artifacts_root`), proving and verifying one share."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    say(f"{manifest.name}: Groth16 setup in {artifacts_root}")
    started = time.perf_counter()
    artifacts = build_circuit_dev(manifest, artifacts_root=artifacts_root)
    build_wall_s = time.perf_counter() - started
    info = circuit_info(manifest, artifacts_root=artifacts_root)
    path: str = witness
    if witness == "auto":
        path = "node" if artifacts.wasm_path is not None else "wasmi"
    secret = encode_signed_vector(manifest.quantise_input(x), what="input")
    _ = artifacts.proving_key  # load once: proving key loading is not a per-share cost
    prove_s: list[float] = []
    verify_s: list[float] = []
    reset_peak_rss()
    rss_before = rss_mib()
    say(f"{manifest.name}: proving {repeats} shares ({path} witness)")
    proof = None
    for _ in range(repeats):
        opening = deal(secret, 2, manifest.output_size)[0].opening()
        t0 = time.perf_counter()
        proof = prove_share(artifacts, opening, witness=witness)
        prove_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ok = verify_share_proof(artifacts, proof.proof, proof.public_inputs)
        verify_s.append(time.perf_counter() - t0)
        if not ok:
            raise ZKAIError(f"{manifest.name}: a fresh proof does not verify")
    peak = peak_rss_mib()
    assert proof is not None
    prove = stats_ms(prove_s)
    verify = stats_ms(verify_s)
    public_inputs = artifacts.n_public
    result = Groth16Result(
        constraints=artifacts.constraints,
        public_inputs=public_inputs,
        setup_ms=round(artifacts.setup_seconds * 1000.0, 1),
        setup_wall_ms=ms(build_wall_s),
        setup_fresh=build_wall_s > 0.5 * artifacts.setup_seconds,
        setup_kind=artifacts.setup_kind,
        proving_key_bytes=info["proving_key_bytes"],
        witness_path=path,
        prove_ms=tuple(round(s * 1000.0, 3) for s in prove_s),
        prove_ms_median=prove.median,
        prove_ms_p90=prove.p90,
        bench_process_peak_rss_mib=round(peak, 1),
        bench_process_rss_before_prove_mib=round(rss_before, 1),
        verify_offchain_ms_median=verify.median,
        proof_bytes=len(proof.proof),
        verifier_runtime_bytes=info["verifier_runtime_bytes"],
        verifier_initcode_bytes=info["verifier_initcode_bytes"],
        calldata_bytes_proof_and_inputs=proof_calldata_bytes(public_inputs),
        verify_gas_floor=verify_gas_floor(public_inputs),
    )
    return result, artifacts
