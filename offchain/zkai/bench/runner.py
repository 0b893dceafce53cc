"""`zkai bench`: Groth16 per share against ezkl and plaintext, on-chain gas, a local network
end to end, encrypted training and scaling, in one JSON document.

Sections (each a function, so tests can run the cheap ones alone):

- `groth16_model_section`: constraints, a fresh setup (in the artifacts root given, normally a
  temporary one), prove time per share (median, p90; the witness path is named), off-chain
  verify time, proof and verifier sizes, plaintext times (float numpy `W x + b`, the integer
  `Manifest.forward`) and a node's compute on one share (`Manifest.masked_output`).
- `ezkl_section`: `run_ezkl_baseline` on the manifest's own integers (rescaled to the largest
  scales ezkl's float32 ONNX and 2^28 range checks accept, recorded as such).
- `NetworkBench`: a LocalNetwork (anvil, private Redis, contracts, two nodes, API) in a
  temporary data folder on free ports; submitResult gas from real queries (with the verifier's
  share from the call trace), the bare verifier's gas, latency per private query, throughput with
  concurrent users (each its own funded anvil account), and requestQuery gas against k.
- `training_section`: TenSEAL CKKS encryption of one update and aggregation of M updates.
- `scaling_section`: prove time and verifier gas against the input size of a random linear model.

`verify_gas_floor(l)` is the floor the issue measures submitResult against:
21000 + 45000 + 4 * 34000 + l * 6150 + 16 * (256 + 32 l).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.build import build_circuit_dev, circuit_info
from zkai.circuits.prove import (
    PROOF_BYTES,
    WitnessPath,
    proof_words,
    prove_share,
    verify_share_proof,
)
from zkai.crypto.field import encode_signed_vector
from zkai.crypto.sharing import deal
from zkai.errors import ZKAIError
from zkai.models.demo import DEMO_MODELS, load_demo_manifest, load_split
from zkai.models.importers import from_linear
from zkai.models.manifest import Manifest
from zkai.units import ETHER

__all__ = [
    "BenchOptions",
    "Progress",
    "ezkl_scales",
    "groth16_model_section",
    "percentile",
    "run_bench",
    "targets_section",
    "training_section",
    "verify_gas_floor",
]

JSONDict = dict[str, Any]
Progress = Callable[[str], None]

# EIP-1108 pairing check with 4 pairings, per public input an ecMul (6000) + ecAdd (150).
FLOOR_INTRINSIC, FLOOR_PAIRING_BASE = 21_000, 45_000
FLOOR_PER_PAIRING, FLOOR_PER_INPUT = 34_000, 6_150
FLOOR_PAIRINGS = 4
EZKL_MAX_ABS = 2**24  # ONNX float32 holds integers exactly below this
EZKL_OUTPUT_MAX_ABS = 2**27  # 128^4 = 2^28 range check on (signed) outputs
FIRST_USER_INDEX = 5
TARGET_PROVE_MS, TARGET_EZKL_SPEEDUP, TARGET_FLOOR_RATIO = 250.0, 15.0, 1.25
TARGET_LATENCY_S, TARGET_QPS = 2.0, 2.0


@dataclass(frozen=True)
class BenchOptions:
    repeats: int = 10
    queries: int = 10
    users: int = 4
    quick: bool = False
    full: bool = False
    skip_e2e: bool = False
    skip_ezkl: bool = False
    witness: WitnessPath = "auto"


# --- small helpers ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 1]) of a non-empty sample."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


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


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _stats_ms(samples_s: Sequence[float]) -> JSONDict:
    ms = [s * 1000.0 for s in samples_s]
    return {
        "median": round(statistics.median(ms), 3),
        "p90": round(percentile(ms, 0.9), 3),
        "min": round(min(ms), 3),
        "max": round(max(ms), 3),
        "samples": len(ms),
    }


def _time_call(
    call: Callable[[], object], *, budget_s: float = 0.2, max_iter: int = 20_000
) -> float:
    """Median seconds per call of a fast function, from batches that fill about `budget_s`."""
    call()
    started = time.perf_counter()
    call()
    once = max(time.perf_counter() - started, 1e-7)
    per_batch = max(1, min(max_iter, int(0.02 / once)))
    batches: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(batches) < 5 or (time.perf_counter() < deadline and len(batches) < 50):
        t0 = time.perf_counter()
        for _ in range(per_batch):
            call()
        batches.append((time.perf_counter() - t0) / per_batch)
    return statistics.median(batches)


def _rss_mib(field: str = "VmRSS") -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _reset_peak_rss() -> None:
    """Reset this process's VmHWM (Linux: writing 5 to clear_refs); no-op where unsupported."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _version(package: str) -> str | None:
    try:
        return package_version(package)
    except PackageNotFoundError:
        return None


