"""Part circuits of protocol version 2: build once, prove an assignment's rounds, verify.

    artifacts = part_artifacts(manifest, part)            # R_max = the part's max_rounds
    proof = prove_part(artifacts, manifest, part, tag, openings)   # rounds 1..n, n <= R_max
    proof = prove_part(artifacts, manifest, part, tag, later,      # a later chunk: rounds
                       start=ChunkStart(n0, T_n0, O_n0))           # n0+1..n, 1 <= n-n0 <= R_max
    proof.proof          # 8 words, Groth16Verifier.verifyProof's order
    proof.public_inputs  # (tag, n0, T_n0|0, O_n0|0, n, T_n, O_{n-1}, O_n): what
                         # QueryMarket.claim recomputes (n0 = 0 and zeros for a first claim)
    verify_part(artifacts, proof)                          # off-chain check

`prove_part` computes the public inputs with `zkai.crypto.transcript` and then refuses to hand
out a proof that does not verify: it checks the openings (count, sizes, field), computes the
witness with the circuit's own calculator (every constraint checked) and verifies the proof it
made (groth16py proves anything, even a witness that breaks the constraints). `expected`, when
given, is what the prover believes it signed/acknowledged (T_n, O_{n-1}, O_n): a mismatch is an
error before any proving.

The circuit (`zkai.circuits.part_source`), the cache (`zkai.circuits.build`) and the keys are
development-only single-party setups unless imported from a ceremony (`import_ceremony_zkey`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zkai.errors import ProofError
from zkai.models.manifest import Manifest

from .artifacts import PartArtifacts
from .build import build_part_dev
from .prove import WitnessPath, proof_words, prove_inputs, verify_words
from .statement import (
    ChunkStart,
    Opening,
    PublicInputs,
    check_openings,
    circuit_inputs,
    public_inputs,
    round_outputs,
)

__all__ = [
    "ChunkStart",
    "PartProof",
    "part_artifacts",
    "prove_part",
    "round_outputs",
    "verify_part",
]


@dataclass(frozen=True)
class PartProof:
    """A Groth16 proof of one chunk of an assignment's rounds and its eight public inputs."""

    proof: tuple[int, ...]
    public_inputs: PublicInputs

    @property
    def tag(self) -> int:
        return self.public_inputs[0]

    @property
    def start(self) -> ChunkStart:
        """(n0, T_n0, O_n0) this chunk starts from; (0, 0, 0) for a first claim."""
        return ChunkStart(*self.public_inputs[1:4])

    @property
    def start_rounds(self) -> int:
        return self.public_inputs[1]

    @property
    def start_input_transcript(self) -> int:
        return self.public_inputs[2]

    @property
    def start_output_transcript(self) -> int:
        return self.public_inputs[3]

    @property
    def rounds(self) -> int:
        return self.public_inputs[4]

    @property
    def input_transcript(self) -> int:
        return self.public_inputs[5]

    @property
    def prev_output_transcript(self) -> int:
        return self.public_inputs[6]

    @property
    def output_transcript(self) -> int:
        return self.public_inputs[7]


def part_artifacts(
    manifest: Manifest,
    part: int,
    rounds: int | None = None,
    *,
    artifacts_root: Path | None = None,
) -> PartArtifacts:
    """The part's circuit with `rounds` slots (default: its max_rounds), built once and cached
    under ZKAI_DATA_DIR by content hash. Single-party setup: DEVELOPMENT ONLY."""
    return build_part_dev(manifest, part, rounds, artifacts_root=artifacts_root)


def _require_match(artifacts: PartArtifacts, manifest: Manifest, part: int) -> None:
    if artifacts.manifest.hash != manifest.hash or artifacts.part != part:
        raise ProofError(
            f"these artifacts are for part {artifacts.part} of manifest "
            f"{artifacts.manifest.hash_hex}, not part {part} of {manifest.hash_hex}"
        )


def prove_part(
    artifacts: PartArtifacts,
    manifest: Manifest,
    part: int,
    tag: int,
    openings: Sequence[Opening],
    *,
    start: ChunkStart = ChunkStart.FIRST,
    expected: tuple[int, int, int] | None = None,
    witness: WitnessPath = "auto",
) -> PartProof:
    """Prove rounds n0+1..n0+len(openings) of an assignment after `start` = (n0, T_n0, O_n0)
    (default: the first chunk, rounds 1..len(openings)); `ProofError` if the start is not a
    chunk start (n0 a multiple of R_max, zeros for n0 = 0), the openings do not satisfy the
    circuit or do not give `expected` = (T_n, O_{n-1}, O_n)."""
    _require_match(artifacts, manifest, part)
    check_openings(manifest, part, artifacts.rounds, tag, openings, start=start)
    public = public_inputs(manifest, part, tag, openings, start=start)
    if expected is not None and tuple(expected) != public[5:]:
        raise ProofError(
            f"the openings of rounds {start.rounds + 1}..{start.rounds + len(openings)} give "
            f"(T_n, O_n-1, O_n) = {public[5:]}, not the expected {tuple(expected)}: refusing "
            "to prove"
        )
    inputs = circuit_inputs(manifest, part, artifacts.rounds, openings, public)
    try:
        words = proof_words(prove_inputs(artifacts, inputs, witness=witness))
    except ProofError as exc:
        raise ProofError(
            f"the openings do not satisfy part {part}'s circuit ({len(openings)} rounds): {exc}"
        ) from exc
    proof = PartProof(words, public)
    if not verify_part(artifacts, proof):
        raise ProofError(
            f"the proof of part {part} ({len(openings)} rounds) does not verify: the witness "
            "does not satisfy the circuit"
        )
    return proof


def verify_part(artifacts: PartArtifacts, proof: PartProof) -> bool:
    """Off-chain verification of a part proof (False for a wrong proof or inputs)."""
    return verify_words(artifacts, proof.proof, proof.public_inputs)
