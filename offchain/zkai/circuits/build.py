"""Part circuit -> Groth16 keys, cached by content hash (the shared build machinery).

Artifacts of one circuit live in `<settings.artifacts_path>/<key>/`, where `key` is the SHA-256
of the circuit source, the groth16py version and the setup kind (plus the ceremony `.zkey`'s
hash for imported keys). Nothing is rebuilt while the part's circuit is unchanged. A directory:

    circuit.circom          the generated source (zkai.circuits.part_source)
    manifest.json           the model manifest it was generated from
    proving_key.bin         groth16py `ProvingKey.save` (CRS, constraints, witness wasm)
    circuit.wasm            the circuit's witness calculator, for the fast witness path
    verification_key.json   snarkjs format (`vk.to_json()`); its words go to VerifierFactory
    artifacts.json          metadata: part, slots, constraints, setup time and kind, hashes

There is no per-circuit Solidity verifier: version 2 deploys the generic `Groth16Verifier` with
the VK words (`PartArtifacts.vk_words()`) through `VerifierFactory`.

Building is atomic and safe across processes: an exclusive `flock` on `<key>.lock` serialises
builders of the same circuit, each build happens in a temporary directory in the same parent,
and the finished directory is renamed into place (a reader sees all of it or nothing).

Setup kinds. `build_part_dev` runs groth16py's single-party setup: whoever ran it knows the
toxic waste and can forge proofs, so it is for DEVELOPMENT AND TESTS ONLY (a warning is logged,
and `artifacts.json` records `"setup": "development-single-party"`, `"development_only": true`).
`import_ceremony_zkey` takes the `.zkey` of a snarkjs phase-2 ceremony for the same circuit
(`groth16py.import_zkey`); production keys come only from there.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import groth16py

from zkai.config import get_settings
from zkai.errors import CircuitBuildError, ProofError, WitnessUnavailableError
from zkai.models.manifest import Manifest

from .artifacts import PUBLIC_INPUT_COUNT, PartArtifacts, SetupKind
from .part_source import part_source
from .prove import proof_words, prove_inputs, verify_words
from .statement import circuit_inputs, public_inputs

__all__ = [
    "artifacts_key",
    "build_part_dev",
    "import_ceremony_zkey",
    "load_part_artifacts",
    "resolve_rounds",
]

log = logging.getLogger(__name__)

_WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"
_CONSTRAINTS = re.compile(r"(non-linear|linear) constraints:\s*(\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FD_LOCK = threading.Lock()
_T = TypeVar("_T")


def resolve_rounds(manifest: Manifest, part: int, rounds: int | None) -> int:
    """R_max: the part's `max_rounds` unless given; `CircuitBuildError` unless >= 1."""
    value = manifest.part(part).max_rounds if rounds is None else rounds
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise CircuitBuildError(f"a part circuit has at least 1 slot, got {value!r}")
    return value


def artifacts_key(source: str, setup_kind: SetupKind, extra: bytes = b"") -> str:
    """SHA-256 over the circuit source, groth16py's version and the setup (hex)."""
    digest = hashlib.sha256()
    for item in (source.encode(), groth16py.__version__.encode(), setup_kind.encode(), extra):
        digest.update(len(item).to_bytes(8, "big") + item)
    return digest.hexdigest()


def _root(artifacts_root: Path | None) -> Path:
    return artifacts_root if artifacts_root is not None else get_settings().artifacts_path


def _read(directory: Path, manifest: Manifest) -> PartArtifacts:
    meta = json.loads((directory / "artifacts.json").read_text())
    return PartArtifacts(
        directory=directory,
        key=meta["key"],
        manifest=manifest,
        part=int(meta["part"]),
        rounds=int(meta["rounds"]),
        constraints=int(meta["constraints"]),
        setup_seconds=float(meta["setup_seconds"]),
        setup_kind=meta["setup"],
        groth16py_version=meta["groth16py_version"],
    )


