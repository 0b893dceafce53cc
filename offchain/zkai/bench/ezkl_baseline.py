"""The ezkl (Halo2-KZG) baseline: the same linear model y = W x + b, proven with ezkl.

ZKAI proves linear-model inference with Groth16; the benchmark reports ezkl's numbers for the
same model, measured in the same run. `run_ezkl_baseline` builds the model as ONNX and drives
ezkl through settings, calibration, compilation, an offline SRS, set-up, witness, proving
(`repeats` times), off-chain verification and, given an RPC URL, the Solidity verifier: deployed
with web3 and called with the calldata ezkl encodes for the proof, to measure gas.

Each ezkl stage runs in a child Python process (`python -m zkai.bench.ezkl_baseline --stage
REQUEST`). The child reports its own peak RSS, `VmHWM` from /proc/self/status, which the kernel
resets at exec (`ru_maxrss` from `wait4` would include the parent's size inherited at fork, so a
large caller such as `zkai bench` would inflate it). ezkl's habit of crashing the interpreter at
exit after its async calls cannot take the caller down: a child writes its result file and leaves
with `os._exit`. Stage times are measured inside the child around the ezkl call (interpreter
start-up and imports excluded). This module imports numpy, onnx, web3 and py-solc-x inside the
functions that need them, so that a stage child holds only Python and ezkl.

Offline operation:
- SRS: `gen_srs` makes a local, insecure SRS (benchmarks and tests only), cached per logrows in
  `workdir/srs`. `get_srs` is never called: it downloads, and deletes a self-made SRS.
- Solidity: `create_evm_verifier` looks up solc 0.8.20 through svm (`$HOME/.svm/0.8.20/
  solc-0.8.20`) and downloads it when missing. Its child runs with HOME set to
  `workdir/evm-home`, where that name is a symlink to the project's compiler (solc-js 0.8.37
  behind tools/solc-adapter.cjs, see `zkai.toolchain.solc_path`). ezkl drives it with
  `--standard-json` only, which the adapter implements; ezkl's own compile (shanghai, 0 runs) is
  used by ezkl for the ABI alone. The verifier deployed here is compiled by this module through
  py-solc-x and the same adapter (evmVersion prague, optimizer on, ezkl's default of 1 run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from zkai.errors import BenchmarkError, ToolchainError, ZKAIError
from zkai.toolchain import solc_path

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray
    from web3 import Web3
    from web3.types import TxParams, TxReceipt

__all__ = [
    "DEFAULT_DECOMP_BASE",
    "DEFAULT_DECOMP_LEGS",
    "DEFAULT_OPTIMIZER_RUNS",
    "EzklArtifacts",
    "EzklResult",
    "build_linear_onnx",
    "call_verifier",
    "main",
    "run_ezkl_baseline",
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
VERIFIER_EVM_VERSION = "prague"
# The compiler version ezkl's `create_evm_verifier` asks svm for.
EZKL_SVM_SOLC_VERSION = "0.8.20"
# ONNX float32 holds every integer up to 2^24 exactly.
_FLOAT32_EXACT_INT = 2**24
_MODULE = "zkai.bench.ezkl_baseline"
_STAGE_FLAG = "--stage"
_SOURCE_ROOT = Path(__file__).resolve().parents[2]
_LOG_TAIL_CHARS = 2000

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


@dataclass(frozen=True)
class _Layout:
    root: Path
    run: Path
    srs: Path
    logs: Path
    stages: Path
    evm_home: Path

    @classmethod
    def create(cls, workdir: Path) -> _Layout:
        root = workdir.resolve()
        layout = cls(
            root=root,
            run=root / "run",
            srs=root / "srs",
            logs=root / "logs",
            stages=root / "stages",
            evm_home=root / "evm-home",
        )
        for folder in (layout.run, layout.srs, layout.logs, layout.stages):
            folder.mkdir(parents=True, exist_ok=True)
        return layout


@dataclass(frozen=True)
class _StageRun:
    result: JSONDict
    peak_rss_mib: float


def _progress(message: str) -> None:
    print(f"[ezkl-baseline] {message}", file=sys.stderr, flush=True)


# --- ONNX model --------------------------------------------------------------------------------


def build_linear_onnx(weights: ArrayLike, bias: ArrayLike, path: Path) -> None:
    """Write y = W x + b as a one-node ONNX graph (Gemm, input shape [1, n], float32)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.asarray(weights, dtype=np.float32)
    b = np.asarray(bias, dtype=np.float32)
    outputs, inputs = w.shape
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "weight", "bias"], ["output"], transB=1)],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, inputs])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, outputs])],
        [numpy_helper.from_array(w, "weight"), numpy_helper.from_array(b, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _check_model_arrays(
    weights: ArrayLike, bias: ArrayLike, sample_input: ArrayLike
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], bool]:
    """The arrays as float64, and whether all are integers that float32 holds exactly."""
    import numpy as np

    w = np.asarray(weights, dtype=np.float64)
    b = np.asarray(bias, dtype=np.float64)
    x = np.asarray(sample_input, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] == 0:
        raise BenchmarkError(f"weights must be a non-empty m x n matrix, got shape {w.shape}")
    if b.shape != (w.shape[0],):
        raise BenchmarkError(f"bias must have shape ({w.shape[0]},), got {b.shape}")
    if x.shape != (w.shape[1],):
        raise BenchmarkError(f"sample_input must have shape ({w.shape[1]},), got {x.shape}")
    arrays = (w, b, x)
    if not all(np.isfinite(a).all() for a in arrays):
        raise BenchmarkError("weights, bias and sample_input must be finite")
    integral = all(np.equal(np.rint(a), a).all() for a in arrays)
    if integral and max(float(np.abs(a).max()) for a in arrays) >= _FLOAT32_EXACT_INT:
        raise BenchmarkError(
            "integer values must stay below 2^24 in magnitude to pass through ONNX float32"
        )
    return w, b, x, integral


# --- stages (run in a child process) ------------------------------------------------------------


def _stage_settings(args: JSONDict) -> JSONDict:
    import ezkl

    run_args = ezkl.PyRunArgs()
    # PyRunArgs' attributes are missing from ezkl's type stubs, hence setattr.
    for name, value in args["run_args"].items():
        setattr(run_args, name, value)
    if not ezkl.gen_settings(args["model"], args["settings"], py_run_args=run_args):
        raise BenchmarkError("ezkl gen_settings returned false")
    scales = args["calibration_scales"]
    if not ezkl.calibrate_settings(
        args["input"],
        args["model"],
        args["settings"],
        "resources",
        2.0,
        scales,
        [1],
        None,
    ):
        raise BenchmarkError("ezkl calibrate_settings returned false")
    if not ezkl.compile_circuit(args["model"], args["compiled"], args["settings"]):
        raise BenchmarkError("ezkl compile_circuit returned false")
    return {}


def _stage_srs(args: JSONDict) -> JSONDict:
    import ezkl

    started = time.perf_counter()
    ezkl.gen_srs(args["srs"], args["logrows"])
    return {"ms": (time.perf_counter() - started) * 1000}


def _stage_setup(args: JSONDict) -> JSONDict:
    import ezkl

    started = time.perf_counter()
    if not ezkl.setup(args["compiled"], args["vk"], args["pk"], args["srs"], None, False):
        raise BenchmarkError("ezkl setup returned false")
    return {"ms": (time.perf_counter() - started) * 1000}


def _stage_witness(args: JSONDict) -> JSONDict:
    import ezkl

    ezkl.gen_witness(args["input"], args["compiled"], args["witness"], None, None)
    # The returned dict lacks the rescaled (model-scale) values that the file carries.
    rows = json.loads(Path(args["witness"]).read_text())["pretty_elements"]["rescaled_outputs"]
    return {"outputs": [float(value) for row in rows for value in row]}


def _stage_prove(args: JSONDict) -> JSONDict:
    import ezkl

    started = time.perf_counter()
    ezkl.prove(args["witness"], args["compiled"], args["pk"], args["proof"], args["srs"])
    return {"ms": (time.perf_counter() - started) * 1000}


def _stage_verify(args: JSONDict) -> JSONDict:
    import ezkl

    started = time.perf_counter()
    try:
        verified = ezkl.verify(args["proof"], args["settings"], args["vk"], args["srs"], False)
        reason = ""
    except RuntimeError as exc:  # ezkl raises on a proof it rejects
        verified, reason = False, str(exc)
    return {
        "ms": (time.perf_counter() - started) * 1000,
        "verified": bool(verified),
        "reason": reason,
    }


def _stage_evm_verifier(args: JSONDict) -> JSONDict:
    import asyncio

    import ezkl

    async def create() -> Any:
        # Its future needs a running event loop at call time.
        return await ezkl.create_evm_verifier(
            args["vk"], args["settings"], args["sol"], args["abi"], args["srs"], False
        )

    if not asyncio.run(create()):
        raise BenchmarkError("ezkl create_evm_verifier returned false")
    calldata = ezkl.encode_evm_calldata(args["proof"], args["calldata"], None)
    return {"calldata_bytes": len(calldata)}


_STAGES: dict[str, Callable[[JSONDict], JSONDict]] = {
    "settings": _stage_settings,
    "srs": _stage_srs,
    "setup": _stage_setup,
    "witness": _stage_witness,
    "prove": _stage_prove,
    "verify": _stage_verify,
    "evm_verifier": _stage_evm_verifier,
}


def _own_peak_rss_kib() -> int | None:
    """This process's resident-set high-water mark since exec, in KiB (Linux), else None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _run_stage_request(request_path: Path) -> NoReturn:
    """Child side: run one stage, write its result file, and leave without interpreter exit."""
    request = json.loads(request_path.read_text())
    try:
        payload: JSONDict = {"ok": True, "result": _STAGES[request["stage"]](request["args"])}
        payload["peak_rss_kib"] = _own_peak_rss_kib()
        code = 0
    except Exception as exc:  # the parent turns this into a BenchmarkError with the log
        payload, code = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}, 1
    Path(request["result"]).write_text(json.dumps(payload))
    sys.stdout.flush()
    sys.stderr.flush()
    # ezkl's async runtime can crash the interpreter during normal shutdown.
    os._exit(code)


# --- stages (parent side) -----------------------------------------------------------------------


def _log_tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-_LOG_TAIL_CHARS:]


def _run_child(
    layout: _Layout,
    stage: str,
    args: JSONDict,
    *,
    label: str | None = None,
    home: Path | None = None,
    timeout_s: float,
) -> _StageRun:
    """Run `stage` in a child interpreter; its result and its own peak RSS."""
    name = label or stage
    request_path = layout.stages / f"{name}.request.json"
    result_path = layout.stages / f"{name}.result.json"
    log_path = layout.logs / f"{name}.log"
    result_path.unlink(missing_ok=True)
    request_path.write_text(
        json.dumps({"stage": stage, "args": args, "result": str(result_path)}, indent=1)
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_SOURCE_ROOT), env.get("PYTHONPATH", "")) if p
    )
    if home is not None:
        env["HOME"] = str(home)
    command = [sys.executable, "-m", _MODULE, _STAGE_FLAG, str(request_path)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=layout.run
        )
        timed_out = threading.Event()

        def kill_on_timeout() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout_s, kill_on_timeout)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
    try:
        payload = json.loads(result_path.read_text())
    except (OSError, ValueError):
        cause = f"killed after {timeout_s:g} s" if timed_out.is_set() else "the process died"
        payload = {"ok": False, "error": f"no result ({cause})"}
    if not payload.get("ok") or process.returncode != 0:
        raise BenchmarkError(
            f"ezkl stage {name!r} failed (exit code {process.returncode}): "
            f"{payload.get('error', 'no error reported')}\n"
            f"log {log_path}:\n{_log_tail(log_path)}"
        )
    result: JSONDict = payload["result"]
    # KiB on Linux; ru_maxrss only without /proc (it may include the caller's size).
    peak_kib = payload.get("peak_rss_kib") or usage.ru_maxrss
    return _StageRun(result=result, peak_rss_mib=peak_kib / 1024)


def _percentile(samples: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _cached_srs(layout: _Layout, logrows: int, timeout_s: float) -> tuple[Path, float | None]:
    """The SRS for `logrows` from the cache, generated (and timed) when missing."""
    srs = layout.srs / f"kzg{logrows}.srs"
    if srs.is_file() and srs.stat().st_size > 0:
        return srs, None
    _progress(f"generating an offline (insecure, test-only) SRS for logrows {logrows}")
    partial = srs.with_name(f"{srs.name}.partial-{os.getpid()}")
    try:
        run = _run_child(
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
    layout = _Layout.create(workdir or artifacts.settings.parent.parent)
    run = _run_child(
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


# --- EVM ----------------------------------------------------------------------------------------


def _install_svm_solc(evm_home: Path) -> None:
    """Make `evm_home/.svm/<ezkl's solc version>/solc-<version>` our offline compiler."""
    compiler = solc_path()
    if not compiler.is_file():
        raise ToolchainError(
            f"solc is not installed at {compiler}: run `make setup` in the repository"
        )
    link = evm_home / ".svm" / EZKL_SVM_SOLC_VERSION / f"solc-{EZKL_SVM_SOLC_VERSION}"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and Path(os.readlink(link)) == compiler:
        return
    link.unlink(missing_ok=True)
    link.symlink_to(compiler)


def _compile_verifier(sol_path: Path, optimizer_runs: int) -> tuple[str, int]:
    """Creation bytecode (hex) and runtime size in bytes of the verifier in `sol_path`."""
    import solcx

    standard_input = {
        "language": "Solidity",
        "sources": {sol_path.name: {"content": sol_path.read_text()}},
        "settings": {
            "optimizer": {"enabled": True, "runs": optimizer_runs},
            "evmVersion": VERIFIER_EVM_VERSION,
            "outputSelection": {"*": {"*": ["evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    try:
        output = solcx.compile_standard(standard_input, solc_binary=solc_path())
    except solcx.exceptions.SolcError as exc:
        raise BenchmarkError(f"compiling the ezkl verifier failed: {exc}") from exc
    contracts = output["contracts"][sol_path.name]
    if len(contracts) != 1:
        raise BenchmarkError(f"expected one contract in {sol_path}, found {sorted(contracts)}")
    (evm,) = (contract["evm"] for contract in contracts.values())
    return evm["bytecode"]["object"], len(evm["deployedBytecode"]["object"]) // 2


def _connect(rpc_url: str) -> Web3:
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 120}))
    if not w3.is_connected():
        raise BenchmarkError(f"no Ethereum JSON-RPC answers at {rpc_url}")
    return w3


def _transact(w3: Web3, transaction: TxParams, what: str) -> TxReceipt:
    from web3.exceptions import Web3Exception

    accounts = w3.eth.accounts
    if not accounts:
        raise BenchmarkError(
            "the RPC has no unlocked account to send from (use anvil's default accounts)"
        )
    try:
        tx_hash = w3.eth.send_transaction({"from": accounts[0], **transaction})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    except Web3Exception as exc:
        raise BenchmarkError(f"{what} failed: {exc}") from exc
    if receipt["status"] != 1:
        raise BenchmarkError(f"{what} reverted (transaction {tx_hash.hex()})")
    return receipt


def call_verifier(rpc_url: str, address: str, calldata: bytes) -> bool:
    """Whether the verifier at `address` returns true for `calldata` (False if it reverts)."""
    from web3 import Web3
    from web3.exceptions import ContractLogicError

    w3 = _connect(rpc_url)
    try:
        returned = w3.eth.call({"to": Web3.to_checksum_address(address), "data": calldata})
    except ContractLogicError:
        return False
    return len(returned) == 32 and int.from_bytes(returned, "big") == 1


@dataclass(frozen=True)
class _EvmNumbers:
    address: str
    runtime_bytes: int
    deploy_gas: int
    verify_gas: int


def _measure_evm(
    rpc_url: str, sol_path: Path, calldata_path: Path, optimizer_runs: int
) -> _EvmNumbers:
    bytecode, runtime_bytes = _compile_verifier(sol_path, optimizer_runs)
    w3 = _connect(rpc_url)
    deployed = _transact(w3, {"data": bytes.fromhex(bytecode)}, "deploying the ezkl verifier")
    address = deployed["contractAddress"]
    if address is None:
        raise BenchmarkError("deploying the ezkl verifier created no contract")
    calldata = calldata_path.read_bytes()
    if not call_verifier(rpc_url, address, calldata):
        raise BenchmarkError(f"the deployed ezkl verifier at {address} rejects ezkl's proof")
    verified = _transact(w3, {"to": address, "data": calldata}, "the verify transaction")
    return _EvmNumbers(
        address=str(address),
        runtime_bytes=runtime_bytes,
        deploy_gas=int(deployed["gasUsed"]),
        verify_gas=int(verified["gasUsed"]),
    )


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
    if repeats < 1:
        raise BenchmarkError(f"repeats must be at least 1, got {repeats}")
    w, b, x, integral = _check_model_arrays(weights, bias, sample_input)
    outputs, inputs = w.shape
    layout = _Layout.create(workdir)
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

    _progress(f"model {outputs}x{inputs}: settings, calibration, compilation")
    build_linear_onnx(w, b, artifacts.model)
    artifacts.input.write_text(json.dumps({"input_data": [x.tolist()]}))
    run_args: JSONDict = {
        "input_visibility": input_visibility,
        "param_visibility": param_visibility,
        "output_visibility": output_visibility,
        "decomp_base": decomp_base,
        "decomp_legs": decomp_legs,
    }
    if integral:
        run_args |= {"input_scale": 0, "param_scale": 0}
    _run_child(
        layout,
        "settings",
        {
            "model": str(artifacts.model),
            "input": str(artifacts.input),
            "settings": str(artifacts.settings),
            "compiled": str(artifacts.compiled),
            "run_args": run_args,
            "calibration_scales": [0] if integral else None,
        },
        timeout_s=timeout,
    )
    settings = json.loads(artifacts.settings.read_text())
    logrows = int(settings["run_args"]["logrows"])

    srs, srs_ms = _cached_srs(layout, logrows, timeout)
    artifacts = replace(artifacts, srs=srs)
    paths = {name: str(path) for name, path in asdict(artifacts).items() if path is not None}

    _progress(f"setup (logrows {logrows}, {settings['num_rows']} rows)")
    setup = _run_child(layout, "setup", paths, timeout_s=timeout)
    witness = _run_child(layout, "witness", paths, timeout_s=timeout)

    prove_runs = []
    for index in range(repeats):
        _progress(f"prove {index + 1}/{repeats}")
        prove_runs.append(
            _run_child(layout, "prove", paths, label=f"prove-{index + 1}", timeout_s=timeout)
        )
    prove_ms = tuple(float(r.result["ms"]) for r in prove_runs)

    verify = _run_child(layout, "verify", paths, timeout_s=timeout)
    if not verify.result["verified"]:
        raise BenchmarkError(f"ezkl rejects its own proof: {verify.result['reason']}")

    evm: _EvmNumbers | None = None
    if deploy_rpc_url is not None:
        _progress("Solidity verifier: generation, compilation, deployment, verify transaction")
        _install_svm_solc(layout.evm_home)
        _run_child(
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
        evm = _measure_evm(deploy_rpc_url, verifier_sol, calldata, optimizer_runs)

    proof_json = json.loads(artifacts.proof.read_text())
    result = EzklResult(
        ezkl_version=package_version("ezkl"),
        inputs=inputs,
        outputs=outputs,
        input_visibility=input_visibility,
        param_visibility=param_visibility,
        output_visibility=output_visibility,
        input_scale=int(settings["run_args"]["input_scale"]),
        param_scale=int(settings["run_args"]["param_scale"]),
        decomp_base=decomp_base,
        decomp_legs=decomp_legs,
        logrows=logrows,
        num_rows=int(settings["num_rows"]),
        total_assignments=int(settings["total_assignments"]),
        srs_ms=srs_ms,
        setup_ms=float(setup.result["ms"]),
        setup_peak_rss_mib=setup.peak_rss_mib,
        prove_ms=prove_ms,
        prove_ms_median=statistics.median(prove_ms),
        prove_ms_p90=_percentile(prove_ms, 0.9),
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
    _progress(
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
    if arguments[:1] == [_STAGE_FLAG] and len(arguments) == 2:
        _run_stage_request(Path(arguments[1]))
    parser = argparse.ArgumentParser(
        prog=f"python -m {_MODULE}", description="Prove y = W x + b with ezkl and measure it."
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
