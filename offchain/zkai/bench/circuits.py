"""The part circuits of protocol version 2: per demo model and per part, the circuit's size, its
(cached) setup, proving an assignment's rounds and verifying the proof off-chain; version 1's
digits share circuit as a stated reference; and how proving grows with the slot count R_max.

The openings proved are those of a real private query run in-process (`zkai.inference.run_local`,
the user's session and played nodes), so the proof is the one a node would claim with. Setups are
the single-party development setup, cached by content hash under ZKAI_DATA_DIR
(`zkai.circuits.part.part_artifacts`): `setup_ms` is the setup's own time as recorded when it
was built, `setup_fresh` whether this run built it.

`verify_gas_floor_formula(l)` is the EIP-1108 estimate of a bare verification transaction:
21000 + 45000 + 4 * 34000 + l * 6150 + 16 * (256 + 32 l); the gas section measures the real
`verifyProof` of the generic verifier next to it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zkai.bench.common import JSONDict, Progress, ms, stats_ms
from zkai.circuits.artifacts import PartArtifacts
from zkai.circuits.part import PartProof, part_artifacts, prove_part, verify_part
from zkai.circuits.prove import PROOF_BYTES
from zkai.crypto.field import BN254_R
from zkai.errors import BenchmarkError
from zkai.inference import run_local
from zkai.models.manifest import Manifest
from zkai.protocol.payload import RoundOpening

__all__ = [
    "V1_DIGITS_REFERENCE",
    "PartResult",
    "RoundsResult",
    "RoundsRow",
    "part_section",
    "proof_calldata_bytes",
    "random_openings",
    "rounds_section",
    "verify_gas_floor_formula",
]

# EIP-1108 pairing check with 4 pairings, per public input an ecMul (6000) + ecAdd (150).
FLOOR_INTRINSIC, FLOOR_PAIRING_BASE = 21_000, 45_000
FLOOR_PER_PAIRING, FLOOR_PER_INPUT = 34_000, 6_150
FLOOR_PAIRINGS = 4

V1_DIGITS_REFERENCE: JSONDict = {
    "constraints": 3_009,
    "prove_ms_median": 214.0,
    "public_inputs": 11,
    "source": "last measurement of version 1 (one share circuit of digits: commitment and 10 "
    "outputs public, no transcripts); a stated constant, not re-measured by this run",
}


def proof_calldata_bytes(public_inputs: int) -> int:
    """Bytes of the proof (8 words) and the public inputs (one word each) in calldata."""
    return PROOF_BYTES + 32 * public_inputs


def verify_gas_floor_formula(public_inputs: int) -> int:
    """21000 + 45000 + 4*34000 + l*6150 + 16*(calldata bytes of proof and public inputs)."""
    return (
        FLOOR_INTRINSIC
        + FLOOR_PAIRING_BASE
        + FLOOR_PAIRINGS * FLOOR_PER_PAIRING
        + public_inputs * FLOOR_PER_INPUT
        + 16 * proof_calldata_bytes(public_inputs)
    )


@dataclass(frozen=True)
class PartResult:
    """One part circuit's figures (times in ms, sizes in bytes)."""

    model: str
    part: int
    schedule: tuple[int, ...]
    rounds_max: int
    rounds_proved: int
    constraints: int
    setup_ms: float
    setup_fresh: bool
    setup_kind: str
    proving_key_bytes: int
    witness_path: str
    prove_ms: tuple[float, ...]
    prove_ms_median: float
    prove_ms_p90: float
    verify_offchain_ms_median: float
    public_inputs: int
    proof_bytes: int
    calldata_bytes_proof_and_inputs: int
    verify_gas_floor_formula: int

    def to_json(self) -> JSONDict:
        return {
            "part": self.part,
            "schedule": list(self.schedule),
            "rounds_max": self.rounds_max,
            "rounds_proved": self.rounds_proved,
            "constraints": self.constraints,
            "setup_ms": self.setup_ms,
            "setup_fresh": self.setup_fresh,
            "setup_kind": self.setup_kind,
            "proving_key_bytes": self.proving_key_bytes,
            "witness_path": self.witness_path,
            "prove_ms": list(self.prove_ms),
            "prove_ms_median": self.prove_ms_median,
            "prove_ms_p90": self.prove_ms_p90,
            "verify_offchain_ms_median": self.verify_offchain_ms_median,
            "public_inputs": self.public_inputs,
            "proof_bytes": self.proof_bytes,
            "calldata_bytes_proof_and_inputs": self.calldata_bytes_proof_and_inputs,
            "verify_gas_floor_formula": self.verify_gas_floor_formula,
        }


