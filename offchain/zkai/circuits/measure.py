"""Constraints and proving time of part circuits: `python -m zkai.circuits.measure [--runs N]`.

For each (demo model, part, slots) it builds the circuit (cached), then proves n = slots rounds
`runs` times with fresh random openings and reports medians of the whole `prove_part` call and of
its pieces: the public inputs in Python (zkai.crypto.transcript), the witness under Node, the
arkworks prover, and the verification `prove_part` does before returning. Where a chunk can start
at n0 = slots (slots a multiple of the schedule length) it also times `prove_part` of the next
chunk, rounds slots+1..2*slots (`chunk_prove_part_ms`). JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import groth16py

from zkai.crypto.field import BN254_R
from zkai.models.demo import load_demo_manifest
from zkai.models.manifest import Manifest

from .part import ChunkStart, part_artifacts, prove_part
from .part_source import PUBLIC_INPUTS
from .prove import proof_words, verify_words
from .statement import circuit_inputs, public_inputs
from .witness import calculate_witness

__all__ = ["CASES", "main", "measure"]

CASES: tuple[tuple[str, int, int], ...] = (
    ("digits", 0, 1),
    ("digits-mlp", 0, 1),
    ("digits-mlp", 1, 1),
    ("digits", 0, 4),
)


class _Opening:
    def __init__(self, share: tuple[int, ...], mask: tuple[int, ...], salt: int) -> None:
        self.share, self.mask, self.salt = share, mask, salt


def _openings(manifest: Manifest, part: int, n: int, first: int = 1) -> list[_Opening]:
    result = []
    for i in range(first, first + n):
        block = manifest.block(manifest.part(part).block_for_round(i))
        result.append(
            _Opening(
                tuple(secrets.randbelow(BN254_R) for _ in range(block.input_size)),
                tuple(secrets.randbelow(BN254_R) for _ in range(block.output_size)),
                secrets.randbelow(BN254_R),
            )
        )
    return result


def _ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def measure(name: str, part: int, slots: int, runs: int) -> dict[str, Any]:
    manifest = load_demo_manifest(name)
    artifacts = part_artifacts(manifest, part, slots)
    artifacts.proving_key  # noqa: B018 - load the key outside the timings
    total, public_t, witness_t, prover_t, verify_t = [], [], [], [], []
    for _ in range(runs):
        tag, ops = secrets.randbelow(BN254_R), _openings(manifest, part, slots)
        started = time.perf_counter()
        prove_part(artifacts, manifest, part, tag, ops)
        total.append(time.perf_counter() - started)
        started = time.perf_counter()
        public = public_inputs(manifest, part, tag, ops)
        public_t.append(time.perf_counter() - started)
        inputs = circuit_inputs(manifest, part, slots, ops, public)
        with tempfile.TemporaryDirectory() as tmp:
            wtns = Path(tmp) / "w.wtns"
            assert artifacts.wasm_path is not None
            started = time.perf_counter()
            calculate_witness(artifacts.wasm_path, inputs, wtns)
            witness_t.append(time.perf_counter() - started)
            started = time.perf_counter()
            words = proof_words(bytes(groth16py.prove_wtns(artifacts.proving_key, str(wtns))))
            prover_t.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert verify_words(artifacts, words, public)
        verify_t.append(time.perf_counter() - started)
    chunk_t: list[float] = []
    if slots % len(manifest.part(part).schedule) == 0:
        for _ in range(runs):
            tag = secrets.randbelow(BN254_R)
            first = public_inputs(manifest, part, tag, _openings(manifest, part, slots))
            start = ChunkStart(slots, first[5], first[7])
            later = _openings(manifest, part, slots, first=slots + 1)
            started = time.perf_counter()
            prove_part(artifacts, manifest, part, tag, later, start=start)
            chunk_t.append(time.perf_counter() - started)
    return {
        "model": name,
        "part": part,
        "slots": slots,
        "rounds_proved": slots,
        "constraints": artifacts.constraints,
        "setup_seconds": artifacts.setup_seconds,
        "proving_key_bytes": artifacts.proving_key_path.stat().st_size,
        "prove_part_ms": _ms(total),
        "public_inputs_ms": _ms(public_t),
        "witness_ms": _ms(witness_t),
        "prover_ms": _ms(prover_t),
        "verify_ms": _ms(verify_t),
        "chunk_prove_part_ms": _ms(chunk_t) if chunk_t else None,
        "public_inputs": len(PUBLIC_INPUTS),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zkai.circuits.measure", description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="proofs per case (median reported)")
    args = parser.parse_args(argv)
    results = [measure(name, part, slots, args.runs) for name, part, slots in CASES]
    json.dump(results, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
