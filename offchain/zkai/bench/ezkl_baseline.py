"""The ezkl (Halo2-KZG) baseline: the same linear model y = W x + b, proven with ezkl.

ZKAI proves linear-model inference with Groth16; the benchmark reports ezkl's numbers for the
same model, measured in the same run. `run_ezkl_baseline` builds the model as ONNX
(`ezkl_onnx`) and drives ezkl through settings, calibration, compilation, an offline SRS,
set-up, witness, proving (`repeats` times), off-chain verification and, given an RPC URL, the
Solidity verifier (`ezkl_evm`): deployed with web3 and called with the calldata ezkl encodes for
the proof, to measure gas.

Each ezkl stage runs in a child Python process (`python -m zkai.bench.ezkl_baseline --stage
REQUEST`, `ezkl_stages`), started and read back by `ezkl_process`. The child reports its own
peak RSS. ezkl's habit of crashing the interpreter at exit after its async calls cannot take the
caller down: a child writes its result file and leaves with `os._exit`. Stage times are measured
inside the child around the ezkl call (interpreter start-up and imports excluded). These modules
import numpy, onnx, web3 and py-solc-x inside the functions that need them, so that a stage
child holds only Python and ezkl.

Offline operation:
- SRS: `gen_srs` makes a local, insecure SRS (benchmarks and tests only), cached per logrows in
  `workdir/srs`. `get_srs` is never called: it downloads, and deletes a self-made SRS.
- Solidity: solc for ezkl's verifier generation is the project's compiler, linked where ezkl's
  svm lookup expects it (see `zkai.bench.ezkl_evm`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkai.bench.common import percentile
from zkai.bench.ezkl_evm import EvmNumbers, install_svm_solc, measure_evm
from zkai.bench.ezkl_onnx import build_linear_onnx, build_mlp_onnx, check_model_arrays
from zkai.bench.ezkl_process import MODULE, Layout, progress, run_child
from zkai.bench.ezkl_stages import STAGE_FLAG, run_stage_request
from zkai.errors import BenchmarkError, ZKAIError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "DEFAULT_DECOMP_BASE",
    "DEFAULT_DECOMP_LEGS",
    "DEFAULT_OPTIMIZER_RUNS",
    "EzklArtifacts",
    "EzklResult",
    "main",
    "run_ezkl_baseline",
    "run_ezkl_model",
    "verify_proof_off_chain",
]

# ezkl range-checks inputs and outputs by decomposing them into `legs` digits of `base`, with one
# lookup table row per digit value. Its default (16384 x 2, a 2^28 range) needs a 2^14-row table,
# which alone sets logrows to 15: for the 64x10 model that is a 329 MB proving key and ~7 s
# proofs, against 41 MB and ~1.2 s at logrows 12 (what its Poseidon input hash needs) with
# 128 x 4, the same 2^28 range. A baseline should be ezkl at its best, so 128 x 4 is the default.
DEFAULT_DECOMP_BASE = 128
DEFAULT_DECOMP_LEGS = 4
# ezkl's `deploy-evm` default.
DEFAULT_OPTIMIZER_RUNS = 1

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class EzklArtifacts:
    """Where one run left its files (all under the run's `workdir`)."""

    model: Path
    input: Path
    settings: Path
    compiled: Path
    srs: Path
    vk: Path
    pk: Path
    witness: Path
    proof: Path
    verifier_sol: Path | None
    calldata: Path | None


@dataclass(frozen=True)
class EzklResult:
    """ezkl's numbers for one model. Times in ms; memory in MiB; gas as used by the receipt.

    `prove_peak_rss_mib` is the largest peak resident set of a proving process (Python, ezkl,
    the loaded proving key and the prover); `srs_ms` is None when the SRS came from the cache.
    The EVM fields are None unless a `deploy_rpc_url` was given.
    """

    ezkl_version: str
    inputs: int
    outputs: int
    input_visibility: str
    param_visibility: str
    output_visibility: str
    input_scale: int
    param_scale: int
    decomp_base: int
    decomp_legs: int
    logrows: int
    num_rows: int
    total_assignments: int
    srs_ms: float | None
    setup_ms: float
    setup_peak_rss_mib: float
    prove_ms: tuple[float, ...]
    prove_ms_median: float
    prove_ms_p90: float
    prove_peak_rss_mib: float
    verify_ms: float
    pk_bytes: int
    vk_bytes: int
    proof_bytes: int
    output_values: tuple[float, ...]
    verifier_address: str | None
    verifier_runtime_bytes: int | None
    verifier_deploy_gas: int | None
    verify_gas: int | None
    artifacts: EzklArtifacts

    def to_json_dict(self) -> JSONDict:
        """The result as JSON-ready values (paths as strings)."""
        data = asdict(self)
        data["artifacts"] = {
            name: None if path is None else str(path) for name, path in data["artifacts"].items()
        }
        data["prove_ms"] = list(self.prove_ms)
        data["output_values"] = list(self.output_values)
        return data


def _cached_srs(layout: Layout, logrows: int, timeout_s: float) -> tuple[Path, float | None]:
    """The SRS for `logrows` from the cache, generated (and timed) when missing."""
    srs = layout.srs / f"kzg{logrows}.srs"
    if srs.is_file() and srs.stat().st_size > 0:
        return srs, None
    progress(f"generating an offline (insecure, test-only) SRS for logrows {logrows}")
    partial = srs.with_name(f"{srs.name}.partial-{os.getpid()}")
    try:
        run = run_child(
            layout, "srs", {"srs": str(partial), "logrows": logrows}, timeout_s=timeout_s
        )
        os.replace(partial, srs)
    finally:
        partial.unlink(missing_ok=True)
    return srs, float(run.result["ms"])


def verify_proof_off_chain(
    artifacts: EzklArtifacts,
    proof: Path | None = None,
    *,
    workdir: Path | None = None,
    timeout_s: float = 600.0,
) -> bool:
    """Whether ezkl accepts `proof` (default: the run's proof) for the run's circuit.

    False for a proof ezkl rejects; BenchmarkError when a key, settings or SRS file is missing.
    """
    proof_path = proof or artifacts.proof
    for path in (proof_path, artifacts.settings, artifacts.vk, artifacts.srs):
        if not path.is_file():
            raise BenchmarkError(f"cannot verify: {path} does not exist")
    layout = Layout.create(workdir or artifacts.settings.parent.parent)
    run = run_child(
        layout,
        "verify",
        {
            "proof": str(proof_path),
            "settings": str(artifacts.settings),
            "vk": str(artifacts.vk),
            "srs": str(artifacts.srs),
        },
        label="verify-check",
        timeout_s=timeout_s,
    )
    return bool(run.result["verified"])


def _visibility(settings: JSONDict, key: str) -> str:
    """A visibility as ezkl's settings file spells it ("Hashed" or {"Hashed": ...} -> hashed)."""
    value = settings["run_args"][key]
    name = next(iter(value)) if isinstance(value, dict) else str(value)
    return name.lower()


# --- the baseline -------------------------------------------------------------------------------


def run_ezkl_baseline(
    weights: ArrayLike,
    bias: ArrayLike,
    sample_input: ArrayLike,
    workdir: Path,
    repeats: int = 3,
    input_visibility: str = "hashed",
    param_visibility: str = "fixed",
    deploy_rpc_url: str | None = None,
    *,
    output_visibility: str = "public",
    decomp_base: int = DEFAULT_DECOMP_BASE,
    decomp_legs: int = DEFAULT_DECOMP_LEGS,
    optimizer_runs: int = DEFAULT_OPTIMIZER_RUNS,
    stage_timeout_s: float = 3600.0,
    second_layer: tuple[ArrayLike, ArrayLike] | None = None,
) -> EzklResult:
    """Prove y = W x + b (weights m x n, bias m, sample_input n) with ezkl and measure it.

    Integer-valued arrays are proven exactly (input and parameter scale 0); otherwise ezkl's
    calibration picks the scales. Visibilities are ezkl's ("hashed" = Poseidon hash of the input
    public, "fixed" = weights baked into the circuit). Files go under `workdir` (the SRS is cached
    there per logrows; runs that share a workdir must not overlap otherwise). With
    `deploy_rpc_url` (an RPC with unlocked accounts, e.g. anvil), the Solidity verifier is
    deployed and a verify transaction is sent; `verify_gas` is that transaction's gas, 21,000
    intrinsic and calldata included. Each stage child is killed after `stage_timeout_s`.
    """
    w, b, x, integral = check_model_arrays(weights, bias, sample_input)
    outputs, inputs = w.shape
    if second_layer is not None:
        w2, b2, _, _ = check_model_arrays(second_layer[0], second_layer[1], b)
        integral, outputs = False, w2.shape[0]

    def write_model(path: Path) -> None:
        if second_layer is None:
            build_linear_onnx(w, b, path)
        else:
            build_mlp_onnx(w, b, w2, b2, path)

    run_args: JSONDict = {
        "input_visibility": input_visibility,
        "param_visibility": param_visibility,
        "output_visibility": output_visibility,
        "decomp_base": decomp_base,
        "decomp_legs": decomp_legs,
    }
    if integral:
        run_args |= {"input_scale": 0, "param_scale": 0}
    return run_ezkl_model(
        write_model,
        [x.tolist()],
        workdir,
        run_args=run_args,
        calibration_scales=[0] if integral else None,
        inputs=inputs,
        outputs=outputs,
        label=f"model {outputs}x{inputs}",
        repeats=repeats,
        deploy_rpc_url=deploy_rpc_url,
        optimizer_runs=optimizer_runs,
        stage_timeout_s=stage_timeout_s,
    )


def run_ezkl_model(
    write_model: Callable[[Path], None],
    input_data: Sequence[Sequence[float]],
    workdir: Path,
    *,
    run_args: JSONDict,
    calibration_scales: Sequence[int] | None,
    calibrate: bool = True,
    inputs: int,
    outputs: int,
    label: str,
    repeats: int = 3,
    deploy_rpc_url: str | None = None,
    optimizer_runs: int = DEFAULT_OPTIMIZER_RUNS,
    stage_timeout_s: float = 3600.0,
) -> EzklResult:
    """The one ezkl pipeline every baseline runs: `write_model(path)` writes the ONNX graph,
    `input_data` is its inputs (one flattened list per graph input); `run_args` are set on
    ezkl's PyRunArgs (unset ones keep ezkl's defaults), then (unless `calibrate` is False)
    ezkl's own calibration ("resources", over `calibration_scales` or its own choice),
    compilation, the cached offline
    SRS, set-up, witness, `repeats` proofs, off-chain verification and, with `deploy_rpc_url`,
    the Solidity verifier (see `run_ezkl_baseline`). The result's visibilities and
    decomposition are read back from the settings ezkl wrote."""
    if repeats < 1:
        raise BenchmarkError(f"repeats must be at least 1, got {repeats}")
    layout = Layout.create(workdir)
    run = layout.run
    verifier_sol, calldata = run / "Verifier.sol", run / "calldata.bin"
    artifacts = EzklArtifacts(
        model=run / "network.onnx",
        input=run / "input.json",
        settings=run / "settings.json",
        compiled=run / "network.ezkl",
        srs=layout.srs,  # replaced below, once logrows is known
        vk=run / "vk.key",
        pk=run / "pk.key",
        witness=run / "witness.json",
        proof=run / "proof.json",
        verifier_sol=verifier_sol if deploy_rpc_url else None,
        calldata=calldata if deploy_rpc_url else None,
    )
    timeout = stage_timeout_s

    progress(f"{label}: settings{', calibration' if calibrate else ''}, compilation")
    write_model(artifacts.model)
    artifacts.input.write_text(json.dumps({"input_data": [list(row) for row in input_data]}))
    run_child(
        layout,
        "settings",
        {
            "model": str(artifacts.model),
            "input": str(artifacts.input),
            "settings": str(artifacts.settings),
            "compiled": str(artifacts.compiled),
            "run_args": dict(run_args),
            "calibration_scales": None if calibration_scales is None else list(calibration_scales),
            "calibrate": calibrate,
        },
        timeout_s=timeout,
    )
    settings = json.loads(artifacts.settings.read_text())
    logrows = int(settings["run_args"]["logrows"])

    srs, srs_ms = _cached_srs(layout, logrows, timeout)
    artifacts = replace(artifacts, srs=srs)
    paths = {name: str(path) for name, path in asdict(artifacts).items() if path is not None}

    progress(f"setup (logrows {logrows}, {settings['num_rows']} rows)")
    setup = run_child(layout, "setup", paths, timeout_s=timeout)
    witness = run_child(layout, "witness", paths, timeout_s=timeout)

    prove_runs = []
    for index in range(repeats):
        progress(f"prove {index + 1}/{repeats}")
        prove_runs.append(
            run_child(layout, "prove", paths, label=f"prove-{index + 1}", timeout_s=timeout)
        )
    prove_ms = tuple(float(r.result["ms"]) for r in prove_runs)

    verify = run_child(layout, "verify", paths, timeout_s=timeout)
    if not verify.result["verified"]:
        raise BenchmarkError(f"ezkl rejects its own proof: {verify.result['reason']}")

    evm: EvmNumbers | None = None
    if deploy_rpc_url is not None:
        progress("Solidity verifier: generation, compilation, deployment, verify transaction")
        install_svm_solc(layout.evm_home)
        run_child(
            layout,
            "evm_verifier",
            {
                **paths,
                "sol": str(verifier_sol),
                "abi": str(run / "Verifier.abi"),
            },
            home=layout.evm_home,
            timeout_s=timeout,
        )
        evm = measure_evm(deploy_rpc_url, verifier_sol, calldata, optimizer_runs)

    proof_json = json.loads(artifacts.proof.read_text())
    result = EzklResult(
        ezkl_version=package_version("ezkl"),
        inputs=inputs,
        outputs=outputs,
        input_visibility=_visibility(settings, "input_visibility"),
        param_visibility=_visibility(settings, "param_visibility"),
        output_visibility=_visibility(settings, "output_visibility"),
        input_scale=int(settings["run_args"]["input_scale"]),
        param_scale=int(settings["run_args"]["param_scale"]),
        decomp_base=int(settings["run_args"]["decomp_base"]),
        decomp_legs=int(settings["run_args"]["decomp_legs"]),
        logrows=logrows,
        num_rows=int(settings["num_rows"]),
        total_assignments=int(settings["total_assignments"]),
        srs_ms=srs_ms,
        setup_ms=float(setup.result["ms"]),
        setup_peak_rss_mib=setup.peak_rss_mib,
        prove_ms=prove_ms,
        prove_ms_median=statistics.median(prove_ms),
        prove_ms_p90=percentile(prove_ms, 0.9),
        prove_peak_rss_mib=max(r.peak_rss_mib for r in prove_runs),
        verify_ms=float(verify.result["ms"]),
        pk_bytes=artifacts.pk.stat().st_size,
        vk_bytes=artifacts.vk.stat().st_size,
        proof_bytes=len(bytes.fromhex(proof_json["hex_proof"].removeprefix("0x"))),
        output_values=tuple(float(v) for v in witness.result["outputs"]),
        verifier_address=evm.address if evm else None,
        verifier_runtime_bytes=evm.runtime_bytes if evm else None,
        verifier_deploy_gas=evm.deploy_gas if evm else None,
        verify_gas=evm.verify_gas if evm else None,
        artifacts=artifacts,
    )
    progress(
        f"done: prove median {result.prove_ms_median:.0f} ms, "
        f"peak RSS {result.prove_peak_rss_mib:.0f} MiB"
    )
    return result


# --- command line -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m zkai.bench.ezkl_baseline --inputs 64 --outputs 10 --workdir DIR [--rpc-url URL]`.

    Proves a random small-integer model (weights in [-8, 8], bias in [-16, 16], inputs in
    [0, 16], the digits model's shape by default) and prints the result as JSON.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == [STAGE_FLAG] and len(arguments) == 2:
        run_stage_request(Path(arguments[1]))
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description="Prove y = W x + b with ezkl and measure it."
    )
    parser.add_argument("--inputs", type=int, default=64, help="n, the input length")
    parser.add_argument("--outputs", type=int, default=10, help="m, the output length")
    parser.add_argument("--workdir", type=Path, required=True, help="where files and SRS go")
    parser.add_argument("--rpc-url", default=None, help="deploy and call the verifier here")
    parser.add_argument("--repeats", type=int, default=3, help="proofs to time")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random model")
    parser.add_argument("--decomp-base", type=int, default=DEFAULT_DECOMP_BASE)
    parser.add_argument("--decomp-legs", type=int, default=DEFAULT_DECOMP_LEGS)
    options = parser.parse_args(arguments)

    import numpy as np

    rng = np.random.default_rng(options.seed)
    weights = rng.integers(-8, 9, size=(options.outputs, options.inputs))
    bias = rng.integers(-16, 17, size=options.outputs)
    sample_input = rng.integers(0, 17, size=options.inputs)
    try:
        result = run_ezkl_baseline(
            weights,
            bias,
            sample_input,
            options.workdir,
            repeats=options.repeats,
            deploy_rpc_url=options.rpc_url,
            decomp_base=options.decomp_base,
            decomp_legs=options.decomp_legs,
        )
    except ZKAIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_json_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
