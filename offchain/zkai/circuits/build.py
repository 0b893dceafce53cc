"""Manifest -> circuit -> Groth16 keys -> Solidity verifier, cached by content hash.

Artifacts of one circuit live in `<settings.artifacts_path>/<key>/`, where `key` is the SHA-256
of the circuit source, the groth16py version and the setup kind (plus the ceremony `.zkey`'s
hash for imported keys). Nothing is rebuilt while the model is unchanged. A directory holds:

    circuit.circom          the generated source (zkai.circuits.source)
    manifest.json           the model manifest it was generated from
    proving_key.bin         groth16py `ProvingKey.save` (CRS, constraints, witness wasm)
    circuit.wasm            the circuit's witness calculator, for the fast witness path
    verification_key.json   snarkjs format (`vk.to_json()`)
    Verifier.sol            snarkjs-style Solidity verifier, pragma ^0.8.24
    verifier.json           the compiled verifier: abi, bytecode, deployed bytecode
    artifacts.json          metadata: constraints, setup time, setup kind, versions

Building is atomic and safe across processes: an exclusive `flock` on `<key>.lock` serialises
builders of the same circuit, each build happens in a temporary directory in the same parent,
and the finished directory is renamed into place (a reader sees all of it or nothing).

Setup kinds. `build_circuit_dev` runs groth16py's single-party setup: whoever ran it knows the
toxic waste and can forge proofs, so it is for DEVELOPMENT AND TESTS ONLY (a warning is logged,
and `artifacts.json` records `"setup": "development-single-party"`). `import_ceremony_zkey`
takes the `.zkey` of a snarkjs phase-2 ceremony for the same circuit (`groth16py.import_zkey`);
production keys come only from there.

The witness wasm is taken out of the saved proving key (where groth16py stores the compiled
circuit, length-prefixed), because groth16py does not write it out; the build then proves once
through that wasm and verifies the proof, and only keeps `circuit.wasm` if that succeeds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import groth16py

from zkai.config import get_settings
from zkai.crypto.sharing import deal
from zkai.errors import CircuitBuildError, WitnessUnavailableError
from zkai.models.manifest import Manifest
from zkai.toolchain import solc_path

from .artifacts import CircuitArtifacts, SetupKind
from .prove import prove_share, verify_share_proof
from .source import circuit_source, public_input_count

__all__ = [
    "EVM_VERSION",
    "SOLIDITY_PRAGMA",
    "VERIFIER_CONTRACT",
    "artifacts_key",
    "build_circuit_dev",
    "circuit_info",
    "compile_verifier",
    "import_ceremony_zkey",
    "load_artifacts",
]

log = logging.getLogger(__name__)

SOLIDITY_PRAGMA = "^0.8.24"
EVM_VERSION = "prague"
VERIFIER_CONTRACT = "Groth16Verifier"
_WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"
_CONSTRAINTS = re.compile(r"(non-linear|linear) constraints:\s*(\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FD_LOCK = threading.Lock()
_T = TypeVar("_T")


def artifacts_key(manifest: Manifest, setup_kind: SetupKind, extra: bytes = b"") -> str:
    """SHA-256 over the circuit source, groth16py's version and the setup (hex)."""
    digest = hashlib.sha256()
    for part in (
        circuit_source(manifest).encode(),
        groth16py.__version__.encode(),
        setup_kind.encode(),
        extra,
    ):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _root(artifacts_root: Path | None) -> Path:
    return artifacts_root if artifacts_root is not None else get_settings().artifacts_path


def _read(directory: Path, manifest: Manifest) -> CircuitArtifacts:
    meta = json.loads((directory / "artifacts.json").read_text())
    return CircuitArtifacts(
        directory=directory,
        key=meta["key"],
        manifest=manifest,
        constraints=int(meta["constraints"]),
        setup_seconds=float(meta["setup_seconds"]),
        setup_kind=meta["setup"],
        groth16py_version=meta["groth16py_version"],
    )


def load_artifacts(
    manifest: Manifest,
    *,
    setup_kind: SetupKind = "development-single-party",
    artifacts_root: Path | None = None,
    zkey_path: Path | None = None,
) -> CircuitArtifacts | None:
    """The cached artifacts of a manifest's circuit, or None if they were never built."""
    extra = _file_digest(zkey_path) if zkey_path is not None else b""
    directory = _root(artifacts_root) / artifacts_key(manifest, setup_kind, extra)
    if not (directory / "artifacts.json").exists():
        return None
    return _read(directory, manifest)


