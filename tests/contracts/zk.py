"""Real Groth16 material for the contract tests: the toy assignment circuit, its proofs, its key.

The circuit (circuits/assignment_toy.circom) has exactly the eight public inputs of every version-2
part circuit, (tag, n0, T0, O0, n, T, Oprev, O), bound by a private w: T = tag*w + n + n0*O0 + T0,
O = Oprev*w + T^2 (T0, O0: the start transcripts of a chunk, 0 for a first claim). It is
set up (single-party, development only) once per content hash and cached under
$ZKAI_DATA_DIR/test-circuits (default .zkai-test in the repository). Its key goes on-chain through
the real VerifierFactory: no mocks anywhere.

The toy validity circuits (circuits/validity_toy*.circom, k = 2) have the public inputs the market
builds for a version with an input rule, [ruleHash, tag_0, c_0, tag_1, c_1]: ruleHash is the
circuit's constant (VALIDITY_RULE, or OTHER_VALIDITY_RULE for validity_toy_other_rule.circom) and
c_j = Poseidon(tag_j, secret_j) (circomlib's Poseidon(2), zkai.crypto.poseidon) for private
secrets. They are set up and cached by the same `load_circuit`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import groth16py
from eth_hash.auto import keccak

from zkai.crypto.poseidon import poseidon
from zkai.toolchain import REPO_ROOT

FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617
BASE_FIELD = 21888242871839275222246405745257275088696311157297823662689037894645226208583
CIRCUITS = Path(__file__).parent / "circuits"
TOY_CIRCUIT = "assignment_toy.circom"
PUBLIC_INPUTS = 8
VALIDITY_CIRCUIT = "validity_toy.circom"
OTHER_RULE_VALIDITY_CIRCUIT = "validity_toy_other_rule.circom"
# The rule constants the two toy validity circuits fix (as written in their main components).
VALIDITY_RULE = 1234567890123456789
OTHER_VALIDITY_RULE = 9876543210987654321
VALIDITY_SHARES = 2
VALIDITY_PUBLIC_INPUTS = 1 + 2 * VALIDITY_SHARES


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
        return self.prove_inputs(statement.witness())

    def prove_inputs(self, inputs: dict[str, Any]) -> list[int]:
        """The 8 proof words for the circuit's input signals `inputs` (ints or nested lists)."""
        proof = groth16py.prove(self.pk, inputs)
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


def load_circuit(main_file: str = TOY_CIRCUIT, public_inputs: int = PUBLIC_INPUTS) -> Circuit:
    """Set up `circuits/<main_file>` once per content hash (keys cached on disk); it must have
    `public_inputs` public inputs (8 for a part circuit, VALIDITY_PUBLIC_INPUTS for the toy
    validity circuits)."""
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
    assert vk.n_public == public_inputs, (main_file, vk.n_public)
    return Circuit(pk, vk)


def load_validity_circuit(main_file: str = VALIDITY_CIRCUIT) -> Circuit:
    """A toy validity circuit (k = VALIDITY_SHARES), set up and cached as `load_circuit` does."""
    return load_circuit(main_file, VALIDITY_PUBLIC_INPUTS)


def validity_commitment(tag: int, secret: int) -> int:
    """A toy validity circuit's round-1 commitment: Poseidon(2)(tag, secret)."""
    return poseidon([tag, secret])


def validity_public_inputs(rule_hash: int, tags: list[int], commitments: list[int]) -> list[int]:
    """[ruleHash, tag_0, c_0, ..., tag_{k-1}, c_{k-1}], the order the market builds."""
    inputs = [rule_hash]
    for tag, commitment in zip(tags, commitments, strict=True):
        inputs += [tag, commitment]
    return inputs


def prove_validity(
    circuit: Circuit, rule_hash: int, tags: list[int], secrets: list[int]
) -> tuple[list[int], list[int]]:
    """(proof words, commitments) of a toy validity circuit for the tags of part 0's nodes and
    the user's secrets; `rule_hash` must be the circuit's constant (else the witness fails)."""
    commitments = [validity_commitment(t, s) for t, s in zip(tags, secrets, strict=True)]
    inputs = {
        "ruleHash": rule_hash,
        "assignment": [[t, c] for t, c in zip(tags, commitments, strict=True)],
        "secret": list(secrets),
    }
    return circuit.prove_inputs(inputs), commitments


def proof_words(proof: bytes) -> list[int]:
    return [int.from_bytes(proof[i : i + 32], "big") for i in range(0, 256, 32)]
