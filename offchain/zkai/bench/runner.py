"""`zkai bench` for protocol version 2: part circuits against ezkl and the plaintext baselines,
on-chain gas, `zkai up`'s network end to end, and its reliability, in one JSON document.

Each section is a module of its own that returns a frozen dataclass with `to_json()`; this
module runs them in order and composes the document:

- `circuits`: per demo model and part, constraints, the cached setup, proving a real query's
  rounds (median of `repeats`), off-chain verification; version 1's digits figures as a stated
  reference; the digits block in a circuit of R_max = 4 slots (`--quick`: n = 1 and 4).
- `plaintext`: `Manifest.evaluate` and `zkai.inference.run_local` ("private without chain").
- `gas` (`--skip-gas`): `zkai.bench.benchchain` (its own anvil, the contracts, played nodes):
  requestQuery (1 and 2 parts), claim, settle, slash, and the verifyProof floor.
- `validity` (`zkai.bench.validity`, issue 17): the user's validity proof per tabular demo model
  and tiny-lm (not in --quick) (constraints, setup, Python and snarkjs proving, off-chain
  verification, and on the gas section's chain a verifyProof transaction of the proof; no gas
  with `--skip-gas`), how its cost grows with the input's length (synthetic rules) and tiny-lm's
  constraints with the usage policy's size.
- `e2e` (`--skip-e2e`): `zkai up`'s LocalNetwork (4 nodes, k = 2) with `QueryClient.run`:
  latency to the answer and to every proof, gas and cost per query, throughput.
- `ezkl` (`--skip-ezkl`): the ezkl baseline of every demo model (`ezkl_section`), its
  Solidity verifier deployed on the gas section's anvil.
- `api_load` and `recovery` (`--skip-reliability`): on the same network, recovery last.
- `training` (not with `--quick`): CKKS encryption and aggregation.
- `language_model` (`lm_section`): tiny-lm's plaintext time per token, its part circuits (one
  full R_max-slot chunk proof per part, the generation's prover time derived from it), the ezkl
  baseline of one token (`--skip-ezkl`), and generations through `zkai generate`'s client on the
  same network (`--skip-e2e`); `--quick` generates fewer tokens and says so.
- `ratios` per model and `targets`, from the results.
A section that fails is reported, recorded as null with its error under `errors`, and the run
goes on; every number in the document was measured in this run, except the labelled v1
reference.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from zkai.bench.api_load import ApiLoadResult, api_load_section
from zkai.bench.benchchain import BenchChain
from zkai.bench.circuits import (
    V1_DIGITS_REFERENCE,
    PartResult,
    RoundsResult,
    part_section,
    rounds_section,
)
from zkai.bench.common import JSONDict, Progress, ratio, sample_input
from zkai.bench.e2e import E2EResult, latency_section, throughput_section
from zkai.bench.ezkl_section import EzklSection, ezkl_section
from zkai.bench.gas import GasResult, gas_section
from zkai.bench.lm_e2e import LmE2EResult, lm_e2e_section
from zkai.bench.lm_section import LM_NAME, LmSection, lm_manifest, lm_plan, run_lm_offline
from zkai.bench.metadata import RunMetadata, collect_metadata, load_average
from zkai.bench.network import NetworkBench, NetworkInfo
from zkai.bench.options import ROUNDS_MAX, BenchOptions
from zkai.bench.plaintext import PlaintextResult, plaintext_section
from zkai.bench.ratios import model_ratios
from zkai.bench.recovery import RecoveryResult, recovery_section
from zkai.bench.targets import targets_section
from zkai.bench.training import TrainingResult, training_section
from zkai.bench.validity import (
    GROWTH_SIZES,
    ChainTarget,
    ValidityResult,
    demo_case,
    lm_case,
    synthetic_case,
    validity_section,
)
from zkai.config import get_settings
from zkai.models.demo import DEMO_MODELS, load_demo_manifest, load_split

__all__ = ["BenchReport", "ModelResult", "main_progress", "run_bench"]

E2E_MODELS = ("digits", "digits-mlp")
# The tabular demo models (the language model has its own section).
TABULAR_MODELS = tuple(name for name in DEMO_MODELS if name != LM_NAME)


@dataclass(frozen=True)
class ModelResult:
    """One demo model: its shape, its parts' circuits, the plaintext baselines and ezkl."""

    inputs: int
    outputs: int
    parts: tuple[PartResult, ...]
    plaintext: PlaintextResult | None
    ezkl: EzklSection | None = None

    def to_json(self) -> JSONDict:
        return {
            "inputs": self.inputs,
            "outputs": self.outputs,
            "parts": [p.to_json() for p in self.parts],
            "plaintext": None if self.plaintext is None else self.plaintext.to_json(),
            "ezkl": None if self.ezkl is None else self.ezkl.to_json(),
        }


