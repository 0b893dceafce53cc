"""The fast witness path: the circuit's own witness calculator, compiled by V8 under Node.

groth16py's `prove(pk, inputs)` interprets the circuit's WebAssembly (wasmi); for the digits
circuit that is ~140-170 ms of a ~410 ms proof. Node compiles the same wasm and computes the
witness in ~15 ms, after which `groth16py.prove_wtns` runs the arkworks prover on it. A single
long-lived Node process (`witness_server.js`, one JSON request per line) serves all circuits of
this Python process, so neither Node's start-up nor the wasm compilation is paid per proof.
The witness calculator checks every `===` of the circuit (sanity check on), so inputs that do
not satisfy the circuit fail here with the circuit's own error.
"""

from __future__ import annotations

import atexit
import itertools
import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from zkai.errors import ProofError, WitnessUnavailableError
from zkai.toolchain import REPO_ROOT

__all__ = ["WitnessServer", "calculate_witness", "shutdown"]

_SERVER_SCRIPT = Path(__file__).resolve().parent / "witness_server.js"


class WitnessServer:
    """A Node process computing witnesses from circom wasm files (started on first use)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count()

    def _start(self) -> subprocess.Popen[str]:
        node = shutil.which("node")
        if node is None:
            raise WitnessUnavailableError("node is not on PATH")
        modules = REPO_ROOT / "node_modules"
        if not (modules / "snarkjs").exists():
            raise WitnessUnavailableError(f"snarkjs is not installed in {modules}")
        return subprocess.Popen(
            [node, str(_SERVER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={"PATH": "", "ZKAI_NODE_MODULES": str(modules)},
        )

    def calculate(self, wasm: Path, inputs: dict[str, Any], wtns: Path) -> None:
        """Write the witness of `inputs` for circuit `wasm` to `wtns` (snarkjs .wtns format)."""
        request = {
            "wasm": str(wasm),
            "input": _stringify(inputs),
            "wtns": str(wtns),
        }
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            process = self._process
            assert process.stdin is not None
            assert process.stdout is not None
            request["id"] = next(self._ids)
            try:
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
                line = process.stdout.readline()
            except OSError as exc:
                self._stop_locked()
                raise WitnessUnavailableError(f"witness server failed: {exc}") from exc
            if not line:
                self._stop_locked()
                raise WitnessUnavailableError("witness server exited unexpectedly")
        reply = json.loads(line)
        if reply.get("id") != request["id"]:
            raise WitnessUnavailableError("witness server answered out of order")
        if not reply.get("ok"):
            raise ProofError(f"witness generation failed: {reply.get('error', '').strip()}")

    def _stop_locked(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def close(self) -> None:
        """Stop the Node process (it also exits by itself when this process ends)."""
        with self._lock:
            self._stop_locked()


def _stringify(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_stringify(v) for v in value]
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    return str(value)


_server = WitnessServer()
atexit.register(_server.close)


def calculate_witness(wasm: Path, inputs: dict[str, Any], wtns: Path) -> None:
    """Compute a witness with the process-wide `WitnessServer`."""
    _server.calculate(wasm, inputs, wtns)


def shutdown() -> None:
    """Stop the process-wide witness server (restarted on the next use)."""
    _server.close()
