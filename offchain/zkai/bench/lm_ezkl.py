"""The ezkl baseline of the language model: one forward pass for one token.

The graph is `lm_onnx.build_lm_onnx` (the manifest's dequantised weights; the token at
`position` attending over the cache of the positions before it, filled by the float reference
from the prompt) and it runs through the one ezkl pipeline (`ezkl_baseline.run_ezkl_model`)
twice:

- "defaults": ezkl's PyRunArgs exactly as constructed (public input and output, fixed
  parameters, scales 2^7, range checks 16384 x 2) and gen_settings alone (no calibration);
- "best": private input, fixed parameters, public output, range checks 128 x 4 (the
  decomposition the other ezkl baselines use: same 2^28 range, a 2^7-row table instead of
  2^14), then ezkl's "resources" calibration over scales 7 and 8 (`EZKL_CALIBRATION`).

Each configuration's logits (ezkl's rescaled outputs) are compared with the float reference's
for the same input: `argmax_matches` says whether ezkl's proof is of the token the model picks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zkai.bench.common import JSONDict, Progress
from zkai.bench.ezkl_baseline import DEFAULT_DECOMP_BASE, DEFAULT_DECOMP_LEGS
from zkai.bench.lm_onnx import FloatDecoder, build_lm_onnx, lm_onnx_inputs
from zkai.errors import BenchmarkError

if TYPE_CHECKING:
    from zkai.bench.ezkl_baseline import EzklResult
    from zkai.models.manifest import Manifest

__all__ = ["EZKL_CALIBRATION", "EZKL_CONFIGS", "LmEzklConfig", "LmEzklResult", "lm_ezkl_section"]

EZKL_CONFIGS: Mapping[str, JSONDict] = {
    "defaults": {},
    "best": {
        "input_visibility": "private",
        "param_visibility": "fixed",
        "output_visibility": "public",
        "decomp_base": DEFAULT_DECOMP_BASE,
        "decomp_legs": DEFAULT_DECOMP_LEGS,
    },
}
# Calibration per configuration: None = none (gen_settings' defaults); else the scales ezkl's
# "resources" calibration may choose from. Left free, it picks scale 11 for tiny-lm, whose
# softmax then needs an Exp lookup table of ~2^19 rows (logrows 19, minutes per proof); at
# scales 7-8 the table is 16-32x smaller and the argmax is unchanged (checked per run).
EZKL_CALIBRATION: Mapping[str, tuple[int, ...] | None] = {"defaults": None, "best": (7, 8)}


@dataclass(frozen=True)
class LmEzklConfig:
    """One configuration's ezkl result and how its logits compare with the float model's."""

    name: str
    run_args: JSONDict
    result: EzklResult
    logits_max_abs_error: float
    argmax_matches: bool

    def to_json(self) -> JSONDict:
        data = self.result.to_json_dict()
        data.pop("artifacts", None)
        data.pop("output_values", None)
        return {
            "run_args_set": dict(self.run_args),
            "calibration_scales": None
            if EZKL_CALIBRATION[self.name] is None
            else list(EZKL_CALIBRATION[self.name] or ()),
            **data,
            "logits_max_abs_error": self.logits_max_abs_error,
            "argmax_matches": self.argmax_matches,
        }


@dataclass(frozen=True)
class LmEzklResult:
    """ezkl proving one token of the language model, per configuration."""

    position: int
    configs: dict[str, LmEzklConfig]

    @property
    def best_prove_ms(self) -> float | None:
        """The lowest prove-time median over the configurations (ezkl at its best)."""
        times = [c.result.prove_ms_median for c in self.configs.values()]
        return min(times) if times else None

    def to_json(self) -> JSONDict:
        return {
            "position": self.position,
            "attention_positions": self.position + 1,
            "graph": "one forward pass for one token (one-hot MatMul embedding, layer norms, "
            "2-head attention over the KV cache given as input, ReLU MLP, LM head), the "
            "manifest's dequantised weights as float32 ONNX; logits public",
            "configs": {name: c.to_json() for name, c in self.configs.items()},
            "prove_ms_best": self.best_prove_ms,
        }


def lm_ezkl_section(
    manifest: Manifest,
    prompt_tokens: Sequence[int],
    position: int,
    workdir: Path,
    *,
    repeats: int,
    configs: Sequence[str] = tuple(EZKL_CONFIGS),
    rpc_url: str | None = None,
    say: Progress = lambda _m: None,
) -> LmEzklResult:
    """ezkl proving the token at `position` of the float model's continuation of
    `prompt_tokens`, once per configuration in `configs` (`EZKL_CONFIGS`)."""
    import numpy as np

    from zkai.bench.ezkl_baseline import run_ezkl_model

    unknown = [c for c in configs if c not in EZKL_CONFIGS]
    if unknown or not configs:
        raise BenchmarkError(f"ezkl configurations are {sorted(EZKL_CONFIGS)}, not {unknown}")
    model = FloatDecoder.from_manifest(manifest)
    token, keys, values = model.cache_at(prompt_tokens, position)
    expected, _, _ = model.step(token, keys, values)
    data = lm_onnx_inputs(model, token, keys, values)
    results: dict[str, LmEzklConfig] = {}
    for name in configs:
        run_args = dict(EZKL_CONFIGS[name])
        say(f"{manifest.name}: ezkl ({name}), one token at position {position}")

        def write(path: Path) -> None:
            build_lm_onnx(model, position, path)

        result = run_ezkl_model(
            write,
            data,
            workdir / name,
            run_args=run_args,
            calibration_scales=EZKL_CALIBRATION[name],
            calibrate=EZKL_CALIBRATION[name] is not None,
            inputs=sum(len(row) for row in data),
            outputs=len(model.vocab),
            label=f"{manifest.name} one token ({name})",
            repeats=repeats,
            deploy_rpc_url=rpc_url,
        )
        got = np.asarray(result.output_values, dtype=np.float64)
        if got.shape != expected.shape:
            raise BenchmarkError(f"ezkl gave {got.shape[0]} logits, the model {expected.shape[0]}")
        results[name] = LmEzklConfig(
            name=name,
            run_args=run_args,
            result=result,
            logits_max_abs_error=round(float(np.abs(got - expected).max()), 6),
            argmax_matches=int(got.argmax()) == int(expected.argmax()),
        )
    return LmEzklResult(position=position, configs=results)