def _tool_version(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    for line in lines:
        if re.search(r"\d+\.\d+\.\d+", line):
            return line.strip()
    return lines[0].strip() if lines else None


def metadata(options: BenchOptions) -> JSONDict:
    from zkai.toolchain import require_tool, solc_path

    anvil: str | None
    try:
        anvil = _tool_version([require_tool("anvil"), "--version"])
    except ZKAIError:
        anvil = None
    load = os.getloadavg()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in load],
        "cpu_note": "2-core machine shared with other jobs; times include that contention"
        if (os.cpu_count() or 0) <= 2 or load[0] > 0.5
        else None,
        "python": platform.python_version(),
        "versions": {
            "groth16py": _version("groth16py"),
            "ezkl": _version("ezkl"),
            "tenseal": _version("tenseal"),
            "numpy": _version("numpy"),
            "web3": _version("web3"),
            "solc": _tool_version([str(solc_path()), "--version"]),
            "anvil": anvil,
        },
        "options": {
            "repeats": options.repeats,
            "queries": options.queries,
            "users": options.users,
            "quick": options.quick,
            "full": options.full,
            "skip_e2e": options.skip_e2e,
            "skip_ezkl": options.skip_ezkl,
            "witness": options.witness,
        },
    }


# --- Groth16 and plaintext, per model -----------------------------------------------------------


def _sample_input(name: str) -> list[float]:
    return [float(v) for v in load_split(name).x_test[0]]


def _float_model(manifest: Manifest) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    w = np.asarray(manifest.weights, dtype=np.float64) / float(1 << manifest.weight_scale_bits)
    b = np.asarray(manifest.bias, dtype=np.float64) / float(1 << manifest.output_scale_bits)
    return w, b


def plaintext_section(manifest: Manifest, x: Sequence[float]) -> JSONDict:
    """Float numpy W x + b, the integer `forward`, and a node's `masked_output` on one share."""
    w, b = _float_model(manifest)
    xf = np.asarray(x, dtype=np.float64)
    x_int = manifest.quantise_input(x)
    opening = deal(encode_signed_vector(x_int, what="input"), 2, manifest.output_size)[0].opening()
    numpy_s = _time_call(lambda: w @ xf + b)
    forward_s = _time_call(lambda: manifest.forward(x_int))
    masked_s = _time_call(lambda: manifest.masked_output(opening.share, opening.mask))
    return {
        "numpy_float_us": round(numpy_s * 1e6, 3),
        "integer_forward_us": round(forward_s * 1e6, 3),
        "node_masked_output_us": round(masked_s * 1e6, 3),
        "node_compute_vs_numpy": round(masked_s / numpy_s, 1),
        "note": "node compute = W s + m (mod r) in Python big integers for one share, "
        "without proving; numpy = float64 W x + b",
    }


def groth16_model_section(
    manifest: Manifest,
    x: Sequence[float],
    artifacts_root: Path,
    *,
    repeats: int,
    witness: WitnessPath = "auto",
    say: Progress = lambda _m: None,
) -> tuple[JSONDict, CircuitArtifacts]:
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
    _reset_peak_rss()
    rss_before = _rss_mib()
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
    peak = _rss_mib("VmHWM")
    assert proof is not None
    prove = _stats_ms(prove_s)
    verify = _stats_ms(verify_s)
    public_inputs = artifacts.n_public
    floor = verify_gas_floor(public_inputs)
    section: JSONDict = {
        "constraints": artifacts.constraints,
        "public_inputs": public_inputs,
        "setup_ms": round(artifacts.setup_seconds * 1000.0, 1),
        "setup_wall_ms": _ms(build_wall_s),
        "setup_fresh": build_wall_s > 0.5 * artifacts.setup_seconds,
        "setup_kind": artifacts.setup_kind,
        "proving_key_bytes": info["proving_key_bytes"],
        "witness_path": path,
        "prove_ms": [round(s * 1000.0, 3) for s in prove_s],
        "prove_ms_median": prove["median"],
        "prove_ms_p90": prove["p90"],
        "bench_process_peak_rss_mib": round(peak, 1),
        "bench_process_rss_before_prove_mib": round(rss_before, 1),
        "memory_note": "Groth16 proves in the bench process (Python, numpy, web3, the proving "
        "key) with the witness in a Node child: its peak is the whole process's, not comparable "
        "with ezkl's per-prover-process peak",
        "verify_offchain_ms_median": verify["median"],
        "proof_bytes": len(proof.proof),
        "verifier_runtime_bytes": info["verifier_runtime_bytes"],
        "verifier_initcode_bytes": info["verifier_initcode_bytes"],
        "calldata_bytes_proof_and_inputs": proof_calldata_bytes(public_inputs),
        "verify_gas_floor": floor,
        # Filled in by the chain section:
        "submit_result_gas": None,
        "bare_verifier_gas": None,
        "submit_result_gas_over_floor": None,
    }
    return section, artifacts


# --- ezkl -----------------------------------------------------------------------------------------


def ezkl_scales(manifest: Manifest, x_int: Sequence[int]) -> tuple[int, int]:
    """(input bits dropped, weight bits dropped): the smallest reduction of the manifest's
    scales for which W, b and x are below 2^24 and the sample's |W x + b| below 2^27."""
    w = np.asarray(manifest.weights, dtype=object)
    b = np.asarray(manifest.bias, dtype=object)
    x = np.asarray(list(x_int), dtype=object)
    best: tuple[int, int] | None = None
    for total in range(manifest.input_scale_bits + manifest.weight_scale_bits + 1):
        for dx in range(min(total, manifest.input_scale_bits) + 1):
            dw = total - dx
            if dw > manifest.weight_scale_bits:
                continue
            ws, bs, xs = _rescaled(w, b, x, dx, dw)
            y = ws.dot(xs) + bs
            fits = (
                max(_abs_max(ws), _abs_max(bs), _abs_max(xs)) < EZKL_MAX_ABS
                and _abs_max(y) < EZKL_OUTPUT_MAX_ABS
            )
            if fits and (best is None or abs(dx - dw) < abs(best[0] - best[1])):
                best = (dx, dw)
        if best is not None:
            return best
    raise ZKAIError(f"no scale of {manifest.name} fits ezkl's 2^24 limit")


