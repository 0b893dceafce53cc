"""The issue's targets, judged from a finished document: prove time, the speed-up over ezkl,
submitResult gas against the floor, end-to-end latency and throughput."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zkai.bench.common import JSONDict

__all__ = ["Target", "Targets", "targets_section"]

TARGET_PROVE_MS, TARGET_EZKL_SPEEDUP, TARGET_FLOOR_RATIO = 250.0, 15.0, 1.25
TARGET_LATENCY_S, TARGET_QPS = 2.0, 2.0


@dataclass(frozen=True)
class Target:
    """What is wanted, what was measured, and whether it is met (None: not measured)."""

    target: str
    measured: Any
    met: bool | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> JSONDict:
        return {"target": self.target, "measured": self.measured, "met": self.met, **self.extra}


@dataclass(frozen=True)
class Targets:
    """Every target by name."""

    entries: Mapping[str, Target]

    def to_json(self) -> dict[str, JSONDict]:
        return {name: target.to_json() for name, target in self.entries.items()}


def targets_section(results: JSONDict) -> Targets:
    """The targets, from the document's `models`, `ratios` and `e2e` sections."""
    models = results.get("models", {})
    digits = models.get("digits", {})
    g16 = digits.get("groth16", {})
    ezkl = digits.get("ezkl") or {}
    e2e = results.get("e2e") or {}
    prove = g16.get("prove_ms_median")
    speedup = results.get("ratios", {}).get("digits", {}).get("ezkl_prove_over_groth16_prove")
    floor_ratios = {
        name: m.get("groth16", {}).get("submit_result_gas_over_floor") for name, m in models.items()
    }
    known = [v for v in floor_ratios.values() if v is not None]
    latency = e2e.get("latency_s_median")
    qps = e2e.get("throughput_qps")
    return Targets(
        {
            "prove_per_share_digits_ms": Target(
                f"< {TARGET_PROVE_MS:.0f} ms",
                prove,
                None if prove is None else prove < TARGET_PROVE_MS,
            ),
            "ezkl_speedup_digits": Target(
                f">= {TARGET_EZKL_SPEEDUP:.0f}x faster proving than ezkl",
                speedup,
                None if speedup is None else speedup >= TARGET_EZKL_SPEEDUP,
                extra={"note": None if ezkl else "ezkl skipped"},
            ),
            "submit_result_gas_over_floor": Target(
                f"<= {TARGET_FLOOR_RATIO} (within 25% of the floor), every model",
                floor_ratios,
                None if not known else all(v <= TARGET_FLOOR_RATIO for v in known),
            ),
            "e2e_latency_median_s": Target(
                f"< {TARGET_LATENCY_S} s with 2 nodes",
                latency,
                None if latency is None else latency < TARGET_LATENCY_S,
            ),
            "throughput_qps": Target(
                f">= {TARGET_QPS} queries/s sustained",
                qps,
                None if qps is None else qps >= TARGET_QPS,
            ),
        }
    )
