"""Groth16 proving of circuit inputs, off-chain verification, and the proof's external formats.

This is the low-level layer under `zkai.circuits.part` (which computes the inputs of a part
circuit and checks them): `prove_inputs` proves whatever inputs it is given, `verify_words`
checks a proof. Witness paths (`witness=...`): "node" computes the witness with the circuit's own
calculator under Node (`zkai.circuits.witness`; every `===` of the circuit is checked there, so
inputs that do not satisfy the circuit fail with the circuit's error) and proves with
`groth16py.prove_wtns`; "wasmi" uses groth16py's in-process `prove(pk, inputs)`, which returns a
proof even for a witness that breaks the constraints (the proof then does not verify); "auto"
(the default) takes "node" when the build validated it and falls back to "wasmi".

Proof words: groth16py's 256-byte Ethereum layout as eight uint256 words, in the order
`Groth16Verifier.verifyProof(uint256[8], ...)` takes them: a.x, a.y, b.x.c1, b.x.c0, b.y.c1,
b.y.c0, c.x, c.y (G2 coordinates imaginary part first, the EVM pairing order).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import groth16py

from zkai.crypto.field import BN254_R, is_field_element
from zkai.errors import ProofError, WitnessUnavailableError

from .artifacts import CircuitKeys
from .witness import calculate_witness

__all__ = [
    "PROOF_BYTES",
    "PROOF_WORDS",
    "WitnessPath",
    "proof_from_snarkjs",
    "proof_to_snarkjs",
    "proof_words",
    "prove_inputs",
    "public_to_snarkjs",
    "verify_words",
    "words_to_proof",
]

log = logging.getLogger(__name__)

PROOF_BYTES = 256
PROOF_WORDS = 8
WitnessPath = Literal["auto", "node", "wasmi"]
_BN254_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583


def prove_inputs(
    artifacts: CircuitKeys, inputs: dict[str, Any], *, witness: WitnessPath = "auto"
) -> bytes:
    """A 256-byte proof for these circuit inputs (NOT checked: see the module docstring)."""
    wasm = artifacts.wasm_path
    if witness in ("auto", "node") and wasm is not None:
        try:
            return _prove_with_node(artifacts, wasm, inputs)
        except WitnessUnavailableError:
            if witness == "node":
                raise
            log.warning("Node witness path unavailable; falling back to groth16py's wasmi")
    elif witness == "node":
        raise WitnessUnavailableError(f"no validated witness wasm in {artifacts.directory}")
    try:
        return bytes(groth16py.prove(artifacts.proving_key, inputs))
    except (groth16py.WitnessError, groth16py.EncodingError) as exc:
        raise ProofError(f"proving failed: {exc}") from exc


def _prove_with_node(artifacts: CircuitKeys, wasm: Path, inputs: dict[str, Any]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="zkai-wtns-") as tmp:
        wtns = Path(tmp) / "witness.wtns"
        calculate_witness(wasm, inputs, wtns)
        try:
            return bytes(groth16py.prove_wtns(artifacts.proving_key, str(wtns)))
        except (groth16py.WitnessError, groth16py.EncodingError, groth16py.SetupError) as exc:
            raise ProofError(f"proving failed: {exc}") from exc


def verify_words(
    artifacts: CircuitKeys, proof: Sequence[int], public_inputs: Sequence[int]
) -> bool:
    """Off-chain Groth16 verification: True iff the proof is valid for these public inputs.

    False for any proof that does not verify (including words that are not curve points);
    `ProofError` only for a malformed call (not 8 words, wrong input count, values >= r).
    """
    if len(public_inputs) != artifacts.n_public:
        raise ProofError(
            f"the circuit has {artifacts.n_public} public inputs, got {len(public_inputs)}"
        )
    for i, v in enumerate(public_inputs):
        if not is_field_element(v):
            raise ProofError(f"public input {i} = {v!r} is not a field element in [0, r)")
    data = words_to_proof(proof)
    try:
        return bool(artifacts.verifier.verify(data, list(public_inputs)))
    except groth16py.EncodingError:
        return False  # the words are not valid curve points: a bad proof, not a bad call
    except groth16py.VerificationError as exc:
        raise ProofError(f"verification call rejected: {exc}") from exc


def proof_words(proof: bytes) -> tuple[int, ...]:
    """The eight uint256 words of a 256-byte proof."""
    if len(proof) != PROOF_BYTES:
        raise ProofError(f"a proof is {PROOF_BYTES} bytes, got {len(proof)}")
    return tuple(int.from_bytes(proof[32 * i : 32 * (i + 1)], "big") for i in range(PROOF_WORDS))


def words_to_proof(words: Sequence[int]) -> bytes:
    """The 256-byte layout of eight proof words."""
    if len(words) != PROOF_WORDS:
        raise ProofError(f"a proof is {PROOF_WORDS} words, got {len(words)}")
    if any(not isinstance(w, int) or not 0 <= w < 2**256 for w in words):
        raise ProofError("a proof word is not a uint256")
    return b"".join(w.to_bytes(32, "big") for w in words)


def proof_to_snarkjs(words: Sequence[int]) -> dict[str, Any]:
    """snarkjs's proof.json for eight proof words (projective coordinates, G2 as [c0, c1])."""
    ax, ay, bx1, bx0, by1, by0, cx, cy = (str(w) for w in words)
    return {
        "pi_a": [ax, ay, "1"],
        "pi_b": [[bx0, bx1], [by0, by1], ["1", "0"]],
        "pi_c": [cx, cy, "1"],
        "protocol": "groth16",
        "curve": "bn128",
    }


def proof_from_snarkjs(proof_json: dict[str, Any]) -> tuple[int, ...]:
    """The eight proof words of a snarkjs proof.json (affine coordinates expected)."""
    try:
        a, b, c = proof_json["pi_a"], proof_json["pi_b"], proof_json["pi_c"]
        if str(a[2]) != "1" or str(c[2]) != "1" or [str(v) for v in b[2]] != ["1", "0"]:
            raise ProofError("snarkjs proof is not in affine coordinates")
        words = [a[0], a[1], b[0][1], b[0][0], b[1][1], b[1][0], c[0], c[1]]
        values = tuple(int(w) for w in words)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ProofError(f"malformed snarkjs proof: {exc}") from exc
    if any(not 0 <= v < _BN254_Q for v in values):
        raise ProofError("snarkjs proof coordinate outside the base field")
    return values


def public_to_snarkjs(public_inputs: Sequence[int]) -> list[str]:
    """snarkjs's public.json: decimal strings."""
    return [str(v % BN254_R) for v in public_inputs]
