"""`zkai bench`: Groth16 per share against ezkl and plaintext, on-chain gas, a local network
end to end, encrypted training and scaling, in one JSON document.

Each section is a module of its own that returns a frozen dataclass with `to_json()`; this
module runs them in order and composes the document:

- `groth16`: constraints, a fresh setup (in a temporary artifacts root), prove time per share,
  off-chain verify time, sizes and the gas floor; `plaintext`: float numpy, the integer
  `Manifest.forward` and a node's compute on one share.
- `network`: a LocalNetwork (anvil, private Redis, contracts, two nodes, API) on free ports, on
  which `gas` measures submitResult and the bare verifier, and `e2e` latency and throughput.
- `ezkl_section`: the ezkl baseline (`ezkl_baseline`) on the manifests' own integers.
- `training`: CKKS encryption and aggregation; `scaling`: proving and gas against the input
  size and k (skipped by `--quick`).
- `api_load`: the network's API at 50 and 200 concurrent clients; `recovery`: the time a node
  takes to submit a share after its worker's pool process, then its Celery main process, is
  killed mid-proof (run last: it kills a worker).
- `ratios` per model and `targets`, from the results.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from zkai.bench.api_load import ApiLoadResult, api_load_section
from zkai.bench.common import JSONDict, Progress, sample_input
from zkai.bench.e2e import E2EResult, latency_section, throughput_section
from zkai.bench.ezkl_section import EzklSection, ezkl_section
from zkai.bench.gas import GasResult, gas_section
from zkai.bench.groth16 import Groth16Result, groth16_model_section
from zkai.bench.metadata import RunMetadata, collect_metadata, load_average
from zkai.bench.network import NetworkBench, NetworkInfo
from zkai.bench.options import BenchOptions
from zkai.bench.plaintext import PlaintextResult, plaintext_section
from zkai.bench.ratios import model_ratios
from zkai.bench.recovery import RecoveryResult, recovery_section
from zkai.bench.scaling import (
    InputScalingRow,
    ScalingResult,
    k_scaling_section,
    scaling_gas,
    scaling_offchain,
)
from zkai.bench.targets import targets_section
from zkai.bench.training import TrainingResult, training_section
from zkai.circuits.artifacts import CircuitArtifacts
from zkai.models.demo import DEMO_MODELS, load_demo_manifest

__all__ = ["BenchReport", "ModelResult", "main_progress", "run_bench"]


@dataclass(frozen=True)
class ModelResult:
    """One demo model: its shape, Groth16 (with its chain gas), plaintext and ezkl."""

    inputs: int
    outputs: int
    groth16: Groth16Result
    plaintext: PlaintextResult
    gas: GasResult | None = None
    ezkl: EzklSection | None = None

    def to_json(self) -> JSONDict:
        return {
            "inputs": self.inputs,
            "outputs": self.outputs,
            "groth16": self.groth16.to_json(self.gas),
            "plaintext": self.plaintext.to_json(),
            "ezkl": None if self.ezkl is None else self.ezkl.to_json(),
        }


@dataclass(frozen=True)
class BenchReport:
    """A whole run. Sections a quick run skips (training, scaling) are left out of the
    document; a section that failed or was skipped by an option is null."""

    metadata: RunMetadata
    models: Mapping[str, ModelResult]
    network: NetworkInfo
    e2e: E2EResult | None
    training: TrainingResult | None = None
    scaling: ScalingResult | None = None
    api_load: ApiLoadResult | None = None
    recovery: RecoveryResult | None = None

    def to_json(self) -> JSONDict:
        document: JSONDict = {
            "metadata": self.metadata.to_json(),
            "models": {name: model.to_json() for name, model in self.models.items()},
            "ratios": {
                name: model_ratios(m.groth16, m.gas, m.plaintext, m.ezkl).to_json()
                for name, m in self.models.items()
            },
        }
        if not self.metadata.options.quick:
            document["training"] = None if self.training is None else self.training.to_json()
        document["network"] = self.network.to_json()
        document["e2e"] = None if self.e2e is None else self.e2e.to_json()
        document["api_load"] = None if self.api_load is None else self.api_load.to_json()
        document["recovery"] = None if self.recovery is None else self.recovery.to_json()
        if not self.metadata.options.quick:
            document["scaling"] = None if self.scaling is None else self.scaling.to_json()
        document["targets"] = targets_section(document).to_json()
        return document


@contextlib.contextmanager
def _workspace() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="zkai-bench-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


_T = TypeVar("_T")


def _guarded(say: Progress, what: str, action: Callable[[], _T]) -> _T | None:
    """An optional section: a failure is reported and recorded as None, not fatal."""
    try:
        return action()
    except Exception as exc:  # reported; the other sections still run
        say(f"{what} FAILED: {type(exc).__name__}: {exc}")
        return None


def _e2e(bench: NetworkBench, options: BenchOptions) -> E2EResult:
    latency = latency_section(bench, "digits", options.queries)
    per_run = options.queries if options.quick else 2 * options.queries
    total = max(options.users, per_run)
    throughput = throughput_section(bench, "digits", options.users, total, latency.latency_s_median)
    return E2EResult(latency=latency, throughput=throughput)


def run_bench(options: BenchOptions, say: Progress) -> JSONDict:
    """Every section the options ask for; returns the JSON document."""
    started = time.perf_counter()
    metadata = collect_metadata(options)
    say(f"zkai bench on {os.cpu_count()} cores (load {os.getloadavg()[0]:.2f})")
    training: TrainingResult | None = None
    scaling: ScalingResult | None = None
    api_load: ApiLoadResult | None = None
    recovery: RecoveryResult | None = None
    with _workspace() as root:
        artifacts_root = root / "artifacts"
        artifacts_root.mkdir()
        built: dict[str, CircuitArtifacts] = {}
        models: dict[str, ModelResult] = {}
        for name in DEMO_MODELS:
            manifest = load_demo_manifest(name)
            x = sample_input(name)
            g16, built[name] = groth16_model_section(
                manifest,
                x,
                artifacts_root,
                repeats=options.repeats,
                witness=options.witness,
                say=say,
            )
            models[name] = ModelResult(
                inputs=manifest.input_size,
                outputs=manifest.output_size,
                groth16=g16,
                plaintext=plaintext_section(manifest, x),
            )
        if not options.quick:
            training = _guarded(
                say, "training", lambda: training_section([64 * 10 + 10, 65_536], 10, say)
            )
        scaling_rows: list[tuple[InputScalingRow, CircuitArtifacts]] = []
        if not options.quick:
            sizes = [64, 256, 1024] + ([4096] if options.full else [])
            scaling_rows = (
                _guarded(
                    say,
                    "scaling",
                    lambda: scaling_offchain(
                        sizes, artifacts_root, max(1, min(options.repeats, 5)), say
                    ),
                )
                or []
            )

        bench = NetworkBench(root / "localnet", artifacts_root, say)
        try:
            say("starting a local network (2 nodes, k = 2) on free ports")
            bench.up()
            network = NetworkInfo.of(bench)
            for name in DEMO_MODELS:
                gas = gas_section(bench, name, built[name], queries=2)
                models[name] = replace(models[name], gas=gas)
            e2e = None if options.skip_e2e else _e2e(bench, options)
            if not options.quick:
                _guarded(say, "scaling gas", lambda: scaling_gas(bench, scaling_rows))
                scaling = ScalingResult(
                    inputs=tuple(row for row, _ in scaling_rows),
                    k=_guarded(say, "k scaling", lambda: k_scaling_section(bench, [2, 3, 4])),
                )
            if not options.skip_ezkl:
                for name in DEMO_MODELS:
                    ezkl = _guarded(
                        say,
                        f"ezkl {name}",
                        lambda name=name: ezkl_section(  # type: ignore[misc]
                            load_demo_manifest(name),
                            sample_input(name),
                            root / "ezkl" / name,
                            repeats=max(2, options.repeats if not options.quick else 2),
                            rpc_url=bench.rpc_url,
                            say=say,
                        ),
                    )
                    models[name] = replace(models[name], ezkl=ezkl)
            per_level = 400 if options.quick else 4_000
            api_load = _guarded(
                say, "api load", lambda: api_load_section(bench, requests_per_level=per_level)
            )
            recovery = _guarded(say, "recovery", lambda: recovery_section(bench))
        finally:
            bench.down()

    metadata = replace(
        metadata,
        duration_s=round(time.perf_counter() - started, 1),
        load_average_at_end=load_average(),
    )
    report = BenchReport(
        metadata=metadata,
        models=models,
        network=network,
        e2e=e2e,
        training=training,
        scaling=scaling,
        api_load=api_load,
        recovery=recovery,
    )
    return report.to_json()


def main_progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
