"""What a part proof states, computed in Python: its public inputs and the circuit's inputs.

For an assignment with tag `tag` and the openings (s_i, m_i, salt_i) of its rounds 1..n, the
public inputs are (tag, n, T_n, O_{n-1}, O_n), computed with `zkai.crypto.transcript` (the same
functions the node, the client and the contract's callers use), and the circuit's private inputs
are the active flags (n ones, then zeros) and the openings, with zeros in the padded slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from zkai.crypto.field import is_field_element
from zkai.crypto.transcript import TranscriptState, round_commitment
from zkai.errors import ProofError
from zkai.models.manifest import Manifest

from .part_source import PUBLIC_INPUTS

__all__ = ["Opening", "check_openings", "circuit_inputs", "public_inputs", "round_outputs"]


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


def check_openings(
    manifest: Manifest, part: int, rounds: int, tag: int, openings: Sequence[Opening]
) -> None:
    """`ProofError` unless 1 <= n <= rounds and every opening has its block's sizes, in F_r."""
    n = len(openings)
    if not 1 <= n <= rounds:
        raise ProofError(f"a part proof covers 1..{rounds} rounds (R_max), got {n} openings")
    if not is_field_element(tag):
        raise ProofError(f"tag {tag!r} is not a field element in [0, r)")
    p = manifest.part(part)
    for i, opening in enumerate(openings, start=1):
        block = manifest.block(p.block_for_round(i))
        if len(opening.share) != block.input_size or len(opening.mask) != block.output_size:
            raise ProofError(
                f"round {i} (block {block.index}) takes a {block.input_size}-value share and a "
                f"{block.output_size}-value mask, the opening has {len(opening.share)} and "
                f"{len(opening.mask)}"
            )
        values = (*opening.share, *opening.mask, opening.salt)
        if not all(is_field_element(v) for v in values):
            raise ProofError(f"round {i}: an opening value is not a field element in [0, r)")


def public_inputs(
    manifest: Manifest, part: int, tag: int, openings: Sequence[Opening]
) -> tuple[int, int, int, int, int]:
    """(tag, n, T_n, O_{n-1}, O_n) of these openings (checked by the caller)."""
    p = manifest.part(part)
    state = TranscriptState.start(tag)
    for i, opening in enumerate(openings, start=1):
        b = p.block_for_round(i)
        commitment = round_commitment(tag, i, b, opening.share, opening.mask, opening.salt)
        outputs = manifest.block(b).apply(opening.share, opening.mask)
        state = state.advance(b, commitment, outputs)
    return (
        tag,
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
    """The circuit's input signals for these openings and public inputs.

    `active` overrides the flags (tests use it to try witnesses the circuit must refuse).
    """
    p = manifest.part(part)
    inputs: dict[str, Any] = dict(zip(PUBLIC_INPUTS, public, strict=True))
    n = len(openings)
    inputs["active"] = list(active) if active is not None else [1] * n + [0] * (rounds - n)
    salts = []
    for j in range(rounds):
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
