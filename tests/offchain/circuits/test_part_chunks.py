"""Chunked part proofs: an assignment's rounds proved in consecutive chunks of at most R_max
rounds, each from the (n0, T_n0, O_n0) the previous chunk ended at (PROTOCOL step 4 "Chunks").

A chunk verifies for the right start and for nothing else: another start transcript, an n0 that
is not a multiple of R_max, or n0 = 0 with non-zero start inputs. Witnesses the circuit must
refuse are tried on both witness paths (the circuit's own calculator fails; groth16py's wasmi
path proves anyway and the proof must not verify, TOOLCHAIN.md).
"""

from __future__ import annotations

import secrets

import pytest

from zkai.circuits.artifacts import PartArtifacts
from zkai.circuits.part import ChunkStart, PartProof, part_artifacts, prove_part, verify_part
from zkai.circuits.prove import proof_words, prove_inputs, verify_words
from zkai.circuits.statement import circuit_inputs, public_inputs
from zkai.crypto.field import BN254_R
from zkai.crypto.transcript import TranscriptState, round_commitment
from zkai.errors import ProofError
from zkai.models.manifest import Manifest
from zkai.protocol.payload import RoundOpening

from ..independent import IndependentChecks
from .test_part_prove import transcript_of
from .toy import random_opening, toy_manifest

# schedule [0, 1] (blocks of different sizes), R_max 2, budget up to 5: chunks 1-2, 3-4, 5
CHUNKED = toy_manifest([{"schedule": [0, 1], "max_rounds": 2, "max_budget": 5}])
SINGLE = toy_manifest()  # part 0: schedule [0], R_max 3


@pytest.fixture(scope="module")
def chunked() -> PartArtifacts:
    return part_artifacts(CHUNKED, 0)


@pytest.fixture(scope="module")
def single() -> PartArtifacts:
    return part_artifacts(SINGLE, 0)


def new_tag() -> int:
    return secrets.randbelow(BN254_R)


def rounds_openings(manifest: Manifest, first: int, last: int) -> list[RoundOpening]:
    return [random_opening(manifest, 0, i) for i in range(first, last + 1)]


def start_of(state: TranscriptState) -> ChunkStart:
    return ChunkStart(state.rounds, state.input_transcript, state.output_transcript)


def refused(
    manifest: Manifest,
    artifacts: PartArtifacts,
    ops: list[RoundOpening],
    public: tuple[int, ...],
) -> None:
    """Neither witness path yields a proof that verifies for `public`."""
    inputs = circuit_inputs(manifest, 0, artifacts.rounds, ops, public)
    with pytest.raises(ProofError, match="witness generation failed"):
        prove_inputs(artifacts, inputs, witness="node")
    words = proof_words(prove_inputs(artifacts, inputs, witness="wasmi"))
    assert not verify_words(artifacts, words, public)


def test_an_assignment_of_five_rounds_proves_in_three_chunks(
    chunked: PartArtifacts, independent: IndependentChecks
) -> None:
    tag = new_tag()
    ops = rounds_openings(CHUNKED, 1, 5)
    assert [len(o.share) for o in ops] == [4, 3, 4, 3, 4]  # blocks 0, 1, 0, 1, 0
    whole = [transcript_of(CHUNKED, 0, tag, ops[:n]) for n in range(6)]
    start = ChunkStart.FIRST
    for first, last in ((1, 2), (3, 4), (5, 5)):
        proof = prove_part(chunked, CHUNKED, 0, tag, ops[first - 1 : last], start=start)
        end = whole[last]
        assert proof.public_inputs == (
            tag,
            first - 1,
            start.input_transcript,
            start.output_transcript,
            last,
            end.input_transcript,
            end.previous_output_transcript,
            end.output_transcript,
        )
        assert proof.start == start
        assert verify_part(chunked, proof)
        independent.check(chunked, proof)
        start = start_of(end)
    assert start == start_of(whole[5])


def test_a_first_chunk_is_the_one_claim_statement_with_zeros(chunked: PartArtifacts) -> None:
    tag, ops = new_tag(), rounds_openings(CHUNKED, 1, 2)
    proof = prove_part(chunked, CHUNKED, 0, tag, ops)
    state = transcript_of(CHUNKED, 0, tag, ops)
    assert proof.public_inputs[1:4] == (0, 0, 0)
    assert proof.public_inputs[4:] == (
        2,
        state.input_transcript,
        state.previous_output_transcript,
        state.output_transcript,
    )