@dataclass(frozen=True)
class BenchReport:
    """A whole run. Sections skipped by an option or failed are null (`errors` says why)."""

    metadata: RunMetadata
    models: dict[str, ModelResult]
    rounds: RoundsResult | None
    gas: GasResult | None
    network: NetworkInfo | None
    e2e: E2EResult | None
    api_load: ApiLoadResult | None
    recovery: RecoveryResult | None
    training: TrainingResult | None
    errors: dict[str, str] = field(default_factory=dict)
    language_model: LmSection | None = None
    validity: ValidityResult | None = None

    def _circuits(self) -> JSONDict:
        digits = self.models.get("digits")
        v2 = digits.parts[0] if digits and digits.parts else None
        return {
            "v1_reference_digits": V1_DIGITS_REFERENCE,
            "v2_digits_part_0": None
            if v2 is None
            else {
                "constraints": v2.constraints,
                "prove_ms_median": v2.prove_ms_median,
                "public_inputs": v2.public_inputs,
                "constraints_over_v1": ratio(v2.constraints, V1_DIGITS_REFERENCE["constraints"]),
                "prove_over_v1": ratio(v2.prove_ms_median, V1_DIGITS_REFERENCE["prove_ms_median"]),
            },
            "rounds": None if self.rounds is None else self.rounds.to_json(),
        }

    def to_json(self) -> JSONDict:
        gas = None if self.gas is None else self.gas.to_json()
        claim = None if gas is None else gas["claim_gas_median"]
        floor = None if gas is None else gas["floor_verify_proof_gas"]
        document: JSONDict = {
            "metadata": self.metadata.to_json(),
            "models": {name: model.to_json() for name, model in self.models.items()},
            "circuits": self._circuits(),
            "ratios": {
                name: model_ratios(m.parts, m.plaintext, m.ezkl, claim, floor).to_json()
                for name, m in self.models.items()
            },
            "gas": gas,
            "validity": None if self.validity is None else self.validity.to_json(),
        }
        if not self.metadata.options.quick:
            document["training"] = None if self.training is None else self.training.to_json()
        document["network"] = None if self.network is None else self.network.to_json()
        document["e2e"] = None if self.e2e is None else self.e2e.to_json()
        document["api_load"] = None if self.api_load is None else self.api_load.to_json()
        document["recovery"] = None if self.recovery is None else self.recovery.to_json()
        document["language_model"] = (
            None if self.language_model is None else self.language_model.to_json(gas)
        )
        document["errors"] = dict(self.errors)
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


class _Sections:
    """Runs optional sections: a failure is reported and recorded, not fatal."""

    def __init__(self, say: Progress) -> None:
        self.say = say
        self.errors: dict[str, str] = {}

    def run(self, what: str, action: Callable[[], _T]) -> _T | None:
        try:
            return action()
        except Exception as exc:  # reported; the other sections still run
            message = f"{type(exc).__name__}: {exc}"
            self.say(f"{what} FAILED: {message}")
            self.errors[what] = message[:2000]
            return None


def _inputs(name: str, count: int) -> list[list[float]]:
    split = load_split(name)
    return [[float(v) for v in split.x_test[i % len(split.x_test)]] for i in range(count)]


