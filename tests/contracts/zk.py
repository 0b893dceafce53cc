"""Real Groth16 material for the contract tests: the toy assignment circuit, its proofs, its key.

The circuit (circuits/assignment_toy.circom) has exactly the eight public inputs of every version-2
part circuit, (tag, n0, T0, O0, n, T, Oprev, O), bound by a private w: T = tag*w + n + n0*O0 + T0,
O = Oprev*w + T^2 (T0, O0: the start transcripts of a chunk, 0 for a first claim). It is
set up (single-party, development only) once per content hash and cached under
$ZKAI_DATA_DIR/test-circuits (default .zkai-test in the repository). Its key goes on-chain through
the real VerifierFactory: no mocks anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import groth16py
from eth_hash.auto import keccak

from zkai.toolchain import REPO_ROOT

FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617
BASE_FIELD = 21888242871839275222246405745257275088696311157297823662689037894645226208583
CIRCUITS = Path(__file__).parent / "circuits"
TOY_CIRCUIT = "assignment_toy.circom"
PUBLIC_INPUTS = 8


@dataclass(frozen=True)
class Statement:
    """The public inputs of one claim (or chunk) and the witness that proves them."""

    tag: int
    rounds: int
    input_transcript: int
    prev_output_transcript: int
    output_transcript: int
    w: int
    start_rounds: int = 0
    start_input_transcript: int = 0
    start_output_transcript: int = 0

    @classmethod
    def make(
        cls,
        tag: int,
        rounds: int,
        prev_output_transcript: int,
        w: int,
        *,
        start_rounds: int = 0,
        start_input_transcript: int = 0,
        start_output_transcript: int = 0,
    ) -> Statement:
        n0, t0, o0 = start_rounds, start_input_transcript, start_output_transcript
        t = (tag * w + rounds + n0 * o0 + t0) % FIELD
        o = (prev_output_transcript * w + t * t) % FIELD
        return cls(tag, rounds, t, prev_output_transcript, o, w, n0, t0, o0)

    def then(self, rounds: int, prev_output_transcript: int, w: int) -> Statement:
        """The next chunk, rounds self.rounds + 1..`rounds`, from this one's (n, T_n, O_n)."""
        return Statement.make(
            self.tag,
            rounds,
            prev_output_transcript,
            w,
            start_rounds=self.rounds,
            start_input_transcript=self.input_transcript,
            start_output_transcript=self.output_transcript,
        )

    @property
    def public_inputs(self) -> list[int]:
        return [
            self.tag,
            self.start_rounds,
            self.start_input_transcript,
            self.start_output_transcript,
            self.rounds,
            self.input_transcript,
            self.prev_output_transcript,
            self.output_transcript,
        ]

    def witness(self) -> dict[str, int]:
        return {
            "tag": self.tag,
            "n0": self.start_rounds,
            "T0": self.start_input_transcript,
            "O0": self.start_output_transcript,
            "n": self.rounds,
            "T": self.input_transcript,
            "Oprev": self.prev_output_transcript,
            "O": self.output_transcript,
            "w": self.w,
        }


@dataclass
class Circuit:
    """The set-up toy circuit: proving and verifying keys."""

    pk: groth16py.ProvingKey
    vk: groth16py.VerifyingKey

    def prove(self, statement: Statement) -> list[int]:
        """The 8 proof words (a.x, a.y, b.x1, b.x0, b.y1, b.y0, c.x, c.y)."""
        proof = groth16py.prove(self.pk, statement.witness())
        assert len(proof) == 256
        return proof_words(proof)

    def verify_offchain(self, words: list[int], public_inputs: list[int]) -> bool:
        blob = b"".join(w.to_bytes(32, "big") for w in words)
        return bool(groth16py.Verifier(self.vk).verify(blob, public_inputs))

    @property
    def vk_words(self) -> list[int]:
        return vk_words(self.vk)


def vk_words(vk: groth16py.VerifyingKey) -> list[int]:
    """The VerifierFactory's key words: alpha1, beta2, gamma2, delta2 (EVM order), IC points."""
    data = json.loads(vk.to_json())

    def g1(point: list[str]) -> list[int]:
        return [int(point[0]), int(point[1])]

    def g2(point: list[list[str]]) -> list[int]:
        (x0, x1), (y0, y1) = point[0][:2], point[1][:2]
        return [int(x1), int(x0), int(y1), int(y0)]

    words = g1(data["vk_alpha_1"]) + g2(data["vk_beta_2"])
    words += g2(data["vk_gamma_2"]) + g2(data["vk_delta_2"])
    for point in data["IC"]:
        words += g1(point)
    return words


def vk_hash(words: list[int]) -> bytes:
    return keccak(b"".join(w.to_bytes(32, "big") for w in words))


def _cache_dir() -> Path:
    base = Path(os.environ.get("ZKAI_DATA_DIR", REPO_ROOT / ".zkai-test"))
    return base / "test-circuits"


def load_circuit(main_file: str = TOY_CIRCUIT) -> Circuit:
    """Set up `circuits/<main_file>` once per content hash (keys cached on disk)."""
    digest = hashlib.sha256()
    for path in sorted(CIRCUITS.glob("*.circom")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(groth16py.__version__.encode())
    folder = _cache_dir() / f"{Path(main_file).stem}-{digest.hexdigest()[:16]}"
    pk_path, vk_path = folder / "proving.key", folder / "verifying.key"
    if pk_path.exists() and vk_path.exists():
        pk, vk = groth16py.ProvingKey.load(str(pk_path)), groth16py.VerifyingKey.load(str(vk_path))
    else:
        pk, vk = groth16py.setup_circom(str(CIRCUITS / main_file), [groth16py.circomlib_path(2)])
        folder.mkdir(parents=True, exist_ok=True)
        pk.save(str(pk_path) + ".tmp")
        vk.save(str(vk_path) + ".tmp")
        os.replace(str(pk_path) + ".tmp", pk_path)
        os.replace(str(vk_path) + ".tmp", vk_path)
    assert vk.n_public == PUBLIC_INPUTS
    return Circuit(pk, vk)


def proof_words(proof: bytes) -> list[int]:
    return [int.from_bytes(proof[i : i + 32], "big") for i in range(0, 256, 32)]
