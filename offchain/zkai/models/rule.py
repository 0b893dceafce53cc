"""A model version's input rule: what the user's validity proof shows a private input satisfies.

The rule is derived from the manifest (and the k of part 0 registered on-chain), so anyone holding
the manifest derives the same rule, the same circuit and the same rule hash:

- "ranges" (tabular models): every feature of block 0's input lies in the manifest's declared
  [input_min_j, input_max_j] (quantised integers at the input scale, signed).

The validity circuit (`zkai.circuits.validity_source`) proves, for one query, that the k shares
dealt to part 0's round 1 open the k commitments the request carries (each bound to its
assignment's tag) and sum to an input that satisfies the rule. The rule hash, keccak256 of the
rule's canonical JSON reduced mod r, is registered with the version (`ModelRegistry`
`ValidityTerms.ruleHash`) and is a public input the market passes itself, so a proof for another
model's or version's rule does not verify.

What the proof does not cover (PROTOCOL.md, "User validity proof"): inputs of later rounds (the
user steps are not proven), and the meaning of a valid input: a valid but adversarial question is
still a valid question.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from eth_hash.auto import keccak

from zkai.crypto.field import BN254_R
from zkai.errors import InputRangeError, InvalidInputError, ModelFormatError

from .manifest import Manifest

__all__ = ["MAX_BOUND", "RULE_FORMAT", "RuleKind", "ValidityRule", "rule_for"]

RULE_FORMAT = "zkai-rule/1"
RuleKind = Literal["ranges"]
MAX_BOUND = 2**250
"""Bounds and widths of a range stay below this (the two-sided check needs width << r)."""


@dataclass(frozen=True)
class ValidityRule:
    """One version's input rule (see the module docstring)."""

    model: str
    version: int
    manifest_hash: str
    shares: int
    block: int
    input_size: int
    mask_size: int
    kind: RuleKind
    minimum: tuple[int, ...]
    maximum: tuple[int, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.shares <= 8:
            raise ModelFormatError(f"a rule covers 1..8 shares of part 0, got {self.shares}")
        if len(self.minimum) != self.input_size or len(self.maximum) != self.input_size:
            raise ModelFormatError(f"a ranges rule has {self.input_size} bounds per side")
        for j, (lo, hi) in enumerate(zip(self.minimum, self.maximum, strict=True)):
            if lo > hi:
                raise ModelFormatError(f"rule range {j} is empty: [{lo}, {hi}]")
            # the circuit's two-sided bit check is sound only for widths far below r
            if max(abs(lo), abs(hi)) >= MAX_BOUND or hi - lo >= MAX_BOUND:
                raise ModelFormatError(
                    f"rule range {j} [{lo}, {hi}] is too wide for a range proof (bounds and "
                    f"width must stay below 2^{MAX_BOUND.bit_length() - 1})"
                )

    def to_dict(self) -> dict[str, Any]:
        """The rule itself (what is hashed): not the model's name or version, so versions with
        the same rule (a retrained model) share one circuit, key and verifier."""
        return {
            "format": RULE_FORMAT,
            "shares": self.shares,
            "block": self.block,
            "input_size": self.input_size,
            "mask_size": self.mask_size,
            "kind": self.kind,
            "minimum": list(self.minimum),
            "maximum": list(self.maximum),
        }

    def canonical_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @property
    def hash(self) -> int:
        """keccak256 of the canonical JSON, mod r (a public input of the validity proof)."""
        return int.from_bytes(keccak(self.canonical_json()), "big") % BN254_R

    def check(self, values: Sequence[int]) -> None:
        """What the circuit proves, checked in the clear on the user's device before proving:
        `InputRangeError` naming the first feature out of its range."""
        if len(values) != self.input_size:
            raise InvalidInputError(
                f"the rule of {self.model} v{self.version} takes {self.input_size} values, "
                f"got {len(values)}"
            )
        for j, v in enumerate(values):
            if not self.minimum[j] <= v <= self.maximum[j]:
                raise InputRangeError(
                    f"input[{j}] = {v} (quantised) is outside [{self.minimum[j]}, "
                    f"{self.maximum[j]}], the range the validity rule of {self.model} "
                    f"v{self.version} requires: the request would be refused on-chain"
                )


def rule_for(manifest: Manifest, shares: int) -> ValidityRule:
    """The input rule of a manifest whose part 0 is dealt to `shares` nodes."""
    if manifest.decoder is not None:
        raise ModelFormatError(
            f"{manifest.name} is a language model: its validity rule (tokens of the vocabulary, "
            "the prompt's length, a usage policy) is not built yet"
        )
    first = manifest.part(0)
    block = manifest.block(first.block_for_round(1))
    if block.index != 0:
        raise ModelFormatError(
            f"{manifest.name}: part 0's round 1 evaluates block {block.index}, not block 0 (the "
            "model's input): a validity rule proves round 1's input"
        )
    if first.max_budget > manifest.rounds_per_pass(0):
        raise ModelFormatError(
            f"{manifest.name}: part 0 sells up to {first.max_budget} rounds, more than one "
            f"forward pass ({manifest.rounds_per_pass(0)}): the validity proof covers round 1's "
            "input only, so later inputs of block 0 would go unproven"
        )
    return ValidityRule(
        model=manifest.name,
        version=manifest.version,
        manifest_hash=manifest.hash_hex,
        shares=shares,
        block=block.index,
        input_size=block.input_size,
        mask_size=block.output_size,
        kind="ranges",
        minimum=tuple(manifest.input_min),
        maximum=tuple(manifest.input_max),
    )