def _models(options: BenchOptions, sections: _Sections, say: Progress) -> dict[str, ModelResult]:
    models: dict[str, ModelResult] = {}
    for name in TABULAR_MODELS:
        manifest = load_demo_manifest(name)
        x = sample_input(name)
        parts = sections.run(
            f"circuits {name}",
            lambda manifest=manifest, x=x: part_section(  # type: ignore[misc]
                manifest, x, repeats=options.repeats, say=say
            ),
        )
        plain = sections.run(
            f"plaintext {name}",
            lambda manifest=manifest, name=name: plaintext_section(  # type: ignore[misc]
                manifest, _inputs(name, options.repeats), options.repeats
            ),
        )
        models[name] = ModelResult(
            inputs=manifest.input_size,
            outputs=manifest.output_size,
            parts=tuple(r for r, _, _ in parts or ()),
            plaintext=plain,
        )
    return models


def _validity(
    options: BenchOptions, bench: BenchChain | None, sections: _Sections, say: Progress
) -> ValidityResult | None:
    """The validity section; its gas on `bench` (None: no gas). A rule that failed is in the
    section's `errors` and the document's."""
    repeats = options.repeats
    result = sections.run(
        "validity",
        lambda: validity_section(
            # tiny-lm's circuit takes minutes to set up: not in --quick
            [demo_case(name) for name in TABULAR_MODELS]
            + ([] if options.quick else [lm_case(load_demo_manifest("tiny-lm"), "t")]),
            # --quick: the two ends only (64 values is digits' rule, built for the network)
            [synthetic_case(n) for n in ((8, 64) if options.quick else GROWTH_SIZES)],
            repeats=repeats,
            snarkjs_repeats=1 if options.quick else 3,
            growth_repeats=min(repeats, 3),
            policy=None if options.quick else load_demo_manifest("tiny-lm"),
            target=None if bench is None else ChainTarget(bench.chain(), bench.deployer),
            say=say,
        ),
    )
    for case, error in ({} if result is None else result.errors).items():
        sections.errors[f"validity {case}"] = error
    return result


def _chain_sections(
    options: BenchOptions, root: Path, sections: _Sections, say: Progress
) -> tuple[GasResult | None, dict[str, EzklSection | None], ValidityResult | None]:
    """The gas section, the validity section (its verifier deployed on the same anvil) and
    ezkl (likewise), on a BenchChain."""
    if options.skip_gas and options.skip_ezkl:
        return None, {}, _validity(options, None, sections, say)
    bench = BenchChain(root / "chain", say, E2E_MODELS)
    try:

        def start() -> bool:
            bench.up()
            return True

        up = bool(sections.run("chain", start))
        gas = None
        if up and not options.skip_gas:
            gas = sections.run("gas", lambda: gas_section(bench, options.gas_queries, say))
        validity = _validity(options, bench if up and not options.skip_gas else None, sections, say)
        ezkl = {}
        if not options.skip_ezkl:
            ezkl = _ezkl_all(options, root, bench.rpc_url if up else None, sections, say)
        return gas, ezkl, validity
    finally:
        bench.down()


@dataclass
class _NetworkResults:
    network: NetworkInfo | None = None
    e2e: E2EResult | None = None
    api_load: ApiLoadResult | None = None
    recovery: RecoveryResult | None = None
    lm_e2e: LmE2EResult | None = None


def _e2e(net: NetworkBench, options: BenchOptions, sections: _Sections) -> E2EResult:
    latency = {name: latency_section(net, name, options.queries) for name in E2E_MODELS}
    per_run = options.queries if options.quick else 2 * options.queries
    total = max(options.users, per_run)
    unloaded = latency["digits"].to_json()["proofs_s_median"]
    throughput = sections.run(
        "throughput",
        lambda: throughput_section(net, "digits", options.users, total, unloaded),
    )
    return E2EResult(latency=latency, throughput=throughput)


