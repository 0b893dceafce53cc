"""The language model's part circuits: per part, one chunk proof of R_max full slots, and the
prover time of a whole generation derived from it.

Measured per part: the circuit's constraints and public inputs, its setup (the single-party
development setup, cached by content hash under ZKAI_DATA_DIR like every part circuit:
`setup_ms` as recorded when it was built, `setup_fresh` whether this run built it), and
`repeats` proofs of a chunk whose R_max slots are all active (rounds 1..R_max, uniformly random
shares, masks and salts: what real shares are), after one untimed proof.

Derived (labelled so in the JSON): a generation of `new_tokens` tokens after a prompt of
`prompt_len` tokens serves `Decoder.rounds(...)[p]` rounds per node of part p, claimed in
ceil(rounds / R_max) chunks; every chunk proof costs the R_max-slot circuit whatever its active
slots, so one node of part p proves for chunks x (the measured chunk median). Per token divides
by `new_tokens`; the query's prover time per token sums one node per part (the k nodes of a part
prove their own assignments in parallel; `all_nodes` multiplies by k).
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

from zkai.bench.circuits import random_openings
from zkai.bench.common import JSONDict, Progress, stats_ms
from zkai.crypto.field import BN254_R
from zkai.errors import BenchmarkError
from zkai.models.manifest import Manifest

__all__ = ["LmCircuitsResult", "LmPartResult", "derive_generation", "lm_circuits_section"]


@dataclass(frozen=True)
class LmPartResult:
    """One part's chunk circuit, measured."""

    part: int
    schedule: tuple[int, ...]
    rounds_max: int
    max_budget: int
    constraints: int
    public_inputs: int
    setup_ms: float
    setup_fresh: bool
    setup_kind: str
    proving_key_bytes: int
    witness_path: str
    prove_ms: tuple[float, ...]
    prove_ms_median: float
    prove_ms_p90: float

    def to_json(self) -> JSONDict:
        return {
            "part": self.part,
            "schedule": list(self.schedule),
            "rounds_max": self.rounds_max,
            "max_budget": self.max_budget,
            "constraints": self.constraints,
            "constraints_per_slot": round(self.constraints / self.rounds_max, 1),
            "public_inputs": self.public_inputs,
            "setup_ms": self.setup_ms,
            "setup_fresh": self.setup_fresh,
            "setup_kind": self.setup_kind,
            "proving_key_bytes": self.proving_key_bytes,
            "witness_path": self.witness_path,
            "chunk_rounds_proved": self.rounds_max,
            "chunk_prove_ms": list(self.prove_ms),
            "chunk_prove_ms_median": self.prove_ms_median,
            "chunk_prove_ms_p90": self.prove_ms_p90,
        }


@dataclass(frozen=True)
class PartDerivation:
    """A generation's work for one node of a part, from the measured chunk proof."""

    part: int
    rounds: int
    chunks: int
    prove_ms_per_node: float
    prove_ms_per_token: float

    def to_json(self) -> JSONDict:
        return {
            "part": self.part,
            "rounds_per_node": self.rounds,
            "chunks_per_node": self.chunks,
            "prove_ms_per_node": self.prove_ms_per_node,
            "prove_ms_per_token_per_node": self.prove_ms_per_token,
        }


@dataclass(frozen=True)
class GenerationDerivation:
    """Prover time of one generation, derived from the measured chunk proofs."""

    prompt_len: int
    new_tokens: int
    passes: int
    shares: int
    parts: tuple[PartDerivation, ...]

    @property
    def prove_ms_per_token(self) -> float:
        """One node per part, summed over the parts, per generated token."""
        return round(sum(p.prove_ms_per_token for p in self.parts), 3)

    def to_json(self) -> JSONDict:
        per_token = self.prove_ms_per_token
        return {
            "derived": True,
            "how": "chunks per node = ceil(rounds per node / R_max), each chunk proof timed as the "
            "measured full R_max-slot proof; per token = / new_tokens; the query's figure sums "
            "one node per part (the k nodes of a part prove in parallel)",
            "prompt_len": self.prompt_len,
            "new_tokens": self.new_tokens,
            "passes": self.passes,
            "parts": [p.to_json() for p in self.parts],
            "prove_ms_per_token_one_node_per_part": per_token,
            "shares_k": self.shares,
            "prove_ms_per_token_all_nodes": round(per_token * self.shares, 3),
            "chunk_claims_per_node": {str(p.part): p.chunks for p in self.parts},
        }