def _shift(values: np.ndarray[Any, Any], bits: int) -> np.ndarray[Any, Any]:
    if bits == 0:
        return values
    half = 1 << (bits - 1)
    shifted: np.ndarray[Any, Any] = np.vectorize(
        lambda v: (int(v) + half) >> bits, otypes=[object]
    )(values)
    return shifted


def _rescaled(
    w: np.ndarray[Any, Any], b: np.ndarray[Any, Any], x: np.ndarray[Any, Any], dx: int, dw: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return _shift(w, dw), _shift(b, dx + dw), _shift(x, dx)


def _abs_max(values: np.ndarray[Any, Any]) -> int:
    return int(max(abs(int(v)) for v in np.ravel(values)))


def ezkl_section(
    manifest: Manifest,
    x: Sequence[float],
    workdir: Path,
    *,
    repeats: int,
    rpc_url: str | None,
    say: Progress,
) -> JSONDict:
    from zkai.bench.ezkl_baseline import run_ezkl_baseline

    x_int = manifest.quantise_input(x)
    dx, dw = ezkl_scales(manifest, x_int)
    w = np.asarray(manifest.weights, dtype=object)
    b = np.asarray(manifest.bias, dtype=object)
    ws, bs, xs = _rescaled(w, b, np.asarray(x_int, dtype=object), dx, dw)
    note = (
        "manifest integers used as they are"
        if dx == dw == 0
        else f"manifest integers exceed ezkl's float32 limit (2^24) or its 2^28 output range "
        f"at scales 2^{manifest.input_scale_bits} (input) / 2^{manifest.weight_scale_bits} "
        f"(weights); ezkl proves the same model at 2^{manifest.input_scale_bits - dx} / "
        f"2^{manifest.weight_scale_bits - dw}"
    )
    say(f"{manifest.name}: ezkl baseline ({note})")
    result = run_ezkl_baseline(
        ws.astype(np.int64),
        bs.astype(np.int64),
        xs.astype(np.int64),
        workdir,
        repeats=repeats,
        deploy_rpc_url=rpc_url,
    )
    data = result.to_json_dict()
    data.pop("artifacts", None)
    data["input_scale_bits_used"] = manifest.input_scale_bits - dx
    data["weight_scale_bits_used"] = manifest.weight_scale_bits - dw
    data["rescaled"] = bool(dx or dw)
    data["scale_note"] = note
    return data


# --- encrypted training -------------------------------------------------------------------------


def training_section(sizes: Sequence[int], updates: int, say: Progress) -> JSONDict:
    """The product's encrypted-training path (`zkai.training.he`, its default CKKS parameters):
    encrypting one update into its wire envelope, adding `updates` of them to a running sum as
    the aggregation worker does, and the key holder's decryption of the sum."""
    from zkai.training.he import CkksParameters, EncryptedSum, KeyHolder, encrypt_update

    parameters = CkksParameters.default()
    holder = KeyHolder.generate(parameters)
    public = holder.public_context()
    rows: list[JSONDict] = []
    rng = np.random.default_rng(7)
    for size in sizes:
        say(
            f"encrypted training: {updates} updates of {size} parameters "
            f"(CKKS N={parameters.poly_modulus_degree})"
        )
        vectors = [rng.normal(0.0, 0.01, size) for _ in range(updates)]
        _reset_peak_rss()
        rss0 = _rss_mib()
        encrypt_s: list[float] = []
        encrypted: list[bytes] = []
        for vector in vectors:
            t0 = time.perf_counter()
            encrypted.append(encrypt_update(public, vector))
            encrypt_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        accumulator = EncryptedSum(public, size)
        for update in encrypted:
            accumulator.add(update)
        total = accumulator.to_bytes()
        aggregate_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        decrypted = holder.decrypt_sum(total, min_updates=updates)
        decrypt_s = time.perf_counter() - t0
        error = float(np.max(np.abs(decrypted - np.sum(vectors, axis=0))))
        rows.append(
            {
                "parameters": size,
                "ciphertexts_per_update": parameters.chunks(size),
                "encrypt_ms_median": round(statistics.median(encrypt_s) * 1000.0, 3),
                "aggregate_updates": updates,
                "aggregate_ms": _ms(aggregate_s),
                "decrypt_sum_ms": _ms(decrypt_s),
                "ciphertext_bytes_per_update": len(encrypted[0]),
                "rss_growth_mib": round(_rss_mib() - rss0, 1),
                "peak_rss_mib": round(_rss_mib("VmHWM"), 1),
                "max_abs_error_of_sum": error,
            }
        )
        del encrypted, accumulator, total
    return {
        "scheme": "CKKS",
        "poly_modulus_degree": parameters.poly_modulus_degree,
        "coeff_mod_bit_sizes": list(parameters.coeff_mod_bit_sizes),
        "scale_bits": parameters.global_scale_bits,
        "tenseal": _version("tenseal"),
        "rows": rows,
    }


# --- scaling (off-chain part) -------------------------------------------------------------------


def random_linear_manifest(inputs: int, outputs: int = 10, seed: int = 0) -> Manifest:
    rng = np.random.default_rng(seed + inputs)
    weights = rng.integers(-1000, 1001, size=(outputs, inputs)).astype(np.float64)
    bias = rng.integers(-1000, 1001, size=outputs).astype(np.float64)
    return from_linear(
        weights,
        bias,
        name=f"bench-linear-{inputs}",
        version=1,
        input_scale_bits=0,
        weight_scale_bits=0,
        postprocess="argmax",
        input_min=[0.0] * inputs,
        input_max=[16.0] * inputs,
    )


def scaling_offchain(
    sizes: Sequence[int], artifacts_root: Path, repeats: int, say: Progress
) -> list[tuple[JSONDict, CircuitArtifacts]]:
    rows = []
    for n in sizes:
        manifest = random_linear_manifest(n)
        x = [float(v) for v in np.random.default_rng(n).integers(0, 17, n)]
        say(f"scaling: {n} inputs x 10 outputs")
        section, artifacts = groth16_model_section(
            manifest, x, artifacts_root, repeats=repeats, say=say
        )
        row = {
            "inputs": n,
            "outputs": 10,
            **{
                k: section[k]
                for k in (
                    "constraints",
                    "setup_ms",
                    "proving_key_bytes",
                    "witness_path",
                    "prove_ms_median",
                    "prove_ms_p90",
                    "verify_offchain_ms_median",
                    "verifier_runtime_bytes",
                    "verify_gas_floor",
                )
            },
            "bare_verifier_gas": None,
        }
        rows.append((row, artifacts))
    return rows


# --- the chain: a local network -----------------------------------------------------------------


def _find_verifier_frame(frame: JSONDict) -> JSONDict | None:
    """The call frame that calls the pairing precompile (0x...08): the Groth16 verifier."""
    calls = frame.get("calls", []) or []
    if any(str(c.get("to", "")).lower().endswith("0" * 38 + "08") for c in calls):
        return frame
    for call in calls:
        found = _find_verifier_frame(call)
        if found is not None:
            return found
    return None


def _intrinsic_gas(data: bytes) -> int:
    zeros = data.count(0)
    return 21_000 + 4 * zeros + 16 * (len(data) - zeros)


class NetworkBench:
    """A LocalNetwork in a temporary data folder, and the measurements made on it."""

    def __init__(self, data_dir: Path, artifacts_root: Path, say: Progress) -> None:
        from zkai.localnet.network import LocalNetwork

        self.data_dir = data_dir
        self.artifacts_root = artifacts_root
        self.say = say
        self.network = LocalNetwork(data_dir, say=lambda m: say(f"localnet: {m}"))
        self.saved_env: dict[str, str | None] = {}
        self.started = False

    # -- lifecycle ------------------------------------------------------------------------------

    def _set_env(self, values: dict[str, str]) -> None:
        from zkai.config import get_settings

        for key, value in values.items():
            self.saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        get_settings.cache_clear()

    def up(self) -> JSONDict:
        from zkai.devservices import free_port
        from zkai.localnet.network import UpOptions

        # A private Redis (the URL below answers nothing, so the network starts its own) and the
        # bench's artifacts root, shared with the nodes.
        for key in ("ZKAI_RPC_URL", "ZKAI_NETWORK", "ZKAI_DEPLOYMENTS_DIR"):
            self.saved_env.setdefault(key, os.environ.get(key))
        self._set_env(
            {
                "ZKAI_DATA_DIR": str(self.data_dir),
                "ZKAI_ARTIFACTS_DIR": str(self.artifacts_root),
                "ZKAI_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            }
        )
        self.options = UpOptions(nodes=2, shares=2, rpc_port=free_port(), api_port=free_port())
        started = time.perf_counter()
        self.started = True
        status = self.network.up(self.options)
        self.up_s = time.perf_counter() - started
        self.status = status
        self.rpc_url = str(status["endpoints"]["rpc"])
        return status

    def down(self) -> None:
        from zkai.config import get_settings

        if self.started:
            with contextlib.suppress(Exception):
                self.say("localnet: stopping")
            self.network.down()
            self.started = False
        for key, value in self.saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()

    # -- helpers ----------------------------------------------------------------------------------

    def chain(self) -> Any:
        from zkai.chain.client import ChainClient, Deployment, deployment_path

        return ChainClient(self.rpc_url, Deployment.load(deployment_path("local")))

    def model(self, name: str) -> tuple[int, Manifest]:
        from zkai.localnet.network import ANVIL_CHAIN_ID
        from zkai.models.catalog import ModelCatalog

        entry = ModelCatalog(ANVIL_CHAIN_ID, self.data_dir).get(name)
        return entry.model_id, entry.manifest()

    def node_logs(self) -> dict[str, Path]:
        return {
            p.name: Path(p.log) for p in self.network.state.processes if p.name.startswith("node-")
        }

    def _trace(self, chain: Any, tx_hash: str) -> JSONDict:
        response = chain.w3.provider.make_request(
            "debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}]
        )
        result: JSONDict = response["result"]
        return result

    def query_once(self, chain: Any, account: Any, name: str, x: Sequence[float]) -> Any:
        from zkai.client.query import QueryClient

        model_id, manifest = self.model(name)
        client = QueryClient(chain, account)
        pending = client.submit(name, manifest, model_id, x, deadline_s=300)
        outcome = client.wait(pending, manifest)
        if outcome.expired:
            raise ZKAIError(f"a {name} query expired on the local network")
        expected = manifest.forward(manifest.quantise_input(x))
        if outcome.outputs != expected:
            raise ZKAIError(f"a {name} query answered {outcome.outputs}, plaintext {expected}")
        return outcome

    # -- measurements -----------------------------------------------------------------------------

    def gas_section(self, name: str, artifacts: CircuitArtifacts, queries: int) -> JSONDict:
        """submitResult gas of real queries (first and steady state) and the bare verifier."""
        from zkai.localnet_state import DEMO_USER_INDEX, DEPLOYER_INDEX, anvil_account

        chain = self.chain()
        user = anvil_account(DEMO_USER_INDEX)
        split = load_split(name)
        outcomes = []
        for i in range(queries):
            self.say(f"{name}: query {i + 1}/{queries} on the local network (gas)")
            outcomes.append(self.query_once(chain, user, name, [float(v) for v in split.x_test[i]]))
        first = [s.gas_used for s in outcomes[0].shares]
        steady = [s.gas_used for o in outcomes[1:] for s in o.shares] or first
        last_tx = outcomes[-1].shares[0].tx_hash
        trace = self._trace(chain, last_tx)
        frame = _find_verifier_frame(trace)
        verifier_frame = int(frame["gasUsed"], 16) if frame else None
        tx = chain.w3.eth.get_transaction(last_tx)
        calldata = bytes(tx["input"])
        intrinsic = _intrinsic_gas(calldata)

        # The bare verifier: deploy the generated verifier and send verifyProof as a transaction.
        deployer = anvil_account(DEPLOYER_INDEX)
        build = artifacts.verifier_build
        address, deploy_receipt = chain.deploy(
            deployer, (build["abi"], "0x" + build["bytecode"].removeprefix("0x"))
        )
        manifest = artifacts.manifest
        opening = deal(
            encode_signed_vector(manifest.quantise_input(_sample_input(name)), what="input"),
            2,
            manifest.output_size,
        )[0].opening()
        proof = prove_share(artifacts, opening)
        bare_tx, bare_estimate = self.bare_verifier_gas(chain, deployer, address, build, proof)
        steady_median = int(statistics.median(steady))
        total = int(outcomes[-1].shares[0].gas_used)
        return {
            "submit_result_gas": steady_median,
            "submit_result_gas_first_of_node": first,
            "submit_result_gas_samples": steady,
            "request_query_gas": [o.request_gas for o in outcomes],
            "bare_verifier_gas": bare_tx,
            "bare_verifier_estimate_gas": bare_estimate,
            "verifier_deploy_gas": int(deploy_receipt["gasUsed"]),
            "submit_result_breakdown": {
                "tx": last_tx,
                "total": total,
                "verifier_frame": verifier_frame,
                "intrinsic_and_calldata": intrinsic,
                "calldata_bytes": len(calldata),
                "rest_market_and_adapter": None
                if verifier_frame is None
                else total - verifier_frame - intrinsic,
            },
        }

    def bare_verifier_gas(
        self, chain: Any, account: Any, address: str, build: JSONDict, proof: Any
    ) -> tuple[int, int]:
        w = proof_words(proof.proof)
        contract = chain.w3.eth.contract(address=address, abi=build["abi"])
        fn = contract.functions.verifyProof(
            [w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]], list(proof.public_inputs)
        )
        if not chain.call(fn):
            raise ZKAIError("the deployed verifier rejects a valid proof")
        estimate = chain.estimate_gas(account, fn)
        receipt = chain.transact(account, fn)
        return int(receipt["gasUsed"]), int(estimate)

    def latency_section(self, name: str, queries: int) -> JSONDict:
        from zkai.localnet_state import DEMO_USER_INDEX, anvil_account

        chain = self.chain()
        user = anvil_account(DEMO_USER_INDEX)
        split = load_split(name)
        latencies = []
        for i in range(queries):
            x = [float(v) for v in split.x_test[(i + 2) % len(split.x_test)]]
            outcome = self.query_once(chain, user, name, x)
            latencies.append(outcome.latency_s)
            self.say(f"e2e {name}: query {i + 1}/{queries} {outcome.latency_s:.2f} s")
        return {
            "model": name,
            "nodes": self.options.nodes,
            "shares": self.options.shares,
            "worker_concurrency": self.options.worker_concurrency,
            "queries": queries,
            "latency_s": [round(v, 3) for v in latencies],
            "latency_s_median": round(statistics.median(latencies), 3),
            "latency_s_p90": round(percentile(latencies, 0.9), 3),
        }

    def _fund_users(self, chain: Any, users: int) -> list[Any]:
        from zkai.localnet_state import DEPLOYER_INDEX, anvil_account

        deployer = anvil_account(DEPLOYER_INDEX)
        token = chain.contract("ZKAIToken")
        accounts = [anvil_account(FIRST_USER_INDEX + i) for i in range(users)]
        for account in accounts:
            chain.transact(deployer, token.functions.transfer(account.address, 1_000 * ETHER))
            if chain.w3.eth.get_balance(account.address) < ETHER:
                self._send_eth(chain, deployer, account.address, 100 * ETHER)
        return accounts

    @staticmethod
    def _send_eth(chain: Any, sender: Any, to: str, value: int) -> None:
        tx = {
            "to": to,
            "value": value,
            "gas": 21_000,
            "nonce": chain.w3.eth.get_transaction_count(sender.address, "pending"),
            "chainId": chain.deployment.chain_id,
            "maxFeePerGas": 2 * chain.w3.eth.gas_price + 1,
            "maxPriorityFeePerGas": 1,
        }
        signed = sender.sign_transaction(tx)
        tx_hash = chain.w3.eth.send_raw_transaction(signed.raw_transaction)
        chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)

    def throughput_section(
        self, name: str, users: int, total: int, unloaded_latency_s: float | None
    ) -> JSONDict:
        chain = self.chain()
        accounts = self._fund_users(chain, users)
        split = load_split(name)
        work = list(range(total))
        lock = threading.Lock()
        latencies: list[float] = []
        errors: list[str] = []
        done_at: list[float] = []

        def user(account: Any) -> None:
            own_chain = self.chain()
            while True:
                with lock:
                    if not work:
                        return
                    index = work.pop()
                x = [float(v) for v in split.x_test[index % len(split.x_test)]]
                try:
                    outcome = self.query_once(own_chain, account, name, x)
                except Exception as exc:  # reported in the JSON
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    latencies.append(outcome.latency_s)
                    done_at.append(time.time())

        self.say(f"throughput: {total} {name} queries from {users} concurrent users")
        t0_wall = time.time()
        started = time.perf_counter()
        threads = [threading.Thread(target=user, args=(a,), daemon=True) for a in accounts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        t1_wall = time.time()
        completed = len(latencies)
        qps = completed / wall if wall > 0 else 0.0
        nodes = self._node_work(t0_wall, t1_wall)
        k = self.options.shares
        txs = completed * (1 + k)
        busiest = max((n["busy_fraction"] for n in nodes.values()), default=0.0)
        queue_waits = [w for n in nodes.values() for w in n.pop("_queue_waits_ms")]
        queue_median = statistics.median(queue_waits) if queue_waits else None
        bottleneck = self._bottleneck(busiest, queue_median, latencies, unloaded_latency_s)
        self.say(f"throughput: {qps:.2f} queries/s; bottleneck: {bottleneck}")
        return {
            "model": name,
            "users": users,
            "queries": total,
            "completed": completed,
            "errors": errors[:5],
            "wall_s": round(wall, 3),
            "throughput_qps": round(qps, 3),
            "latency_s_median_under_load": round(statistics.median(latencies), 3)
            if latencies
            else None,
            "latency_s_p90_under_load": round(percentile(latencies, 0.9), 3) if latencies else None,
            "chain_tx_per_s": round(txs / wall, 2) if wall > 0 else None,
            "nodes": nodes,
            "node_queue_wait_ms_median": None if queue_median is None else round(queue_median, 1),
            "bottleneck": bottleneck,
        }

    def _node_work(self, t0: float, t1: float) -> dict[str, JSONDict]:
        """Per node, from its JSON log: shares submitted in [t0, t1], proving and busy time."""
        result: dict[str, JSONDict] = {}
        for name, path in self.node_logs().items():
            prove, busy, waits = [], [], []
            with contextlib.suppress(OSError):
                for line in path.read_text(errors="replace").splitlines():
                    if '"share.submitted"' not in line:
                        continue
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if not t0 <= float(entry.get("ts", 0)) <= t1 + 1:
                        continue
                    prove.append(float(entry.get("prove_ms") or 0.0))
                    busy.append(float(entry.get("duration_ms") or 0.0))
                    since = entry.get("since_enqueue_ms")
                    if since is not None:
                        waits.append(max(0.0, float(since) - float(entry.get("duration_ms") or 0)))
            wall_ms = max((t1 - t0) * 1000.0, 1.0)
            result[name] = {
                "shares": len(prove),
                "prove_ms_total": round(sum(prove), 1),
                "prove_ms_median": round(statistics.median(prove), 1) if prove else None,
                "task_ms_total": round(sum(busy), 1),
                "busy_fraction": round(sum(busy) / wall_ms, 3),
                "prove_fraction": round(sum(prove) / wall_ms, 3),
                "submit_overhead_ms_per_share": round((sum(busy) - sum(prove)) / len(prove), 1)
                if prove
                else None,
                "_queue_waits_ms": waits,
            }
        return result

    @staticmethod
    def _bottleneck(
        busiest: float,
        queue_median_ms: float | None,
        latencies: Sequence[float],
        unloaded_s: float | None,
    ) -> str:
        if busiest >= 0.75:
            return (
                f"node workers: the busiest node is busy {busiest:.0%} of the wall time (every "
                "query needs both nodes, one worker each, proving on a shared 2-core CPU); "
                "more nodes or worker concurrency would raise throughput"
            )
        if queue_median_ms is not None and queue_median_ms > 500:
            return (
                f"node workers: shares wait {queue_median_ms:.0f} ms (median) in the Celery "
                f"queue for the node's single worker (busiest node busy {busiest:.0%} of the "
                "wall time, ramp-up and ramp-down included); every query needs both nodes"
            )
        if latencies and unloaded_s and statistics.median(latencies) > 2 * unloaded_s:
            return "CPU contention: latency under load is more than twice the unloaded latency"
        return (
            f"client round trips and polling (nodes busy {busiest:.0%} of the time): each user "
            "waits for its answer before sending the next query"
        )

    def k_scaling_section(self, ks: Sequence[int]) -> list[JSONDict]:
        """requestQuery gas and calldata against k, with extra (offline) nodes registered."""
        from eth_account import Account

        from zkai.client.query import QueryClient
        from zkai.crypto.encryption import generate_keypair
        from zkai.localnet_state import DEMO_USER_INDEX, DEPLOYER_INDEX, anvil_account
        from zkai.registration import register_model

        chain = self.chain()
        deployer = anvil_account(DEPLOYER_INDEX)
        user = anvil_account(DEMO_USER_INDEX)
        manifest = load_demo_manifest("digits")
        artifacts = build_circuit_dev(manifest, artifacts_root=self.artifacts_root)
        model_ids = {}
        for k in ks:
            self.say(f"k scaling: registering digits with k = {k}")
            model_ids[k], _ = register_model(
                chain, deployer, manifest, price=k * ETHER, shares=k, artifacts=artifacts
            )
        registry = chain.contract("NodeRegistry")
        token = chain.contract("ZKAIToken")
        stake = int(chain.call(registry.functions.minStake()))
        nodes: list[str] = []
        metadata = json.dumps(
            {"name": "bench-offline", "models": sorted(model_ids.values())}, separators=(",", ":")
        )
        for i in range(max(ks)):
            node = Account.create()
            self._send_eth(chain, deployer, node.address, 10 * ETHER)
            chain.transact(deployer, token.functions.transfer(node.address, stake))
            chain.transact(node, token.functions.approve(registry.address, stake))
            key = generate_keypair().public_key
            chain.transact(
                node,
                registry.functions.register(
                    key, metadata.replace("offline", f"offline-{i}"), stake
                ),
            )
            nodes.append(node.address)
        client = QueryClient(chain, user)
        x = _sample_input("digits")
        rows = []
        for k in ks:
            pending = client.submit(
                f"digits-k{k}", manifest, model_ids[k], x, nodes=nodes[:k], deadline_s=600
            )
            tx = chain.w3.eth.get_transaction(pending.outcome.request_tx)
            rows.append(
                {
                    "k": k,
                    "request_query_gas": pending.outcome.request_gas,
                    "calldata_bytes": len(bytes(tx["input"])),
                    "note": "requestQueryWithPermit; k-1 seeded payloads and one explicit share",
                }
            )
            self.say(f"k = {k}: requestQuery {pending.outcome.request_gas:,} gas")
        return rows

    def scaling_gas(self, rows: list[tuple[JSONDict, CircuitArtifacts]]) -> None:
        from zkai.localnet_state import DEPLOYER_INDEX, anvil_account

        chain = self.chain()
        deployer = anvil_account(DEPLOYER_INDEX)
        for row, artifacts in rows:
            build = artifacts.verifier_build
            address, _ = chain.deploy(
                deployer, (build["abi"], "0x" + build["bytecode"].removeprefix("0x"))
            )
            n = artifacts.manifest.input_size
            x = [int(v) for v in np.random.default_rng(n).integers(0, 17, n)]
            opening = deal(encode_signed_vector(x, what="input"), 2, 10)[0].opening()
            proof = prove_share(artifacts, opening)
            row["bare_verifier_gas"], _ = self.bare_verifier_gas(
                chain, deployer, address, build, proof
            )
            row["bare_verifier_over_floor"] = round(
                row["bare_verifier_gas"] / row["verify_gas_floor"], 4
            )


# --- targets --------------------------------------------------------------------------------------


def _target(description: str, measured: Any, met: bool | None, **extra: Any) -> JSONDict:
    return {"target": description, "measured": measured, "met": met, **extra}


def targets_section(results: JSONDict) -> dict[str, JSONDict]:
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
    return {
        "prove_per_share_digits_ms": _target(
            f"< {TARGET_PROVE_MS:.0f} ms", prove, None if prove is None else prove < TARGET_PROVE_MS
        ),
        "ezkl_speedup_digits": _target(
            f">= {TARGET_EZKL_SPEEDUP:.0f}x faster proving than ezkl",
            speedup,
            None if speedup is None else speedup >= TARGET_EZKL_SPEEDUP,
            note=None if ezkl else "ezkl skipped",
        ),
        "submit_result_gas_over_floor": _target(
            f"<= {TARGET_FLOOR_RATIO} (within 25% of the floor), every model",
            floor_ratios,
            None if not known else all(v <= TARGET_FLOOR_RATIO for v in known),
        ),
        "e2e_latency_median_s": _target(
            f"< {TARGET_LATENCY_S} s with 2 nodes",
            latency,
            None if latency is None else latency < TARGET_LATENCY_S,
        ),
        "throughput_qps": _target(
            f">= {TARGET_QPS} queries/s sustained", qps, None if qps is None else qps >= TARGET_QPS
        ),
    }


# --- the whole run --------------------------------------------------------------------------------


@contextlib.contextmanager
def _workspace() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="zkai-bench-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, digits)


_T = TypeVar("_T")


def _guarded(say: Progress, what: str, action: Callable[[], _T]) -> _T | None:
    """An optional section: a failure is reported and recorded as None, not fatal."""
    try:
        return action()
    except Exception as exc:  # reported; the other sections still run
        say(f"{what} FAILED: {type(exc).__name__}: {exc}")
        return None


def run_bench(options: BenchOptions, say: Progress) -> JSONDict:
    """Every section the options ask for; returns the JSON document."""
    started = time.perf_counter()
    results: JSONDict = {"metadata": metadata(options), "models": {}, "ratios": {}}
    say(f"zkai bench on {os.cpu_count()} cores (load {os.getloadavg()[0]:.2f})")
    with _workspace() as root:
        artifacts_root = root / "artifacts"
        artifacts_root.mkdir()
        built: dict[str, CircuitArtifacts] = {}
        for name in DEMO_MODELS:
            manifest = load_demo_manifest(name)
            x = _sample_input(name)
            g16, built[name] = groth16_model_section(
                manifest,
                x,
                artifacts_root,
                repeats=options.repeats,
                witness=options.witness,
                say=say,
            )
            results["models"][name] = {
                "inputs": manifest.input_size,
                "outputs": manifest.output_size,
                "groth16": g16,
                "plaintext": plaintext_section(manifest, x),
                "ezkl": None,
            }
        if not options.quick:
            results["training"] = _guarded(
                say, "training", lambda: training_section([64 * 10 + 10, 65_536], 10, say)
            )
        scaling_rows: list[tuple[JSONDict, CircuitArtifacts]] = []
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
            results["network"] = {"up_s": round(bench.up_s, 1), "rpc": bench.rpc_url}
            for name in DEMO_MODELS:
                gas = bench.gas_section(name, built[name], queries=2)
                g16 = results["models"][name]["groth16"]
                g16["submit_result_gas"] = gas["submit_result_gas"]
                g16["bare_verifier_gas"] = gas["bare_verifier_gas"]
                g16["submit_result_gas_over_floor"] = round(
                    gas["submit_result_gas"] / g16["verify_gas_floor"], 4
                )
                g16["bare_verifier_gas_over_floor"] = round(
                    gas["bare_verifier_gas"] / g16["verify_gas_floor"], 4
                )
                g16["chain"] = gas
            if not options.skip_e2e:
                latency = bench.latency_section("digits", options.queries)
                per_run = options.queries if options.quick else 2 * options.queries
                total = max(options.users, per_run)
                throughput = bench.throughput_section(
                    "digits", options.users, total, latency["latency_s_median"]
                )
                results["e2e"] = {
                    **latency,
                    "throughput_qps": throughput["throughput_qps"],
                    "throughput": throughput,
                }
            else:
                results["e2e"] = None
            if not options.quick:
                _guarded(say, "scaling gas", lambda: bench.scaling_gas(scaling_rows))
                results["scaling"] = {
                    "inputs": [row for row, _ in scaling_rows],
                    "k": _guarded(say, "k scaling", lambda: bench.k_scaling_section([2, 3, 4])),
                }
            if not options.skip_ezkl:
                for name in DEMO_MODELS:
                    results["models"][name]["ezkl"] = _guarded(
                        say,
                        f"ezkl {name}",
                        lambda name=name: ezkl_section(  # type: ignore[misc]
                            load_demo_manifest(name),
                            _sample_input(name),
                            root / "ezkl" / name,
                            repeats=max(2, options.repeats if not options.quick else 2),
                            rpc_url=bench.rpc_url,
                            say=say,
                        ),
                    )
        finally:
            bench.down()

    for name, model in results["models"].items():
        g16, ezkl, plain = model["groth16"], model["ezkl"] or {}, model["plaintext"]
        results["ratios"][name] = {
            "ezkl_prove_over_groth16_prove": _ratio(
                ezkl.get("prove_ms_median"), g16["prove_ms_median"], 1
            ),
            "ezkl_verify_gas_over_groth16_submit_result_gas": _ratio(
                ezkl.get("verify_gas"), g16.get("submit_result_gas")
            ),
            "ezkl_verify_gas_over_groth16_bare_verifier_gas": _ratio(
                ezkl.get("verify_gas"), g16.get("bare_verifier_gas")
            ),
            "ezkl_proving_key_bytes_over_groth16": _ratio(
                ezkl.get("pk_bytes"), g16["proving_key_bytes"]
            ),
            "groth16_prove_over_numpy_float": _ratio(
                g16["prove_ms_median"] * 1000.0, plain["numpy_float_us"], 0
            ),
            "groth16_prove_over_integer_forward": _ratio(
                g16["prove_ms_median"] * 1000.0, plain["integer_forward_us"], 0
            ),
        }
    results["targets"] = targets_section(results)
    results["metadata"]["duration_s"] = round(time.perf_counter() - started, 1)
    results["metadata"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    return results


def main_progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