def load_part_artifacts(
    manifest: Manifest,
    part: int,
    rounds: int | None = None,
    *,
    setup_kind: SetupKind = "development-single-party",
    artifacts_root: Path | None = None,
    zkey_path: Path | None = None,
) -> PartArtifacts | None:
    """The cached artifacts of a part's circuit, or None if they were never built."""
    source = part_source(manifest, part, resolve_rounds(manifest, part, rounds))
    extra = _file_digest(zkey_path) if zkey_path is not None else b""
    directory = _root(artifacts_root) / artifacts_key(source, setup_kind, extra)
    if not (directory / "artifacts.json").exists():
        return None
    return _read(directory, manifest)


def _file_digest(path: Path) -> bytes:
    try:
        return hashlib.sha256(Path(path).read_bytes()).digest()
    except OSError as exc:
        raise CircuitBuildError(f"cannot read ceremony key {path}: {exc}") from exc


def build_part_dev(
    manifest: Manifest,
    part: int,
    rounds: int | None = None,
    *,
    artifacts_root: Path | None = None,
) -> PartArtifacts:
    """Build (or load from cache) a part circuit with a single-party setup. DEVELOPMENT ONLY.

    Whoever runs this setup can forge proofs for the circuit; use `import_ceremony_zkey` for
    keys that secure real value.
    """

    def setup(source: Path) -> tuple[groth16py.ProvingKey, groth16py.VerifyingKey]:
        return groth16py.setup_circom(str(source), [groth16py.circomlib_path(2)])

    slots = resolve_rounds(manifest, part, rounds)
    return _build(manifest, part, slots, "development-single-party", b"", setup, artifacts_root)


def import_ceremony_zkey(
    manifest: Manifest,
    part: int,
    zkey_path: Path,
    rounds: int | None = None,
    *,
    artifacts_root: Path | None = None,
) -> PartArtifacts:
    """Artifacts from a snarkjs ceremony `.zkey` made for this part circuit's source."""
    zkey_path = Path(zkey_path)
    digest = _file_digest(zkey_path)

    def setup(source: Path) -> tuple[groth16py.ProvingKey, groth16py.VerifyingKey]:
        return groth16py.import_zkey(str(zkey_path), str(source), [groth16py.circomlib_path(2)])

    slots = resolve_rounds(manifest, part, rounds)
    return _build(manifest, part, slots, "ceremony", digest, setup, artifacts_root)


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
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
    part: int,
    rounds: int,
    setup_kind: SetupKind,
    extra: bytes,
    setup: Callable[[Path], tuple[groth16py.ProvingKey, groth16py.VerifyingKey]],
    artifacts_root: Path | None,
) -> PartArtifacts:
    root = _root(artifacts_root)
    source = part_source(manifest, part, rounds)
    key = artifacts_key(source, setup_kind, extra)
    final = build_atomically(
        root,
        key,
        lambda staging: _build_into(
            staging, manifest, part, rounds, source, setup_kind, key, setup
        ),
    )
    return _read(final, manifest)


def build_atomically(root: Path, name: str, populate: Callable[[Path], None]) -> Path:
    """`root/name`, built once across processes: if its `artifacts.json` is missing, take the
    exclusive lock `root/name.lock`, look again (another process may have built it), and run
    `populate` on a fresh staging directory that is renamed into place only when it returns
    (an interrupted build leaves nothing half-made behind; a stale directory is replaced)."""
    final = root / name
    if (final / "artifacts.json").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with exclusive(root / f"{name}.lock"):
        if (final / "artifacts.json").exists():  # built by another process meanwhile
            return final
        staging = Path(tempfile.mkdtemp(prefix=f".build-{name[:21]}-", dir=root))
        try:
            populate(staging)
            if final.exists():  # a stale, incomplete directory from an interrupted build
                shutil.rmtree(final)
            staging.chmod(0o755)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return final


