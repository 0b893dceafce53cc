"""What a part proof states, computed in Python: its public inputs and the circuit's inputs.

A proof covers one chunk of an assignment: the rounds n0+1..n after a start (n0, T_n0, O_n0)
(`ChunkStart`; `ChunkStart.FIRST` = (0, 0, 0) for the first claim, whose chains start from
T_0 = O_0 = Poseidon(tag)). For an assignment with tag `tag` and the openings (s_i, m_i, salt_i)
of rounds n0+1..n, the public inputs are

    (tag, n0, T_n0 or 0, O_n0 or 0, n, T_n, O_{n-1}, O_n)

computed with `zkai.crypto.transcript` (the same functions the node, the client and the
contract's callers use), and the circuit's private inputs are the active flags (n - n0 ones, then
zeros), the quotient n0 / R and the openings, with zeros in the padded slots. For n0 = 0 this is
the one-claim statement (tag, n, T_n, O_{n-1}, O_n) with three zeros inserted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from zkai.crypto.field import is_field_element
from zkai.crypto.transcript import TranscriptState, round_commitment
from zkai.errors import ProofError
from zkai.models.manifest import Manifest

from .part_source import PUBLIC_INPUTS

__all__ = [
    "ChunkStart",
    "Opening",
    "PublicInputs",
    "check_openings",
    "check_slot",
    "check_start",
    "circuit_inputs",
    "public_inputs",
    "round_outputs",
    "start_state",
]

PublicInputs = tuple[int, int, int, int, int, int, int, int]
"""(tag, n0, T_n0 or 0, O_n0 or 0, n, T_n, O_{n-1}, O_n): `part_source.PUBLIC_INPUTS`."""


@dataclass(frozen=True)
class ChunkStart:
    """Where a chunk starts: the rounds n0 the previous claim recorded and its (T_n0, O_n0).

    (0, 0, 0) for an assignment's first claim (`ChunkStart.FIRST`); otherwise n0 >= 1 and the
    two transcripts are the previous claim's T_n0, O_n0 (what the contract recorded as
    keccak(T_n0, O_n0)).
    """

    rounds: int
    input_transcript: int
    output_transcript: int

    FIRST: ClassVar[ChunkStart]

    @property
    def first(self) -> bool:
        return self.rounds == 0


class Opening(Protocol):
    """One round's (share, mask, salt): `zkai.protocol.payload.RoundOpening` has this shape
    (the protocol layer sits above the circuits, so it is not imported here)."""

    @property
    def share(self) -> Sequence[int]: ...

    @property
    def mask(self) -> Sequence[int]: ...

    @property
    def salt(self) -> int: ...


def round_outputs(
    manifest: Manifest, part: int, i: int, share: Sequence[int], mask: Sequence[int]
) -> list[int]:
    """What a node returns for round i of part `part`: W_b s + m (mod r), b = block_p(i)."""
    return manifest.block(manifest.part(part).block_for_round(i)).apply(share, mask)


ChunkStart.FIRST = ChunkStart(0, 0, 0)


def check_start(manifest: Manifest, part: int, rounds: int, start: ChunkStart) -> None:
    """`ProofError` unless `start` can begin a chunk of a `rounds`-slot circuit of this part:
    n0 a multiple of `rounds` (and of the schedule length), both transcripts 0 when n0 = 0 and
    field elements otherwise."""
    n0 = start.rounds
    if not isinstance(n0, int) or isinstance(n0, bool) or not 0 <= n0 < 2**32:
        raise ProofError(f"a chunk starts after n0 rounds, 0 <= n0 < 2**32, got {n0!r}")
    if n0 % rounds != 0:
        raise ProofError(
            f"a chunk starts after a multiple of R_max = {rounds} rounds (every claim but the "
            f"last covers exactly R_max rounds), got n0 = {n0}"
        )
    schedule = manifest.part(part).schedule
    if n0 % len(schedule) != 0:
        raise ProofError(
            f"part {part}'s circuit holds schedule {list(schedule)} from slot 0, so a chunk must "
            f"start after a multiple of {len(schedule)} rounds, got n0 = {n0} (the manifest "
            "needs max_rounds % len(schedule) == 0 for a part whose budget exceeds max_rounds)"
        )
    transcripts = (start.input_transcript, start.output_transcript)
    if n0 == 0 and transcripts != (0, 0):
        raise ProofError(
            "the first chunk (n0 = 0) starts from T_0 = O_0 = Poseidon(tag): its start "
            f"transcripts must be 0, got {transcripts}"
        )
    if not all(is_field_element(v) for v in transcripts):
        raise ProofError(f"start transcripts {transcripts} are not field elements in [0, r)")


def check_openings(
    manifest: Manifest,
    part: int,
    rounds: int,
    tag: int,
    openings: Sequence[Opening],
    *,
    start: ChunkStart = ChunkStart.FIRST,
) -> None:
    """`ProofError` unless the chunk start is valid (`check_start`), 1 <= n - n0 <= rounds and
    every opening (rounds n0+1..n) has its block's sizes, in F_r."""
    check_start(manifest, part, rounds, start)
    n = len(openings)
    if not 1 <= n <= rounds:
        raise ProofError(
            f"a part proof covers 1..{rounds} rounds (R_max) past its start, got {n} openings"
        )
    if not is_field_element(tag):
        raise ProofError(f"tag {tag!r} is not a field element in [0, r)")
    for i, opening in enumerate(openings, start=start.rounds + 1):
        check_slot(manifest, part, i, opening)


