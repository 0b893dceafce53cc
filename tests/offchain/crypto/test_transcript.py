"""The round commitment and the transcript chains: definitions, and what changes them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zkai.crypto.field import BN254_R
from zkai.crypto.poseidon import hash_vector, poseidon
from zkai.crypto.transcript import (
    TranscriptState,
    input_transcript_step,
    output_digest,
    output_transcript_step,
    round_commitment,
    transcript_start,
)
from zkai.errors import EncodingOverflowError, ShareError

elements = st.integers(min_value=0, max_value=BN254_R - 1)


def test_round_commitment_hashes_tag_round_block_then_the_opening() -> None:
    tag, share, mask, salt = 7, [1, 2, 3], [4, 5], 6
    assert round_commitment(tag, 2, 9, share, mask, salt) == hash_vector(
        [7, 2, 9, 1, 2, 3, 4, 5, 6]
    )


@given(tag=elements, salt=elements)
def test_round_commitment_binds_every_field(tag: int, salt: int) -> None:
    base = round_commitment(tag, 1, 0, [1, 2], [3], salt)
    assert round_commitment((tag + 1) % BN254_R, 1, 0, [1, 2], [3], salt) != base
    assert round_commitment(tag, 2, 0, [1, 2], [3], salt) != base
    assert round_commitment(tag, 1, 1, [1, 2], [3], salt) != base
    assert round_commitment(tag, 1, 0, [2, 1], [3], salt) != base
    assert round_commitment(tag, 1, 0, [1, 2], [4], salt) != base
    assert round_commitment(tag, 1, 0, [1, 2], [3], (salt + 1) % BN254_R) != base


def test_chains_start_at_poseidon_of_the_tag() -> None:
    assert transcript_start(5) == poseidon([5])
    state = TranscriptState.start(5)
    assert state.rounds == 0
    assert state.input_transcript == state.output_transcript == poseidon([5])


def test_transcript_steps_match_their_definitions() -> None:
    t0 = transcript_start(11)
    assert input_transcript_step(t0, 1, 3, 99) == poseidon([t0, 1, 3, 99])
    assert output_digest([1, 2, 3]) == poseidon([1, 2, 3])
    assert output_transcript_step(t0, 1, [1, 2, 3]) == poseidon([t0, 1, poseidon([1, 2, 3])])


def test_state_advance_chains_rounds_and_keeps_the_previous_output() -> None:
    state = TranscriptState.start(3)
    first = state.advance(0, 100, [1, 2])
    second = first.advance(1, 200, [3])
    assert second.rounds == 2
    assert second.previous_output_transcript == first.output_transcript
    assert second.input_transcript == input_transcript_step(first.input_transcript, 2, 1, 200)
    assert first.next_input(1, 200) == second.input_transcript
    assert second.output_transcript == output_transcript_step(first.output_transcript, 2, [3])


def test_rounds_start_at_one_and_values_must_be_field_elements() -> None:
    with pytest.raises(ShareError):
        round_commitment(1, 0, 0, [1], [1], 1)
    with pytest.raises(ShareError):
        input_transcript_step(1, 0, 0, 1)
    with pytest.raises(ShareError):
        output_digest([])
    with pytest.raises(EncodingOverflowError):
        round_commitment(1, 1, 0, [BN254_R], [1], 1)