def _artifacts(
    manifest: Manifest, part: int, rounds: int | None, root: Path | None, say: Progress
) -> tuple[PartArtifacts, float]:
    say(f"{manifest.name} part {part}: circuit (R_max {rounds or manifest.part(part).max_rounds})")
    started = time.perf_counter()
    artifacts = part_artifacts(manifest, part, rounds, artifacts_root=root)
    return artifacts, time.perf_counter() - started


def _timed_proofs(
    artifacts: PartArtifacts,
    manifest: Manifest,
    part: int,
    tag: int,
    openings: Sequence[RoundOpening],
    repeats: int,
) -> tuple[list[float], list[float], PartProof]:
    # One untimed proof first: loading the key and the witness calculator's first start are
    # not per-proof costs (a node pays them once).
    prove_part(artifacts, manifest, part, tag, openings)
    prove_s: list[float] = []
    verify_s: list[float] = []
    proof: PartProof | None = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        proof = prove_part(artifacts, manifest, part, tag, openings)
        prove_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ok = verify_part(artifacts, proof)
        verify_s.append(time.perf_counter() - t0)
        if not ok:
            raise BenchmarkError(f"{manifest.name} part {part}: a fresh proof does not verify")
    assert proof is not None
    return prove_s, verify_s, proof


def part_section(
    manifest: Manifest,
    x: Sequence[float],
    *,
    repeats: int,
    artifacts_root: Path | None = None,
    say: Progress = lambda _m: None,
) -> list[tuple[PartResult, PartArtifacts, PartProof]]:
    """Every part of `manifest`: its circuit, `repeats` proofs of a real query's rounds (node 0
    of the part), off-chain verification."""
    if repeats < 1:
        raise BenchmarkError("repeats must be at least 1")
    run = run_local(manifest, x)
    results = []
    for p in range(len(manifest.parts)):
        artifacts, wall = _artifacts(manifest, p, None, artifacts_root, say)
        openings = run.openings(p, 0)
        say(f"{manifest.name} part {p}: proving {repeats} times")
        prove_s, verify_s, proof = _timed_proofs(
            artifacts, manifest, p, run.tag(p, 0), openings, repeats
        )
        prove, verify = stats_ms(prove_s), stats_ms(verify_s)
        result = PartResult(
            model=manifest.name,
            part=p,
            schedule=tuple(manifest.part(p).schedule),
            rounds_max=artifacts.rounds,
            rounds_proved=len(openings),
            constraints=artifacts.constraints,
            setup_ms=round(artifacts.setup_seconds * 1000.0, 1),
            setup_fresh=wall > 0.5 * artifacts.setup_seconds,
            setup_kind=artifacts.setup_kind,
            proving_key_bytes=artifacts.proving_key_path.stat().st_size,
            witness_path="node" if artifacts.wasm_path is not None else "wasmi",
            prove_ms=tuple(round(s * 1000.0, 3) for s in prove_s),
            prove_ms_median=prove.median,
            prove_ms_p90=prove.p90,
            verify_offchain_ms_median=verify.median,
            public_inputs=artifacts.n_public,
            proof_bytes=PROOF_BYTES,
            calldata_bytes_proof_and_inputs=proof_calldata_bytes(artifacts.n_public),
            verify_gas_floor_formula=verify_gas_floor_formula(artifacts.n_public),
        )
        results.append((result, artifacts, proof))
    return results