def check_slot(manifest: Manifest, part: int, i: int, opening: Opening) -> None:
    """`ProofError` unless round i's opening has the sizes of its block and lies in F_r: what
    the circuit's slot for round i requires of its private inputs (the rest of the slot, its
    commitment, W s + m and the two chain steps, is computed from them)."""
    block = manifest.block(manifest.part(part).block_for_round(i))
    if len(opening.share) != block.input_size or len(opening.mask) != block.output_size:
        raise ProofError(
            f"round {i} (block {block.index}) takes a {block.input_size}-value share and a "
            f"{block.output_size}-value mask, the opening has {len(opening.share)} and "
            f"{len(opening.mask)}"
        )
    values = (*opening.share, *opening.mask, opening.salt)
    if not all(is_field_element(v) for v in values):
        raise ProofError(f"round {i}: an opening value is not a field element in [0, r)")


def start_state(tag: int, start: ChunkStart) -> TranscriptState:
    """The transcript state a chunk starts from (T_0 = O_0 = Poseidon(tag) for the first)."""
    if start.first:
        return TranscriptState.start(tag)
    return TranscriptState(
        tag=tag,
        rounds=start.rounds,
        input_transcript=start.input_transcript,
        output_transcript=start.output_transcript,
        previous_output_transcript=start.output_transcript,
    )


def public_inputs(
    manifest: Manifest,
    part: int,
    tag: int,
    openings: Sequence[Opening],
    *,
    start: ChunkStart = ChunkStart.FIRST,
) -> PublicInputs:
    """(tag, n0, T_n0|0, O_n0|0, n, T_n, O_{n-1}, O_n) of the openings of rounds n0+1..n after
    `start` (checked by the caller)."""
    p = manifest.part(part)
    state = start_state(tag, start)
    for opening in openings:
        i = state.rounds + 1
        b = p.block_for_round(i)
        commitment = round_commitment(tag, i, b, opening.share, opening.mask, opening.salt)
        outputs = manifest.block(b).apply(opening.share, opening.mask)
        state = state.advance(b, commitment, outputs)
    return (
        tag,
        start.rounds,
        start.input_transcript,
        start.output_transcript,
        state.rounds,
        state.input_transcript,
        state.previous_output_transcript,
        state.output_transcript,
    )


def circuit_inputs(
    manifest: Manifest,
    part: int,
    rounds: int,
    openings: Sequence[Opening],
    public: Sequence[int],
    *,
    active: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The circuit's input signals for these openings (rounds n0+1..n, n0 = public[1]) and
    public inputs.

    `active` overrides the flags (tests use it to try witnesses the circuit must refuse). The
    quotient n0 / R is computed inside the circuit's witness (`<--`), not passed here.
    """
    p = manifest.part(part)
    inputs: dict[str, Any] = dict(zip(PUBLIC_INPUTS, public, strict=True))
    n = len(openings)
    inputs["active"] = list(active) if active is not None else [1] * n + [0] * (rounds - n)
    salts = []
    for j in range(rounds):
        # slot j's block is a circuit constant: schedule[j % len], = block_p(n0 + j + 1)
        block = manifest.block(p.block_for_round(j + 1))
        if j < n:
            opening = openings[j]
            share, mask, salt = list(opening.share), list(opening.mask), opening.salt
        else:
            share, mask, salt = [0] * block.input_size, [0] * block.output_size, 0
        inputs[f"share{j}"] = share
        inputs[f"mask{j}"] = mask
        salts.append(salt)
    inputs["salt"] = salts
    return inputs
