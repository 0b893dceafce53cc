"""One model's comparisons: ezkl against Groth16 (proving, gas, key size) and Groth16 proving
against plaintext inference."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from zkai.bench.common import JSONDict, ratio
from zkai.bench.ezkl_section import EzklSection
from zkai.bench.gas import GasResult
from zkai.bench.groth16 import Groth16Result
from zkai.bench.plaintext import PlaintextResult

__all__ = ["ModelRatios", "model_ratios"]


@dataclass(frozen=True)
class ModelRatios:
    """Each None when a side is unknown (ezkl skipped or failed, no chain measurement)."""

    ezkl_prove_over_groth16_prove: float | None
    ezkl_verify_gas_over_groth16_submit_result_gas: float | None
    ezkl_verify_gas_over_groth16_bare_verifier_gas: float | None
    ezkl_proving_key_bytes_over_groth16: float | None
    groth16_prove_over_numpy_float: float | None
    groth16_prove_over_integer_forward: float | None

    def to_json(self) -> JSONDict:
        return asdict(self)


def model_ratios(
    groth16: Groth16Result,
    gas: GasResult | None,
    plaintext: PlaintextResult,
    ezkl: EzklSection | None,
) -> ModelRatios:
    baseline = None if ezkl is None else ezkl.baseline
    ezkl_prove = None if baseline is None else baseline.prove_ms_median
    ezkl_verify_gas = None if baseline is None else baseline.verify_gas
    ezkl_pk_bytes = None if baseline is None else baseline.pk_bytes
    prove_us = groth16.prove_ms_median * 1000.0
    return ModelRatios(
        ezkl_prove_over_groth16_prove=ratio(ezkl_prove, groth16.prove_ms_median, 1),
        ezkl_verify_gas_over_groth16_submit_result_gas=ratio(
            ezkl_verify_gas, None if gas is None else gas.submit_result_gas
        ),
        ezkl_verify_gas_over_groth16_bare_verifier_gas=ratio(
            ezkl_verify_gas, None if gas is None else gas.bare_verifier_gas
        ),
        ezkl_proving_key_bytes_over_groth16=ratio(ezkl_pk_bytes, groth16.proving_key_bytes),
        groth16_prove_over_numpy_float=ratio(prove_us, plaintext.numpy_float_us, 0),
        groth16_prove_over_integer_forward=ratio(prove_us, plaintext.integer_forward_us, 0),
    )