def _ezkl_all(
    options: BenchOptions, root: Path, rpc_url: str | None, sections: _Sections, say: Progress
) -> dict[str, EzklSection | None]:
    return {
        name: sections.run(
            f"ezkl {name}",
            lambda name=name: ezkl_section(  # type: ignore[misc]
                load_demo_manifest(name),
                sample_input(name),
                root / "ezkl" / name,
                repeats=2 if options.quick else max(2, options.repeats),
                rpc_url=rpc_url,
                say=say,
            ),
        )
        for name in TABULAR_MODELS
    }


def _network(
    options: BenchOptions,
    root: Path,
    sections: _Sections,
    say: Progress,
    lm: LmSection | None = None,
) -> _NetworkResults:
    out = _NetworkResults()
    if options.skip_e2e and options.skip_reliability:
        return out
    say("starting `zkai up`'s local network (4 nodes, k = 2) on free ports")
    net = sections.run(
        "network", lambda: NetworkBench(root / "localnet", get_settings().artifacts_path, say)
    )
    if net is None:
        return out
    try:
        if sections.run("network", net.up) is not None:
            out.network = NetworkInfo.of(net)
        if out.network is not None and not options.skip_e2e:
            out.e2e = sections.run("e2e", lambda: _e2e(net, options, sections))
            if lm is not None:
                plan = lm.plan
                out.lm_e2e = sections.run(
                    "language_model e2e",
                    lambda: lm_e2e_section(net, plan.prompt, plan.new_tokens, plan.generations),
                )
        if out.network is not None and not options.skip_reliability:
            per_level = 400 if options.quick else 4_000
            out.api_load = sections.run(
                "api_load", lambda: api_load_section(net, requests_per_level=per_level)
            )
            out.recovery = sections.run("recovery", lambda: recovery_section(net))
    finally:
        net.down()
    return out


def _language_model(
    options: BenchOptions, root: Path, sections: _Sections, say: Progress
) -> LmSection | None:
    """tiny-lm's sections that need no network (the runner adds the e2e part later)."""
    manifest = sections.run("language_model", lm_manifest)
    if manifest is None:
        return None
    say(f"{LM_NAME}: plaintext, part circuits" + ("" if options.skip_ezkl else ", ezkl"))
    return sections.run(
        "language_model",
        lambda: run_lm_offline(
            manifest,
            lm_plan(options),
            root,
            skip_ezkl=options.skip_ezkl,
            run=sections.run,
            say=say,
        ),
    )


def run_bench(options: BenchOptions, say: Progress) -> JSONDict:
    """Every section the options ask for; returns the JSON document."""
    started = time.perf_counter()
    metadata = collect_metadata(options)
    say(f"zkai bench on {os.cpu_count()} cores (load {os.getloadavg()[0]:.2f})")
    sections = _Sections(say)
    with _workspace() as root:
        models = _models(options, sections, say)
        rounds = sections.run(
            "rounds",
            lambda: rounds_section(
                load_demo_manifest("digits"),
                ROUNDS_MAX,
                options.round_counts,
                repeats=min(options.repeats, 3),
                say=say,
            ),
        )
        training: TrainingResult | None = None
        if not options.quick:
            training = sections.run(
                "training", lambda: training_section([64 * 10 + 10, 65_536], 10, say)
            )
        lm = _language_model(options, root, sections, say)
        gas, ezkls, validity = _chain_sections(options, root, sections, say)
        net = _network(options, root, sections, say, lm)
        if lm is not None and net.lm_e2e is not None:
            lm = replace(lm, e2e=net.lm_e2e)
        for name, ezkl in ezkls.items():
            models[name] = replace(models[name], ezkl=ezkl)
    metadata = replace(
        metadata,
        duration_s=round(time.perf_counter() - started, 1),
        load_average_at_end=load_average(),
    )
    report = BenchReport(
        metadata=metadata,
        models=models,
        rounds=rounds,
        gas=gas,
        network=net.network,
        e2e=net.e2e,
        api_load=net.api_load,
        recovery=net.recovery,
        training=training,
        errors=sections.errors,
        language_model=lm,
        validity=validity,
    )
    return report.to_json()


def main_progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