def _file_digest(path: Path) -> bytes:
    try:
        return hashlib.sha256(Path(path).read_bytes()).digest()
    except OSError as exc:
        raise CircuitBuildError(f"cannot read ceremony key {path}: {exc}") from exc


def build_circuit_dev(
    manifest: Manifest, *, artifacts_root: Path | None = None
) -> CircuitArtifacts:
    """Build (or load from cache) a circuit with a single-party setup. DEVELOPMENT ONLY.

    Whoever runs this setup can forge proofs for the circuit; use `import_ceremony_zkey` for
    keys that secure real value.
    """

    def setup(source: Path) -> tuple[groth16py.ProvingKey, groth16py.VerifyingKey]:
        return groth16py.setup_circom(str(source), [groth16py.circomlib_path(2)])

    return _build(manifest, "development-single-party", b"", setup, artifacts_root)


def import_ceremony_zkey(
    manifest: Manifest, zkey_path: Path, *, artifacts_root: Path | None = None
) -> CircuitArtifacts:
    """Artifacts from a snarkjs ceremony `.zkey` made for this manifest's circuit source."""
    zkey_path = Path(zkey_path)
    digest = _file_digest(zkey_path)

    def setup(source: Path) -> tuple[groth16py.ProvingKey, groth16py.VerifyingKey]:
        return groth16py.import_zkey(str(zkey_path), str(source), [groth16py.circomlib_path(2)])

    return _build(manifest, "ceremony", digest, setup, artifacts_root)


def circuit_info(manifest: Manifest, *, artifacts_root: Path | None = None) -> dict[str, Any]:
    """For benchmarks: constraints, setup seconds (when built) and artifact paths/sizes."""
    artifacts = build_circuit_dev(manifest, artifacts_root=artifacts_root)
    build = artifacts.verifier_build
    return {
        "model": manifest.name,
        "constraints": artifacts.constraints,
        "public_inputs": artifacts.n_public,
        "setup_seconds": artifacts.setup_seconds,
        "setup_kind": artifacts.setup_kind,
        "proving_key_bytes": artifacts.proving_key_path.stat().st_size,
        "verifier_runtime_bytes": len(build["deployed_bytecode"]) // 2,
        "verifier_initcode_bytes": len(build["bytecode"]) // 2,
        "fast_witness": artifacts.wasm_path is not None,
        "paths": {k: None if v is None else str(v) for k, v in artifacts.paths().items()},
    }


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _capture_output(call: Callable[[], _T]) -> tuple[_T, str]:
    """Run `call` with file descriptors 1 and 2 redirected, returning what was printed.

    The in-process circom compiler prints its statistics (the constraint counts) from Rust,
    straight to fd 1, so Python-level redirection cannot see them.
    """
    with _FD_LOCK, tempfile.TemporaryFile() as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            result: _T = call()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
        sink.seek(0)
        return result, _ANSI.sub("", sink.read().decode(errors="replace"))


def _build(
    manifest: Manifest,
    setup_kind: SetupKind,
    extra: bytes,
    setup: Callable[[Path], tuple[groth16py.ProvingKey, groth16py.VerifyingKey]],
    artifacts_root: Path | None,
) -> CircuitArtifacts:
    root = _root(artifacts_root)
    key = artifacts_key(manifest, setup_kind, extra)
    final = root / key
    if (final / "artifacts.json").exists():
        return _read(final, manifest)
    with _exclusive(root / f"{key}.lock"):
        if (final / "artifacts.json").exists():  # built by another process meanwhile
            return _read(final, manifest)
        staging = Path(tempfile.mkdtemp(prefix=f".build-{key[:12]}-", dir=root))
        try:
            _build_into(staging, manifest, setup_kind, key, setup)
            if final.exists():  # a stale, incomplete directory from an interrupted build
                shutil.rmtree(final)
            staging.chmod(0o755)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return _read(final, manifest)


