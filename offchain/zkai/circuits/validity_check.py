"""The user's check of a validity key before proving with it (PROTOCOL.md, "User validity
proof", leakage): a Groth16 proof hides the witness only if the key is well formed, and the
key comes from the model owner. So before the first proof with a key, the client

1. compiles the circuit itself from the manifest's rule (`validity_source`, circom2);
2. runs `snarkjs zkey verify` of the `.zkey` against that r1cs and the published powers of tau
   (`snarkjs_cli.published_ptau`: the one shipped with the package up to 2^14);
3. requires every other file it proves or verifies with to come from that key or that
   compilation: `circuit.wasm` (byte for byte circom2's), `proving_key.bin` (groth16py's import of
   the verified `.zkey`) and `verification_key.json` (snarkjs's export of it, whose words the
   registry's key hash covers).

The result is remembered beside the keys, in `<artifacts_path>/verified-keys/<digest>.json`
(the digest covers every file checked, the source and the tool versions; the record names the
ptau and its hash), so a key is checked once per machine. That directory is this machine's own:
take only `validity-<key>` directories from a model owner, never `verified-keys`. A
key built on this machine (`validity_artifacts`) is recorded as made here: its r1cs and ptau
are this machine's own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import groth16py

from zkai.errors import CircuitBuildError, KeyCheckError

from .artifacts import vk_words_from_snarkjs
from .snarkjs_cli import compile_circom, ptau_power, published_ptau, snarkjs, tool_versions

__all__ = ["KeyCheck", "check_validity_key", "record_made_here"]

log = logging.getLogger(__name__)

_CHECKED_FILES = ("circuit.zkey", "circuit.wasm", "proving_key.bin", "verification_key.json")


@dataclass(frozen=True)
class KeyCheck:
    """A key's check: `how` is "verified" (snarkjs zkey verify, here) or "made-here"; `cached`
    if an earlier check was found; `seconds` the check's own time (0 when cached)."""

    digest: str
    how: str
    cached: bool
    seconds: float


def _records(directory: Path, record_dir: Path | None) -> Path:
    return record_dir if record_dir is not None else directory.parent / "verified-keys"


def _sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def _digest(directory: Path, source: str) -> str:
    digest = hashlib.sha256(b"zkai validity key check v1")
    items = [source.encode(), tool_versions()]
    for name in _CHECKED_FILES:
        path = directory / name
        if not path.is_file():
            raise KeyCheckError(f"{directory} has no {name}: copy the whole validity directory")
        items.append(_sha256(path))
    for item in items:
        digest.update(len(item).to_bytes(8, "big") + item)
    return digest.hexdigest()


def _ptau(directory: Path, constraints: int, public_inputs: int) -> Path:
    power = ptau_power(constraints, public_inputs)
    ptau = published_ptau(power, directory.parent)
    if ptau is None:
        raise KeyCheckError(
            f"no published powers of tau of 2^{power} to check the key in {directory} against: "
            f"put the network's dev-bn128-{power}.ptau in {directory.parent / 'ptau'}"
        )
    return ptau


def record_made_here(directory: Path, source: str, ptau: Path) -> None:
    """Record a key this machine set up itself, from its own compilation of `source` and the
    phase-1 file `ptau`, as checked."""
    _write(_records(directory, None), _digest(directory, source), "made-here", ptau, 0.0)


def _write(records: Path, digest: str, how: str, ptau: Path, seconds: float) -> None:
    records.mkdir(parents=True, exist_ok=True)
    record = {
        "how": how,
        "ptau": str(ptau),
        "ptau_sha256": _sha256(ptau).hex(),
        "seconds": seconds,
        "at": int(time.time()),
    }
    staged = records / f".{digest}.tmp"
    staged.write_text(json.dumps(record, indent=1))
    staged.replace(records / f"{digest}.json")


def check_validity_key(
    directory: Path, source: str, public_inputs: int, *, record_dir: Path | None = None
) -> KeyCheck:
    """Check the validity key in `directory` against the circuit compiled from `source` (the
    rule's generated source, `validity_source(rule)`, never the directory's own copy) with
    `public_inputs` public inputs; see the module docstring. `KeyCheckError` says which file
    fails; nothing is recorded then."""
    records = _records(directory, record_dir)
    digest = _digest(directory, source)
    found = _recorded(records / f"{digest}.json")
    if found is not None:
        return KeyCheck(digest, found, cached=True, seconds=0.0)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zkai-keycheck-") as tmp:
        work = Path(tmp)
        try:
            constraints = compile_circom(work, source, "compiling the validity circuit")
        except CircuitBuildError as exc:
            raise KeyCheckError(f"could not compile the manifest's validity circuit: {exc}") from (
                exc
            )
        vk = _verification_key(directory)
        ptau = _ptau(directory, constraints, public_inputs)
        log.info("checking the validity key in %s (snarkjs zkey verify, once)", directory)
        ours = (work / "circuit_js" / "circuit.wasm").read_bytes()
        if ours != (directory / "circuit.wasm").read_bytes():
            raise KeyCheckError(
                f"{directory / 'circuit.wasm'} is not circom2's compilation of the manifest's "
                "validity circuit"
            )
        zkey = directory / "circuit.zkey"
        try:
            out = snarkjs(
                ["zkey", "verify", str(work / "circuit.r1cs"), str(ptau), str(zkey)],
                work,
                "snarkjs zkey verify",
            )
        except CircuitBuildError as exc:
            raise KeyCheckError(
                f"{zkey} is not a Groth16 key of the manifest's validity circuit and the "
                f"published powers of tau {ptau.name} (snarkjs zkey verify failed); a malformed "
                f"key could leak the input, so nothing is proven with it: {_last_line(str(exc))}"
            ) from exc
        if "ZKey Ok!" not in out:
            raise KeyCheckError(f"snarkjs zkey verify did not accept {zkey}: {_last_line(out)}")
        snarkjs(
            ["zkey", "export", "verificationkey", str(zkey), str(work / "vk.json")],
            work,
            "verification key export",
        )
        exported = json.loads((work / "vk.json").read_text())
        if vk_words_from_snarkjs(exported) != vk_words_from_snarkjs(vk):
            raise KeyCheckError(
                f"{directory / 'verification_key.json'} is not the verified key's verification key"
            )
        try:
            pk, _vk = groth16py.import_zkey(str(zkey))
        except (groth16py.SetupError, OSError, ValueError) as exc:
            raise KeyCheckError(f"groth16py could not import {zkey}: {exc}") from exc
        pk.save(str(work / "proving_key.bin"))
        if (work / "proving_key.bin").read_bytes() != (directory / "proving_key.bin").read_bytes():
            raise KeyCheckError(
                f"{directory / 'proving_key.bin'} is not groth16py's import of the verified key"
            )
    seconds = round(time.perf_counter() - started, 3)
    _write(records, digest, "verified", ptau, seconds)
    return KeyCheck(digest, "verified", cached=False, seconds=seconds)


def _recorded(path: Path) -> str | None:
    """How an earlier check of these files went ("verified" or "made-here"), if its phase-1
    file is still the one it was checked against."""
    try:
        record = json.loads(path.read_text())
        ptau = Path(record["ptau"])
        if ptau.is_file() and _sha256(ptau).hex() == record["ptau_sha256"]:
            return str(record["how"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _verification_key(directory: Path) -> dict[str, object]:
    path = directory / "verification_key.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeyCheckError(f"{path} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise KeyCheckError(f"{path} is not a snarkjs verification key")
    return data


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
