"""The baselines without proofs, per demo model: the plaintext quantised model
(`Manifest.evaluate`, exact integers: what the network must reproduce) and the whole private query
in one process with no chain and no proofs (`zkai.inference.run_local`: the user's session
dealing, sealing, signing and checking, played nodes opening and answering), "private without
chain". Each run_local answer is checked to equal the plaintext model."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from zkai.bench.common import JSONDict, stats_ms, time_call
from zkai.errors import BenchmarkError
from zkai.inference import run_local
from zkai.models.manifest import Manifest

__all__ = ["PlaintextResult", "plaintext_section"]

NOTE = (
    "evaluate = Manifest.evaluate on the quantised input (Python integers, every block and user "
    "step); run_local = one private query in-process (k = 2 played nodes per part, sealed "
    "payloads, EIP-712 Rounds and Acks, every answer checked), no chain and no proofs"
)


@dataclass(frozen=True)
class PlaintextResult:
    """Microseconds per plaintext evaluation; milliseconds per in-process private query."""

    evaluate_us: float
    run_local_ms_median: float
    run_local_ms_p90: float
    run_local_samples: int
    run_local_exact: bool
    run_local_over_evaluate: float

    def to_json(self) -> JSONDict:
        return {
            "evaluate_us": self.evaluate_us,
            "run_local_ms_median": self.run_local_ms_median,
            "run_local_ms_p90": self.run_local_ms_p90,
            "run_local_samples": self.run_local_samples,
            "run_local_exact": self.run_local_exact,
            "run_local_over_evaluate": self.run_local_over_evaluate,
            "note": NOTE,
        }


def plaintext_section(
    manifest: Manifest, inputs: Sequence[Sequence[float]], repeats: int
) -> PlaintextResult:
    """`Manifest.evaluate` on the first input, and `repeats` run_local queries over `inputs`."""
    if not inputs or repeats < 1:
        raise BenchmarkError("the plaintext section needs an input and at least one repeat")
    x_int = manifest.quantise_input(inputs[0])
    evaluate_s = time_call(lambda: manifest.evaluate(x_int))
    local_s: list[float] = []
    exact = True
    for i in range(repeats):
        x = inputs[i % len(inputs)]
        t0 = time.perf_counter()
        run = run_local(manifest, x)
        local_s.append(time.perf_counter() - t0)
        exact = exact and run.outputs == manifest.evaluate(manifest.quantise_input(x)).outputs
    if not exact:
        raise BenchmarkError(f"{manifest.name}: run_local differs from the plaintext model")
    local = stats_ms(local_s)
    return PlaintextResult(
        evaluate_us=round(evaluate_s * 1e6, 3),
        run_local_ms_median=local.median,
        run_local_ms_p90=local.p90,
        run_local_samples=local.samples,
        run_local_exact=exact,
        run_local_over_evaluate=round(local.median * 1000.0 / (evaluate_s * 1e6), 1),
    )