def test_a_chunk_proof_fails_for_a_wrong_start(chunked: PartArtifacts) -> None:
    tag, ops = new_tag(), rounds_openings(CHUNKED, 1, 4)
    start = start_of(transcript_of(CHUNKED, 0, tag, ops[:2]))
    proof = prove_part(chunked, CHUNKED, 0, tag, ops[2:], start=start)
    assert verify_part(chunked, proof)
    public = proof.public_inputs
    for index in (1, 2, 3):  # n0, T_n0, O_n0 each changed alone
        wrong = list(public)
        wrong[index] = (wrong[index] + (2 if index == 1 else 1)) % BN254_R
        assert not verify_part(chunked, PartProof(proof.proof, tuple(wrong)))  # type: ignore[arg-type]
    # from another start, whose chains the openings do extend: no proof verifies
    other = ChunkStart(2, new_tag(), new_tag())
    honest_other = public_inputs(CHUNKED, 0, tag, ops[2:], start=other)
    moved = (tag, 2, start.input_transcript, start.output_transcript, *honest_other[4:])
    refused(CHUNKED, chunked, ops[2:], moved)
    assert verify_part(chunked, prove_part(chunked, CHUNKED, 0, tag, ops[2:], start=other))
    # n0 = 0 instead of 2 for a later chunk's rounds
    first = public_inputs(CHUNKED, 0, tag, ops[:2])
    refused(CHUNKED, chunked, ops[2:], (*first[:4], *public[4:]))


def test_a_chunk_must_start_at_a_multiple_of_r_max(single: PartArtifacts) -> None:
    tag, ops = new_tag(), rounds_openings(SINGLE, 1, 3)
    start = start_of(transcript_of(SINGLE, 0, tag, ops[:1]))  # n0 = 1, R_max 3
    with pytest.raises(ProofError, match="multiple of R_max = 3"):
        prove_part(single, SINGLE, 0, tag, ops[1:], start=start)
    # the honest chains of rounds 2..3 from (1, T_1, O_1): the circuit refuses n0 % R != 0
    refused(SINGLE, single, ops[1:], public_inputs(SINGLE, 0, tag, ops[1:], start=start))
    # n0 = R_max is a chunk start
    ops = rounds_openings(SINGLE, 1, 4)
    start = start_of(transcript_of(SINGLE, 0, tag, ops[:3]))
    proof = prove_part(single, SINGLE, 0, tag, ops[3:], start=start)
    assert verify_part(single, proof)
    assert proof.rounds == 4


def test_a_first_chunk_with_non_zero_start_inputs_is_refused(chunked: PartArtifacts) -> None:
    tag, ops = new_tag(), rounds_openings(CHUNKED, 1, 2)
    with pytest.raises(ProofError, match="start transcripts must be 0"):
        prove_part(chunked, CHUNKED, 0, tag, ops, start=ChunkStart(0, 5, 0))
    with pytest.raises(ProofError, match="start transcripts must be 0"):
        prove_part(chunked, CHUNKED, 0, tag, ops, start=ChunkStart(0, 0, 7))
    # chains started from (X, Y) at n0 = 0: the circuit insists on Poseidon(tag) for n0 = 0
    x, y = new_tag(), new_tag()
    state = TranscriptState(tag, 0, x, y, y)
    for i, opening in enumerate(ops, start=1):
        b = CHUNKED.part(0).block_for_round(i)
        c = round_commitment(tag, i, b, opening.share, opening.mask, opening.salt)
        state = state.advance(b, c, CHUNKED.block(b).apply(opening.share, opening.mask))
    public = (
        tag,
        0,
        x,
        y,
        2,
        state.input_transcript,
        state.previous_output_transcript,
        state.output_transcript,
    )
    refused(CHUNKED, chunked, ops, public)
    # and the honest first-chunk proof does not verify with those start inputs set
    proof = prove_part(chunked, CHUNKED, 0, tag, ops)
    tampered = (tag, 0, x, y, *proof.public_inputs[4:])
    assert not verify_part(chunked, PartProof(proof.proof, tampered))


def test_a_chunk_is_at_most_r_max_rounds_past_its_start(chunked: PartArtifacts) -> None:
    tag, ops = new_tag(), rounds_openings(CHUNKED, 1, 5)
    start = start_of(transcript_of(CHUNKED, 0, tag, ops[:2]))
    with pytest.raises(ProofError, match=r"1\.\.2 rounds \(R_max\) past its start"):
        prove_part(chunked, CHUNKED, 0, tag, ops[2:5], start=start)
    with pytest.raises(ProofError, match=r"1\.\.2 rounds \(R_max\) past its start"):
        prove_part(chunked, CHUNKED, 0, tag, [], start=start)
