"""One model's comparisons: ezkl against the Groth16 part proofs (proving, gas, key size), and
proving against the plaintext model and the in-process private query; and the language model's
(`lm_ratios`): prover time per token against ezkl and against the plaintext model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from zkai.bench.circuits import PartResult
from zkai.bench.common import JSONDict, ratio
from zkai.bench.ezkl_section import EzklSection
from zkai.bench.plaintext import PlaintextResult

if TYPE_CHECKING:
    from zkai.bench.lm_circuits import LmCircuitsResult
    from zkai.bench.lm_e2e import LmE2EResult
    from zkai.bench.lm_ezkl import LmEzklResult
    from zkai.bench.lm_plaintext import LmPlaintextResult

__all__ = ["LmRatios", "ModelRatios", "lm_ratios", "model_ratios"]


@dataclass(frozen=True)
class ModelRatios:
    """Each None when a side is unknown (ezkl skipped or failed, no chain measurement).

    Groth16 proving of a query = the sum of its parts' proof medians (one node per part; the k
    nodes of a part prove in parallel, each its own assignment)."""

    groth16_prove_ms_all_parts: float
    ezkl_prove_over_groth16_prove: float | None
    ezkl_verify_gas_over_claim_gas: float | None
    ezkl_verify_gas_over_verify_proof_floor: float | None
    ezkl_proving_key_bytes_over_groth16: float | None
    groth16_prove_over_evaluate: float | None
    run_local_over_evaluate: float | None

    def to_json(self) -> JSONDict:
        return asdict(self)


def model_ratios(
    parts: Sequence[PartResult],
    plaintext: PlaintextResult | None,
    ezkl: EzklSection | None,
    claim_gas: int | None,
    floor_gas: int | None,
) -> ModelRatios:
    baseline = None if ezkl is None else ezkl.baseline
    ezkl_prove = None if baseline is None else baseline.prove_ms_median
    ezkl_verify_gas = None if baseline is None else baseline.verify_gas
    ezkl_pk_bytes = None if baseline is None else baseline.pk_bytes
    prove_ms = round(sum(p.prove_ms_median for p in parts), 3)
    pk_bytes = sum(p.proving_key_bytes for p in parts)
    evaluate_us = None if plaintext is None else plaintext.evaluate_us
    return ModelRatios(
        groth16_prove_ms_all_parts=prove_ms,
        ezkl_prove_over_groth16_prove=ratio(ezkl_prove, prove_ms, 1),
        ezkl_verify_gas_over_claim_gas=ratio(ezkl_verify_gas, claim_gas),
        ezkl_verify_gas_over_verify_proof_floor=ratio(ezkl_verify_gas, floor_gas),
        ezkl_proving_key_bytes_over_groth16=ratio(ezkl_pk_bytes, pk_bytes),
        groth16_prove_over_evaluate=ratio(prove_ms * 1000.0, evaluate_us, 0),
        run_local_over_evaluate=None if plaintext is None else plaintext.run_local_over_evaluate,
    )


@dataclass(frozen=True)
class LmRatios:
    """The language model's comparisons; each None when a side was not measured.

    Our prover time per token is derived from the measured chunk proofs (one node per part,
    summed over the parts; `lm_circuits`); ezkl's is one proof of one token's forward pass at its
    best configuration (the lower prove-time median of its defaults and its best settings)."""

    prover_ms_per_token: float | None
    ezkl_prove_ms_per_token: float | None
    ezkl_over_prover_per_token: float | None
    prover_ms_per_token_over_plaintext: float | None
    e2e_ms_per_token_over_plaintext: float | None
    gas_per_query_derived: int | None = None
    gas_per_token_derived: int | None = None

    def to_json(self) -> JSONDict:
        data = asdict(self)
        data["gas_derived_note"] = (
            "derived, not measured on tiny-lm: the gas section's requestQuery of 2 parts (k = 2) "
            "+ k x (chunk claims per node, summed over the parts) x its median claim gas (the "
            "same 8-input verifier form); the e2e section measures the real figure"
        )
        return data


def lm_ratios(
    plaintext: LmPlaintextResult | None,
    circuits: LmCircuitsResult | None,
    ezkl: LmEzklResult | None,
    e2e: LmE2EResult | None,
    gas: JSONDict | None = None,
) -> LmRatios:
    prover = None if circuits is None else circuits.generation.prove_ms_per_token
    ezkl_ms = None if ezkl is None else ezkl.best_prove_ms
    plain = None if plaintext is None else plaintext.quantised_ms_per_token
    rate = None if e2e is None else e2e.to_json()["tokens_per_s_median"]
    query_gas = None
    if (
        circuits is not None
        and gas
        and gas.get("claim_gas_median")
        and gas.get("request_query_gas_2_parts")
    ):
        g = circuits.generation
        claims = g.shares * sum(p.chunks for p in g.parts)
        query_gas = int(gas["request_query_gas_2_parts"]) + claims * int(gas["claim_gas_median"])
    return LmRatios(
        prover_ms_per_token=prover,
        ezkl_prove_ms_per_token=ezkl_ms,
        ezkl_over_prover_per_token=ratio(ezkl_ms, prover, 1),
        prover_ms_per_token_over_plaintext=ratio(prover, plain, 1),
        e2e_ms_per_token_over_plaintext=None if not rate else ratio(1000.0 / rate, plain, 1),
        gas_per_query_derived=query_gas,
        gas_per_token_derived=None
        if query_gas is None or circuits is None
        else query_gas // circuits.generation.new_tokens,
    )