def _build_into(
    directory: Path,
    manifest: Manifest,
    setup_kind: SetupKind,
    key: str,
    setup: Callable[[Path], tuple[groth16py.ProvingKey, groth16py.VerifyingKey]],
) -> None:
    source = directory / "circuit.circom"
    source.write_text(circuit_source(manifest))
    (directory / "manifest.json").write_text(manifest.to_json())
    if setup_kind == "development-single-party":
        log.warning(
            "single-party Groth16 setup for model %s v%d: DEVELOPMENT ONLY, the keys are "
            "forgeable by whoever ran it",
            manifest.name,
            manifest.version,
        )
    started = time.perf_counter()
    try:
        (pk, vk), compiler_output = _capture_output(lambda: setup(source))
    except (groth16py.SetupError, groth16py.WitnessError, OSError, ValueError) as exc:
        raise CircuitBuildError(f"setup of the {manifest.name!r} circuit failed: {exc}") from exc
    setup_seconds = time.perf_counter() - started
    counts = {kind: int(n) for kind, n in _CONSTRAINTS.findall(compiler_output)}
    if "non-linear" not in counts:
        raise CircuitBuildError(
            f"the circom compiler did not report constraint counts:\n{compiler_output[-2000:]}"
        )
    if vk.n_public != public_input_count(manifest):
        raise CircuitBuildError(
            f"circuit has {vk.n_public} public inputs, expected {public_input_count(manifest)}"
        )
    pk.save(str(directory / "proving_key.bin"))
    vk_json = vk.to_json()
    (directory / "verification_key.json").write_text(vk_json)
    solidity = vk.to_solidity(
        pragma=SOLIDITY_PRAGMA, contract_name=VERIFIER_CONTRACT, style="snarkjs"
    )
    (directory / "Verifier.sol").write_text(solidity)
    (directory / "verifier.json").write_text(json.dumps(compile_verifier(solidity), indent=1))
    _extract_wasm(directory / "proving_key.bin", directory / "circuit.wasm")
    (directory / "artifacts.json").write_text(
        json.dumps(
            {
                "key": key,
                "model": manifest.name,
                "model_version": manifest.version,
                "manifest_hash": manifest.content_hash_hex,
                "setup": setup_kind,
                "constraints": counts["non-linear"] + counts.get("linear", 0),
                "setup_seconds": round(setup_seconds, 3),
                "groth16py_version": groth16py.__version__,
                "solidity_pragma": SOLIDITY_PRAGMA,
                "evm_version": EVM_VERSION,
                "compiler_output": compiler_output.strip().splitlines()[-12:],
            },
            indent=1,
        )
    )
    artifacts = _read(directory, manifest)
    _validate_fast_witness(artifacts)


def _extract_wasm(proving_key: Path, target: Path) -> None:
    data = proving_key.read_bytes()
    start = data.find(_WASM_MAGIC)
    if start < 8:
        log.info("no witness wasm in %s; proving will use groth16py's in-process witness", target)
        return
    (length,) = struct.unpack("<Q", data[start - 8 : start])
    if start + length > len(data):
        log.info("witness wasm length prefix in %s is inconsistent; not using it", proving_key)
        return
    target.write_bytes(data[start : start + length])


def _validate_fast_witness(artifacts: CircuitArtifacts) -> None:
    """Keep circuit.wasm only if a proof made through it verifies (else remove it)."""
    wasm = artifacts.wasm_path
    if wasm is None:
        return

    opening = deal([0] * artifacts.manifest.input_size, 1, artifacts.manifest.output_size)[0]
    try:
        proof = prove_share(artifacts, opening.opening(), witness="node")
        ok = verify_share_proof(artifacts, proof.proof, proof.public_inputs)
    except WitnessUnavailableError as exc:
        log.info("fast witness path unavailable (%s); using groth16py's in-process witness", exc)
        ok = False
    if not ok:
        wasm.unlink()


def compile_verifier(solidity: str) -> dict[str, Any]:
    """Compile a verifier with the project's solc set-up (py-solc-x, solc 0.8.37, prague)."""
    import solcx
    from solcx.exceptions import SolcError

    compiler = solc_path()
    if not compiler.exists():
        raise CircuitBuildError(f"solc is not installed at {compiler}: run `make setup`")
    request = {
        "language": "Solidity",
        "sources": {"Verifier.sol": {"content": solidity}},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": EVM_VERSION,
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }
    try:
        output = solcx.compile_standard(request, solc_binary=compiler)
    except SolcError as exc:
        raise CircuitBuildError(f"compiling the verifier failed: {exc}") from exc
    contracts = output.get("contracts", {}).get("Verifier.sol", {})
    if VERIFIER_CONTRACT not in contracts:
        raise CircuitBuildError(f"solc produced no {VERIFIER_CONTRACT}: {output.get('errors')}")
    contract = contracts[VERIFIER_CONTRACT]
    return {
        "contract": VERIFIER_CONTRACT,
        "abi": contract["abi"],
        "bytecode": contract["evm"]["bytecode"]["object"],
        "deployed_bytecode": contract["evm"]["deployedBytecode"]["object"],
        "solc_version": "0.8.37",
        "evm_version": EVM_VERSION,
        "optimizer_runs": 200,
    }