def random_openings(manifest: Manifest, part: int, n: int) -> list[RoundOpening]:
    """Openings of rounds 1..n of `part` with uniformly random shares, masks and salts (what
    real shares are: uniform field elements)."""
    p = manifest.part(part)
    openings = []
    for i in range(1, n + 1):
        block = manifest.block(p.block_for_round(i))
        openings.append(
            RoundOpening(
                tuple(secrets.randbelow(BN254_R) for _ in range(block.input_size)),
                tuple(secrets.randbelow(BN254_R) for _ in range(block.output_size)),
                secrets.randbelow(BN254_R),
            )
        )
    return openings


@dataclass(frozen=True)
class RoundsRow:
    """Proving n active rounds in a circuit of R_max slots."""

    rounds_max: int
    rounds_proved: int
    prove_ms_median: float
    prove_ms: tuple[float, ...]


@dataclass(frozen=True)
class RoundsResult:
    """A multi-round part: the digits block in a circuit of R_max slots, against R_max 1."""

    model: str
    block: int
    rounds_max: int
    constraints: int
    constraints_r1: int
    setup_ms: float
    setup_fresh: bool
    proving_key_bytes: int
    rows: tuple[RoundsRow, ...]

    def to_json(self) -> JSONDict:
        r1 = next((r for r in self.rows if r.rounds_max == 1), None)
        full = next(
            (r for r in self.rows if r.rounds_max == self.rounds_max == r.rounds_proved), None
        )
        return {
            "model": self.model,
            "block": self.block,
            "rounds_max": self.rounds_max,
            "constraints": self.constraints,
            "constraints_r_max_1": self.constraints_r1,
            "constraints_per_slot": round(self.constraints / self.rounds_max, 1),
            "setup_ms": self.setup_ms,
            "setup_fresh": self.setup_fresh,
            "proving_key_bytes": self.proving_key_bytes,
            "rows": [
                {
                    "rounds_max": r.rounds_max,
                    "rounds_proved": r.rounds_proved,
                    "prove_ms_median": r.prove_ms_median,
                    "prove_ms": list(r.prove_ms),
                }
                for r in self.rows
            ],
            "prove_r_max_over_r1": None
            if r1 is None or full is None
            else round(full.prove_ms_median / r1.prove_ms_median, 2),
            "note": "a proof costs R_max slots whatever the number of active rounds n",
        }


def rounds_section(
    manifest: Manifest,
    rounds_max: int,
    counts: Sequence[int],
    *,
    repeats: int,
    artifacts_root: Path | None = None,
    say: Progress = lambda _m: None,
) -> RoundsResult:
    """Part 0 of `manifest` (one block) in circuits of 1 and `rounds_max` slots; proving n rounds
    for each n in `counts` in the larger one (random openings, fresh per n)."""
    if len(manifest.part(0).schedule) != 1:
        raise BenchmarkError("the rounds section takes a part of one block")
    tag = secrets.randbelow(BN254_R)
    small, _ = _artifacts(manifest, 0, 1, artifacts_root, say)
    big, wall = _artifacts(manifest, 0, rounds_max, artifacts_root, say)
    rows = []
    for artifacts, ns in ((small, [1]), (big, list(counts))):
        for n in ns:
            if not 1 <= n <= artifacts.rounds:
                raise BenchmarkError(f"cannot prove {n} rounds in {artifacts.rounds} slots")
            say(f"{manifest.name}: {n} of {artifacts.rounds} slots, {repeats} proofs")
            prove_s, _, _ = _timed_proofs(
                artifacts, manifest, 0, tag, random_openings(manifest, 0, n), repeats
            )
            rows.append(
                RoundsRow(
                    artifacts.rounds,
                    n,
                    stats_ms(prove_s).median,
                    tuple(ms(s) for s in prove_s),
                )
            )
    return RoundsResult(
        model=manifest.name,
        block=manifest.part(0).schedule[0],
        rounds_max=big.rounds,
        constraints=big.constraints,
        constraints_r1=small.constraints,
        setup_ms=round(big.setup_seconds * 1000.0, 1),
        setup_fresh=wall > 0.5 * big.setup_seconds,
        proving_key_bytes=big.proving_key_path.stat().st_size,
        rows=tuple(rows),
    )