@dataclass(frozen=True)
class LmCircuitsResult:
    parts: tuple[LmPartResult, ...]
    generation: GenerationDerivation

    def to_json(self) -> JSONDict:
        return {
            "parts": [p.to_json() for p in self.parts],
            "generation_derived": self.generation.to_json(),
        }


def derive_generation(
    manifest: Manifest,
    parts: tuple[LmPartResult, ...],
    prompt_len: int,
    new_tokens: int,
    shares: int,
) -> GenerationDerivation:
    """The prover time of a generation from the measured chunk proofs (module docstring)."""
    from zkai.models.decoder import Decoder

    decoder = Decoder.from_manifest(manifest)
    rounds = decoder.rounds(manifest, prompt_len, new_tokens)
    derived = []
    for part in parts:
        n = rounds[part.part]
        if n > part.max_budget:
            raise BenchmarkError(
                f"{n} rounds of part {part.part} exceed its max budget {part.max_budget}: "
                "ask for fewer tokens"
            )
        chunks = math.ceil(n / part.rounds_max)
        per_node = round(chunks * part.prove_ms_median, 3)
        derived.append(
            PartDerivation(part.part, n, chunks, per_node, round(per_node / new_tokens, 3))
        )
    return GenerationDerivation(
        prompt_len=prompt_len,
        new_tokens=new_tokens,
        passes=decoder.passes(prompt_len, new_tokens),
        shares=shares,
        parts=tuple(derived),
    )


def lm_circuits_section(
    manifest: Manifest,
    *,
    prompt_len: int,
    new_tokens: int,
    shares: int,
    repeats: int,
    say: Progress = lambda _m: None,
) -> LmCircuitsResult:
    """Every part's chunk circuit measured, and the generation derived from it."""
    from zkai.bench.circuits import _artifacts, _timed_proofs

    if repeats < 1:
        raise BenchmarkError("repeats must be at least 1")
    parts = []
    for p in manifest.parts:
        artifacts, wall = _artifacts(manifest, p.index, None, None, say)
        openings = random_openings(manifest, p.index, artifacts.rounds)
        say(
            f"{manifest.name} part {p.index}: {repeats} proofs of a full "
            f"{artifacts.rounds}-slot chunk"
        )
        started = time.perf_counter()
        prove_s, _, _ = _timed_proofs(
            artifacts, manifest, p.index, secrets.randbelow(BN254_R), openings, repeats
        )
        say(f"{manifest.name} part {p.index}: proved in {time.perf_counter() - started:.1f} s")
        stats = stats_ms(prove_s)
        parts.append(
            LmPartResult(
                part=p.index,
                schedule=tuple(p.schedule),
                rounds_max=artifacts.rounds,
                max_budget=int(getattr(p, "max_budget", p.max_rounds)),
                constraints=artifacts.constraints,
                public_inputs=artifacts.n_public,
                setup_ms=round(artifacts.setup_seconds * 1000.0, 1),
                setup_fresh=wall > 0.5 * artifacts.setup_seconds,
                setup_kind=artifacts.setup_kind,
                proving_key_bytes=artifacts.proving_key_path.stat().st_size,
                witness_path="node" if artifacts.wasm_path is not None else "wasmi",
                prove_ms=tuple(round(s * 1000.0, 3) for s in prove_s),
                prove_ms_median=stats.median,
                prove_ms_p90=stats.p90,
            )
        )
    result = tuple(parts)
    return LmCircuitsResult(
        parts=result,
        generation=derive_generation(manifest, result, prompt_len, new_tokens, shares),
    )
