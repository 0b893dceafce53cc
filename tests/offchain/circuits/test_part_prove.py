"""Part proofs: n rounds verify and bind exactly what zkai.crypto.transcript computes; no proof
can be made for an inflated n, a padded slot counted as a round, a wrong output or another tag.

Witnesses the circuit must refuse are tried on both witness paths: the circuit's own calculator
(every constraint checked: generation fails) and groth16py's wasmi path, which proves anything
(the proof must then fail to verify). snarkjs and py_ecc re-check the honest proofs.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from zkai.circuits.artifacts import PartArtifacts
from zkai.circuits.part import PartProof, part_artifacts, prove_part, round_outputs, verify_part
from zkai.circuits.prove import (
    proof_from_snarkjs,
    proof_to_snarkjs,
    proof_words,
    prove_inputs,
    verify_words,
)
from zkai.circuits.statement import circuit_inputs, public_inputs
from zkai.crypto.field import BN254_R
from zkai.crypto.transcript import TranscriptState, output_transcript_step, round_commitment
from zkai.errors import ProofError
from zkai.models.manifest import Manifest
from zkai.protocol.payload import RoundOpening

from ..conftest import PartBuild
from ..independent import IndependentChecks, py_ecc_verify
from .toy import openings, toy_manifest

TOY = toy_manifest()
TWO_BLOCKS = toy_manifest([{"schedule": [0, 1], "max_rounds": 3}])


@pytest.fixture(scope="module")
def multi() -> PartArtifacts:
    """Part 0 of the toy: schedule [0], R_max 3."""
    return part_artifacts(TOY, 0)


def new_tag() -> int:
    return secrets.randbelow(BN254_R)


def transcript_of(
    manifest: Manifest, part: int, tag: int, ops: list[RoundOpening]
) -> TranscriptState:
    state = TranscriptState.start(tag)
    for i, opening in enumerate(ops, start=1):
        b = manifest.part(part).block_for_round(i)
        c = round_commitment(tag, i, b, opening.share, opening.mask, opening.salt)
        state = state.advance(b, c, round_outputs(manifest, part, i, opening.share, opening.mask))
    return state


@pytest.mark.parametrize("n", [1, 2, 3])
def test_prove_part_n_rounds_verify_and_match_the_transcript(
    multi: PartArtifacts, independent: IndependentChecks, n: int
) -> None:
    tag, ops = new_tag(), openings(TOY, 0, n)
    proof = prove_part(multi, TOY, 0, tag, ops)
    state = transcript_of(TOY, 0, tag, ops)
    assert proof.public_inputs == (
        tag,
        0,
        0,
        0,
        n,
        state.input_transcript,
        state.previous_output_transcript,
        state.output_transcript,
    )
    assert (proof.tag, proof.rounds, proof.output_transcript) == (tag, n, state.output_transcript)
    assert len(proof.proof) == 8
    assert verify_part(multi, proof)
    independent.check(multi, proof)


def test_prove_part_schedule_of_two_blocks_cycles(independent: IndependentChecks) -> None:
    artifacts = part_artifacts(TWO_BLOCKS, 0)
    tag = new_tag()
    ops = openings(TWO_BLOCKS, 0, 3)
    assert [len(o.share) for o in ops] == [4, 3, 4]  # blocks 0, 1, 0
    proof = prove_part(artifacts, TWO_BLOCKS, 0, tag, ops)
    assert proof.output_transcript == transcript_of(TWO_BLOCKS, 0, tag, ops).output_transcript
    independent.check(artifacts, proof)
    assert py_ecc_verify(artifacts, proof.proof, proof.public_inputs)


def test_prove_part_wasmi_path_gives_a_verifying_proof(multi: PartArtifacts) -> None:
    proof = prove_part(multi, TOY, 0, new_tag(), openings(TOY, 0, 2), witness="wasmi")
    assert verify_part(multi, proof)


def forged(
    artifacts: PartArtifacts, ops: list[RoundOpening], public: tuple[int, ...], **kw: Any
) -> None:
    """Neither witness path yields a proof that verifies for `public`."""
    inputs = circuit_inputs(TOY, 0, artifacts.rounds, ops, public, **kw)
    with pytest.raises(ProofError, match="witness generation failed"):
        prove_inputs(artifacts, inputs, witness="node")
    words = proof_words(prove_inputs(artifacts, inputs, witness="wasmi"))
    assert not verify_words(artifacts, words, public)


def test_part_circuit_refuses_an_inflated_round_count(multi: PartArtifacts) -> None:
    tag, ops = new_tag(), openings(TOY, 0, 2)
    honest = public_inputs(TOY, 0, tag, ops)
    inflated = (*honest[:4], 3, *honest[5:])
    forged(multi, ops, inflated)  # flags [1, 1, 0]: their sum is not n
    forged(multi, ops, inflated, active=[1, 1, 1])  # slot 3 then moves the chains


def test_part_circuit_refuses_a_padded_slot_counted_as_a_round(multi: PartArtifacts) -> None:
    tag, ops = new_tag(), openings(TOY, 0, 2)
    padded = [*ops, RoundOpening((0,) * 4, (0,) * 3, 0)]
    claimed = public_inputs(TOY, 0, tag, padded)  # n = 3 with the zero slot as round 3
    forged(multi, ops, claimed)  # the chains of the openings do not reach it
    honest = public_inputs(TOY, 0, tag, ops)
    forged(multi, ops, honest, active=[1, 0, 1])  # a gap: not monotone
    forged(multi, ops, honest, active=[1, 1, 2])  # not binary
    forged(
        multi, [], (*honest[:4], 0, *honest[5:]), active=[0, 0, 0]
    )  # n = 0: slot 1 must be active


def test_part_circuit_refuses_a_wrong_output(multi: PartArtifacts) -> None:
    tag, ops = new_tag(), openings(TOY, 0, 2)
    honest = public_inputs(TOY, 0, tag, ops)
    out = round_outputs(TOY, 0, 2, ops[1].share, ops[1].mask)
    wrong = [(out[0] + 1) % BN254_R, *out[1:]]
    claimed = (*honest[:7], output_transcript_step(honest[6], 2, wrong))
    forged(multi, ops, claimed)
    proof = prove_part(multi, TOY, 0, tag, ops)
    assert not verify_part(multi, PartProof(proof.proof, claimed))  # type: ignore[arg-type]


def test_part_circuit_refuses_another_tag(multi: PartArtifacts) -> None:
    tag, other, ops = new_tag(), new_tag(), openings(TOY, 0, 1)
    proof = prove_part(multi, TOY, 0, tag, ops)
    moved = (other, *proof.public_inputs[1:])
    assert not verify_part(multi, PartProof(proof.proof, moved))  # type: ignore[arg-type]
    forged(multi, ops, moved)  # commitments and T_0 are under the tag
    inflated = (*proof.public_inputs[:4], 2, *proof.public_inputs[5:])
    assert not verify_part(multi, PartProof(proof.proof, inflated))  # type: ignore[arg-type]


def test_prove_part_refuses_bad_calls(multi: PartArtifacts) -> None:
    tag = new_tag()
    with pytest.raises(ProofError, match=r"1\.\.3 rounds"):
        prove_part(multi, TOY, 0, tag, openings(TOY, 0, 4))
    with pytest.raises(ProofError, match=r"1\.\.3 rounds"):
        prove_part(multi, TOY, 0, tag, [])
    with pytest.raises(ProofError, match="4-value share"):
        prove_part(multi, TOY, 0, tag, [RoundOpening((1, 2), (0, 0, 0), 0)])
    with pytest.raises(ProofError, match="not a field element"):
        prove_part(multi, TOY, 0, tag, [RoundOpening((BN254_R, 0, 0, 0), (0, 0, 0), 0)])
    with pytest.raises(ProofError, match="tag"):
        prove_part(multi, TOY, 0, BN254_R, openings(TOY, 0, 1))
    with pytest.raises(ProofError, match="artifacts are for part 0"):
        prove_part(multi, TOY, 1, tag, openings(TOY, 1, 1))
    ops = openings(TOY, 0, 2)
    honest = public_inputs(TOY, 0, tag, ops)
    with pytest.raises(ProofError, match="not the expected"):
        prove_part(multi, TOY, 0, tag, ops, expected=(honest[5], honest[6], honest[7] ^ 1))
    assert prove_part(multi, TOY, 0, tag, ops, expected=honest[5:]).public_inputs == honest


def test_verify_part_rejects_tampered_words_and_malformed_calls(multi: PartArtifacts) -> None:
    proof = prove_part(multi, TOY, 0, new_tag(), openings(TOY, 0, 1))
    words = list(proof.proof)
    words[1] ^= 1  # a.y: no longer on the curve
    assert not verify_words(multi, words, proof.public_inputs)
    swapped = [words[0], proof.proof[1], proof.proof[3], proof.proof[2], *proof.proof[4:]]
    assert not verify_words(multi, swapped, proof.public_inputs)
    with pytest.raises(ProofError, match="8 words"):
        verify_words(multi, proof.proof[:7], proof.public_inputs)
    with pytest.raises(ProofError, match="8 public inputs"):
        verify_words(multi, proof.proof, proof.public_inputs[:7])
    with pytest.raises(ProofError, match="not a field element"):
        verify_words(multi, proof.proof, (BN254_R, *proof.public_inputs[1:]))


def test_proof_snarkjs_format_round_trips(multi: PartArtifacts) -> None:
    proof = prove_part(multi, TOY, 0, new_tag(), openings(TOY, 0, 1))
    assert proof_from_snarkjs(proof_to_snarkjs(proof.proof)) == proof.proof


def test_round_outputs_are_the_blocks_masked_product() -> None:
    ops = openings(TWO_BLOCKS, 0, 2)
    for i, opening in enumerate(ops, start=1):
        block = TWO_BLOCKS.block(TWO_BLOCKS.part(0).block_for_round(i))
        expected = [
            (sum(w * s for w, s in zip(row, opening.share, strict=True)) + m) % BN254_R
            for row, m in zip(block.weights, opening.mask, strict=True)
        ]
        assert round_outputs(TWO_BLOCKS, 0, i, opening.share, opening.mask) == expected


@pytest.mark.parametrize(("name", "part"), [("digits", 0), ("digits-mlp", 0), ("digits-mlp", 1)])
def test_prove_part_demo_parts_verify(
    demo_part: PartBuild, independent: IndependentChecks, name: str, part: int
) -> None:
    artifacts = demo_part(name, part)
    manifest = artifacts.manifest
    proof = prove_part(artifacts, manifest, part, new_tag(), openings(manifest, part, 1))
    independent.check(artifacts, proof)
