"""The npm circuit tools under Node: circom2 (circom compiled to WebAssembly) and snarkjs's CLI,
and the phase-1 powers of tau they set up with. Used by the validity circuits
(`zkai.circuits.validity`) and by the client's check of a validity key (`validity_check`).

Secrets never go on a command line (other local users can read it): a contribution's entropy
goes to snarkjs's prompt on stdin.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import groth16py

from zkai.errors import CircuitBuildError, ToolchainError
from zkai.toolchain import REPO_ROOT

from .build import exclusive

__all__ = [
    "MAX_POWER",
    "MIN_POWER",
    "SHIPPED_PTAU",
    "SHIPPED_PTAU_POWER",
    "compile_circom",
    "dev_ptau",
    "node_binary",
    "npm_tool",
    "ptau_power",
    "published_ptau",
    "snarkjs",
    "tool_versions",
]

log = logging.getLogger(__name__)

_CONSTRAINTS = re.compile(r"(non-linear|linear) constraints:\s*(\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
MIN_POWER = 8
MAX_POWER = 20
SHIPPED_PTAU_POWER = 14
SHIPPED_PTAU = Path(__file__).resolve().parent / "ptau" / f"dev-bn128-{SHIPPED_PTAU_POWER}.ptau"
"""A prepared phase-1 file shipped with the package, for circuits of up to 2^14 constraints
(snarkjs's `prepare phase2` takes over ten minutes for 2^14 here). Made with `snarkjs powersoftau
new bn128 14`, one `contribute` with 32 random bytes that were not kept, and `prepare phase2`:
one contribution, so DEVELOPMENT ONLY, like every key made from it."""


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node is not on PATH (validity circuits need circom2 and snarkjs)")
    return node


def npm_tool(package: str, script: str) -> Path:
    path = REPO_ROOT / "node_modules" / package / script
    if not path.exists():
        raise ToolchainError(
            f"{package} is not installed in {REPO_ROOT / 'node_modules'}: run `make setup`"
        )
    return path


def _run(
    args: Sequence[str], cwd: Path, what: str, timeout: float = 3600, stdin: str | None = None
) -> str:
    try:
        done = subprocess.run(
            [node_binary(), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise CircuitBuildError(f"{what} failed: {exc}") from exc
    output = _ANSI.sub("", done.stdout + done.stderr)
    if done.returncode != 0:
        raise CircuitBuildError(f"{what} failed (exit {done.returncode}):\n{output[-2000:]}")
    return output


def snarkjs(args: Sequence[str], cwd: Path, what: str, entropy: str | None = None) -> str:
    """snarkjs's CLI (its output; `CircuitBuildError` if it exits non-zero). `entropy` goes to
    its prompt on stdin, and snarkjs mixes it with 64 bytes of its own randomness."""
    stdin = entropy + "\n" if entropy is not None else None
    return _run([str(npm_tool("snarkjs", "build/cli.cjs")), *args], cwd, what, stdin=stdin)


def tool_versions() -> bytes:
    versions = []
    for package in ("snarkjs", "circom2"):
        meta = REPO_ROOT / "node_modules" / package / "package.json"
        versions.append(json.loads(meta.read_text())["version"] if meta.exists() else "missing")
    return ("|".join(versions) + "|" + groth16py.__version__).encode()


def compile_circom(directory: Path, source: str, what: str) -> int:
    """circom2 on `source` in `directory` (circuit.circom, circuit.r1cs, circuit_js/): the
    constraint count."""
    (directory / "circuit.circom").write_text(source)
    # circom2 runs under WASI with the working directory as its file system: circomlib goes in.
    shutil.copytree(groth16py.circomlib_path(2), directory / "lib")
    compiled = _run(
        [
            str(npm_tool("circom2", "cli.js")),
            "circuit.circom",
            "--r1cs",
            "--wasm",
            "--O2",
            "-l",
            "lib",
            "-o",
            ".",
        ],
        directory,
        what,
    )
    shutil.rmtree(directory / "lib")
    counts = {kind: int(n) for kind, n in _CONSTRAINTS.findall(compiled)}
    if "non-linear" not in counts:
        raise CircuitBuildError(f"circom2 reported no constraint counts:\n{compiled[-2000:]}")
    return counts["non-linear"] + counts.get("linear", 0)


def ptau_power(constraints: int, public_inputs: int) -> int:
    """The powers of tau a circuit's setup takes: 2^power above its constraints and public
    inputs (snarkjs needs room for both)."""
    return max(MIN_POWER, (constraints + public_inputs + 1).bit_length())


def published_ptau(power: int, root: Path) -> Path | None:
    """The phase-1 file of 2^power that keys of this size are checked against: the shipped one
    up to 2^14, else `<root>/ptau/dev-bn128-<power>.ptau` if present."""
    if power <= SHIPPED_PTAU_POWER and SHIPPED_PTAU.exists():
        return SHIPPED_PTAU
    path = root / "ptau" / f"dev-bn128-{power}.ptau"
    return path if path.exists() else None


def dev_ptau(power: int, root: Path) -> Path:
    """A prepared phase-1 file for circuits of up to 2^power constraints, made once per data
    directory with fresh randomness (one contribution: DEVELOPMENT ONLY)."""
    if not MIN_POWER <= power <= MAX_POWER:
        raise CircuitBuildError(f"powers of tau 2^{power} is outside 2^{MIN_POWER}..2^{MAX_POWER}")
    found = published_ptau(power, root)
    if found is not None:
        return found
    directory = root / "ptau"
    final = directory / f"dev-bn128-{power}.ptau"
    directory.mkdir(parents=True, exist_ok=True)
    with exclusive(directory / f"dev-bn128-{power}.lock"):
        if final.exists():
            return final
        log.warning(
            "making a development powers of tau (2^%d, one contribution): DEVELOPMENT ONLY; "
            "this takes a few minutes once per data directory",
            power,
        )
        with tempfile.TemporaryDirectory(prefix=".ptau-", dir=directory) as tmp:
            work = Path(tmp)
            snarkjs(["powersoftau", "new", "bn128", str(power), "p0.ptau"], work, "ptau new")
            snarkjs(
                ["powersoftau", "contribute", "p0.ptau", "p1.ptau"],
                work,
                "ptau contribution",
                entropy=secrets.token_hex(32),
            )
            snarkjs(
                ["powersoftau", "prepare", "phase2", "p1.ptau", "final.ptau"], work, "ptau prepare"
            )
            os.rename(work / "final.ptau", final)
    return final
