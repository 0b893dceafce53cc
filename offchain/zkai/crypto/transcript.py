"""The round commitments and the two transcript chains of protocol version 2 (Poseidon only).

Every (assignment, round) of a query has a commitment to what the user dealt for it, and each
assignment carries two hash chains, one over what the node was asked (T) and one over what it
answered (O). With tag the assignment's tag, i the round (1, 2, ...) and b = block_p(i) the block
the manifest fixes for that round:

    c_i = hash_vector(tag, i, b, s_i..., m_i..., salt_i)      the round commitment
    T_0 = O_0 = hash_vector(tag)                                (Poseidon(tag))
    T_i = hash_vector(T_{i-1}, i, b, c_i)                       the input transcript
    O_i = hash_vector(O_{i-1}, i, hash_vector(out_i...))        the output transcript

`hash_vector` is version 1's sponge (`zkai.crypto.poseidon`): one Poseidon call for up to 16
values, chained beyond. The part circuits (`zkai.circuits.part`) compute exactly these values
with the same chunking, so a value computed here is the value the proof binds.

This module is below everything that uses it (circuits, the node, the client, the tests), so it
knows nothing about chains or messages: the tag is just a field element here
(`zkai.protocol.ids.assignment_tag` computes it as the contract does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zkai.crypto.field import require_field_elements
from zkai.crypto.poseidon import hash_vector
from zkai.errors import ShareError

__all__ = [
    "TranscriptState",
    "input_transcript_step",
    "output_digest",
    "output_transcript_step",
    "round_commitment",
    "transcript_start",
]


def _require_round(i: int) -> None:
    if not isinstance(i, int) or isinstance(i, bool) or i < 1:
        raise ShareError(f"rounds are numbered from 1, got {i!r}")


def round_commitment(
    tag: int, i: int, block: int, share: Sequence[int], mask: Sequence[int], salt: int
) -> int:
    """c_i = hash_vector(tag, i, block, share, mask, salt)."""
    _require_round(i)
    values = [tag, i, block, *share, *mask, salt]
    require_field_elements(values, what="committed value")
    return hash_vector(values)


def transcript_start(tag: int) -> int:
    """T_0 = O_0 = Poseidon(tag)."""
    return hash_vector([tag])


def input_transcript_step(previous: int, i: int, block: int, commitment: int) -> int:
    """T_i = hash_vector(T_{i-1}, i, block, c_i)."""
    _require_round(i)
    return hash_vector([previous, i, block, commitment])


def output_digest(outputs: Sequence[int]) -> int:
    """Poseidon(out_i): the hash of one round's masked outputs."""
    if not outputs:
        raise ShareError("a round has at least one output")
    return hash_vector(list(outputs))


def output_transcript_step(previous: int, i: int, outputs: Sequence[int]) -> int:
    """O_i = hash_vector(O_{i-1}, i, Poseidon(out_i))."""
    _require_round(i)
    return hash_vector([previous, i, output_digest(outputs)])


@dataclass(frozen=True)
class TranscriptState:
    """Where one assignment's chains stand after `rounds` rounds: T_n, O_n and O_{n-1}."""

    tag: int
    rounds: int
    input_transcript: int
    output_transcript: int
    previous_output_transcript: int

    @classmethod
    def start(cls, tag: int) -> TranscriptState:
        """Before round 1: T_0 = O_0 = Poseidon(tag) (the unused O_{-1} is set to O_0)."""
        t0 = transcript_start(tag)
        return cls(tag, 0, t0, t0, t0)

    def next_input(self, block: int, commitment: int) -> int:
        """T_{rounds+1} for the next round's commitment (the value the user signs)."""
        return input_transcript_step(self.input_transcript, self.rounds + 1, block, commitment)

    def advance(self, block: int, commitment: int, outputs: Sequence[int]) -> TranscriptState:
        """The state after the next round, given its commitment and the node's masked outputs."""
        i = self.rounds + 1
        return TranscriptState(
            tag=self.tag,
            rounds=i,
            input_transcript=input_transcript_step(self.input_transcript, i, block, commitment),
            output_transcript=output_transcript_step(self.output_transcript, i, outputs),
            previous_output_transcript=self.output_transcript,
        )