def _build_into(
    directory: Path,
    manifest: Manifest,
    part: int,
    rounds: int,
    source_text: str,
    setup_kind: SetupKind,
    key: str,
    setup: Callable[[Path], tuple[groth16py.ProvingKey, groth16py.VerifyingKey]],
) -> None:
    source = directory / "circuit.circom"
    source.write_text(source_text)
    (directory / "manifest.json").write_text(manifest.to_json())
    development = setup_kind == "development-single-party"
    if development:
        log.warning(
            "single-party Groth16 setup for model %s v%d part %d: DEVELOPMENT ONLY, the keys "
            "are forgeable by whoever ran it",
            manifest.name,
            manifest.version,
            part,
        )
    started = time.perf_counter()
    try:
        (pk, vk), compiler_output = _capture_output(lambda: setup(source))
    except (groth16py.SetupError, groth16py.WitnessError, OSError, ValueError) as exc:
        raise CircuitBuildError(f"setup of part {part} of {manifest.name!r} failed: {exc}") from exc
    setup_seconds = time.perf_counter() - started
    counts = {kind: int(n) for kind, n in _CONSTRAINTS.findall(compiler_output)}
    if "non-linear" not in counts:
        raise CircuitBuildError(
            f"the circom compiler did not report constraint counts:\n{compiler_output[-2000:]}"
        )
    if vk.n_public != PUBLIC_INPUT_COUNT:
        raise CircuitBuildError(
            f"circuit has {vk.n_public} public inputs, expected {PUBLIC_INPUT_COUNT}"
        )
    pk.save(str(directory / "proving_key.bin"))
    (directory / "verification_key.json").write_text(vk.to_json())
    _extract_wasm(directory / "proving_key.bin", directory / "circuit.wasm")
    meta: dict[str, Any] = {
        "key": key,
        "model": manifest.name,
        "model_version": manifest.version,
        "manifest_hash": manifest.hash_hex,
        "part": part,
        "rounds": rounds,
        "schedule": list(manifest.part(part).schedule),
        "public_inputs": ["tag", "n0", "T_n0", "O_n0", "n", "T_n", "O_{n-1}", "O_n"],
        "setup": setup_kind,
        "development_only": development,
        "constraints": counts["non-linear"] + counts.get("linear", 0),
        "setup_seconds": round(setup_seconds, 3),
        "groth16py_version": groth16py.__version__,
        "compiler_output": compiler_output.strip().splitlines()[-12:],
    }
    if development:
        meta["warning"] = (
            "single-party setup: DEVELOPMENT ONLY; whoever ran it can forge proofs. Production "
            "keys come from a phase-2 ceremony (import_ceremony_zkey)."
        )
    (directory / "artifacts.json").write_text(json.dumps(meta, indent=1))
    artifacts = _read(directory, manifest)
    meta["circuit_hash"] = "0x" + artifacts.circuit_hash.hex()
    meta["key_hash"] = "0x" + artifacts.key_hash.hex()
    (directory / "artifacts.json").write_text(json.dumps(meta, indent=1))
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


def _validate_fast_witness(artifacts: PartArtifacts) -> None:
    """Keep circuit.wasm only if a proof made through it verifies (else remove it)."""
    wasm = artifacts.wasm_path
    if wasm is None:
        return
    manifest, part = artifacts.manifest, artifacts.part
    block = manifest.block(manifest.part(part).block_for_round(1))
    opening = _ZeroOpening(tuple([0] * block.input_size), tuple([0] * block.output_size), 0)
    public = public_inputs(manifest, part, 1, [opening])
    inputs = circuit_inputs(manifest, part, artifacts.rounds, [opening], public)
    try:
        proof = proof_words(prove_inputs(artifacts, inputs, witness="node"))
        ok = verify_words(artifacts, proof, public)
    except (WitnessUnavailableError, ProofError) as exc:
        log.info("fast witness path unavailable (%s); using groth16py's in-process witness", exc)
        ok = False
    if not ok:
        wasm.unlink()


@dataclass(frozen=True)
class _ZeroOpening:
    share: tuple[int, ...]
    mask: tuple[int, ...]
    salt: int
