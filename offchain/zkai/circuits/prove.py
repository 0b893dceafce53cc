"""Proving one share's result, verifying it off-chain, and the proof's external formats.

A node proves, for its opening (share, mask, salt), the public inputs

    [commitment, out_0, ..., out_{m-1}],  commitment = commit(share, mask, salt),
                                          out = W share + mask (mod r)

computed here in Python (`share_public_inputs`); the circuit enforces the same relations, so a
mismatch fails at witness generation.

Witness paths (`prove_share(..., witness=...)`): "node" computes the witness with the
circuit's own calculator under Node (`zkai.circuits.witness`) and proves with
`groth16py.prove_wtns`; "wasmi" uses groth16py's in-process `prove(pk, inputs)`; "auto" (the
default) takes "node" when the build validated it and falls back to "wasmi" if Node is not
available.

Proof bytes: groth16py's 256-byte Ethereum layout, eight big-endian uint256 words
a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y (the order of the snarkjs Solidity
verifier's `verifyProof(a, b, c, input)` arguments, G2 coordinates imaginary part first).
`proof_to_snarkjs` turns it into snarkjs's proof.json.

`verify_share_proof` returns False for any proof that does not verify, including byte strings
that do not decode to curve points, and raises `ProofError` only when the call itself is
malformed (proof not 256 bytes, wrong number of public inputs, values outside the field).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import groth16py

from zkai.crypto.field import BN254_R, is_field_element
from zkai.crypto.sharing import ShareOpening
from zkai.errors import ProofError, WitnessUnavailableError
from zkai.models.manifest import Manifest

from .artifacts import CircuitArtifacts
from .witness import calculate_witness

__all__ = [
    "PROOF_BYTES",
    "ShareProof",
    "WitnessPath",
    "proof_from_snarkjs",
    "proof_to_snarkjs",
    "proof_words",
    "prove_share",
    "public_to_snarkjs",
    "share_public_inputs",
    "verify_share_proof",
]

log = logging.getLogger(__name__)

PROOF_BYTES = 256
WitnessPath = Literal["auto", "node", "wasmi"]
_BN254_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583


@dataclass(frozen=True)
class ShareProof:
    """A Groth16 proof for one share and the public inputs it proves."""

    proof: bytes
    public_inputs: tuple[int, ...]

    @property
    def commitment(self) -> int:
        return self.public_inputs[0]

    @property
    def outputs(self) -> tuple[int, ...]:
        """The masked outputs out_j = W s_j + m_j (mod r)."""
        return self.public_inputs[1:]


def share_public_inputs(manifest: Manifest, opening: ShareOpening) -> list[int]:
    """[commitment, W share + mask (mod r)...]: what the circuit takes as public inputs."""
    return [opening.commitment, *manifest.masked_output(opening.share, opening.mask)]


def _circuit_inputs(opening: ShareOpening, public: Sequence[int]) -> dict[str, Any]:
    return {
        "commitment": public[0],
        "out": list(public[1:]),
        "share": list(opening.share),
        "mask": list(opening.mask),
        "salt": opening.salt,
    }


def prove_share(
    artifacts: CircuitArtifacts, opening: ShareOpening, *, witness: WitnessPath = "auto"
) -> ShareProof:
    """Prove node-side work on one share; returns the proof and its public inputs."""
    public = share_public_inputs(artifacts.manifest, opening)
    inputs = _circuit_inputs(opening, public)
    wasm = artifacts.wasm_path
    if witness in ("auto", "node") and wasm is not None:
        try:
            return ShareProof(_prove_with_node(artifacts, wasm, inputs), tuple(public))
        except WitnessUnavailableError:
            if witness == "node":
                raise
            log.warning("Node witness path unavailable; falling back to groth16py's wasmi")
    elif witness == "node":
        raise WitnessUnavailableError(f"no validated witness wasm in {artifacts.directory}")
    try:
        proof = groth16py.prove(artifacts.proving_key, inputs)
    except (groth16py.WitnessError, groth16py.EncodingError) as exc:
        raise ProofError(f"proving the share failed: {exc}") from exc
    return ShareProof(bytes(proof), tuple(public))


def _prove_with_node(artifacts: CircuitArtifacts, wasm: Path, inputs: dict[str, Any]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="zkai-wtns-") as tmp:
        wtns = Path(tmp) / "witness.wtns"
        calculate_witness(wasm, inputs, wtns)
        try:
            return bytes(groth16py.prove_wtns(artifacts.proving_key, str(wtns)))
        except (groth16py.WitnessError, groth16py.EncodingError, groth16py.SetupError) as exc:
            raise ProofError(f"proving the share failed: {exc}") from exc


def _require_call(proof: bytes, public_inputs: Sequence[int], n_public: int) -> None:
    if not isinstance(proof, bytes | bytearray) or len(proof) != PROOF_BYTES:
        size = len(proof) if isinstance(proof, bytes | bytearray) else type(proof).__name__
        raise ProofError(f"a proof is {PROOF_BYTES} bytes, got {size}")
    if len(public_inputs) != n_public:
        raise ProofError(f"the circuit has {n_public} public inputs, got {len(public_inputs)}")
    for i, v in enumerate(public_inputs):
        if not is_field_element(v):
            raise ProofError(f"public input {i} = {v!r} is not a field element in [0, r)")


def verify_share_proof(
    artifacts: CircuitArtifacts | groth16py.Verifier,
    proof: bytes,
    public_inputs: Sequence[int],
) -> bool:
    """Off-chain Groth16 verification: True iff the proof is valid for these public inputs."""
    verifier = artifacts.verifier if isinstance(artifacts, CircuitArtifacts) else artifacts
    n_public = artifacts.n_public if isinstance(artifacts, CircuitArtifacts) else len(public_inputs)
    _require_call(proof, public_inputs, n_public)
    try:
        return bool(verifier.verify(bytes(proof), list(public_inputs)))
    except groth16py.EncodingError:
        return False  # the 256 bytes are not valid curve points: a bad proof, not a bad call
    except groth16py.VerificationError as exc:
        raise ProofError(f"verification call rejected: {exc}") from exc


def proof_words(proof: bytes) -> list[int]:
    """The eight uint256 words of a 256-byte proof."""
    if len(proof) != PROOF_BYTES:
        raise ProofError(f"a proof is {PROOF_BYTES} bytes, got {len(proof)}")
    return [int.from_bytes(proof[32 * i : 32 * (i + 1)], "big") for i in range(8)]


def proof_to_snarkjs(proof: bytes) -> dict[str, Any]:
    """snarkjs's proof.json for a 256-byte proof (projective coordinates, G2 as [c0, c1])."""
    ax, ay, bx1, bx0, by1, by0, cx, cy = (str(w) for w in proof_words(proof))
    return {
        "pi_a": [ax, ay, "1"],
        "pi_b": [[bx0, bx1], [by0, by1], ["1", "0"]],
        "pi_c": [cx, cy, "1"],
        "protocol": "groth16",
        "curve": "bn128",
    }


def proof_from_snarkjs(proof_json: dict[str, Any]) -> bytes:
    """The 256-byte layout of a snarkjs proof.json (affine coordinates expected)."""
    try:
        a, b, c = proof_json["pi_a"], proof_json["pi_b"], proof_json["pi_c"]
        if str(a[2]) != "1" or str(c[2]) != "1" or [str(v) for v in b[2]] != ["1", "0"]:
            raise ProofError("snarkjs proof is not in affine coordinates")
        words = [a[0], a[1], b[0][1], b[0][0], b[1][1], b[1][0], c[0], c[1]]
        values = [int(w) for w in words]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ProofError(f"malformed snarkjs proof: {exc}") from exc
    if any(not 0 <= v < _BN254_Q for v in values):
        raise ProofError("snarkjs proof coordinate outside the base field")
    return b"".join(v.to_bytes(32, "big") for v in values)


def public_to_snarkjs(public_inputs: Sequence[int]) -> list[str]:
    """snarkjs's public.json: decimal strings."""
    return [str(v % BN254_R) for v in public_inputs]
