"""A model version's input rule: what the user's validity proof shows a private input satisfies.

The rule is derived from the manifest (and the k of part 0 registered on-chain), so anyone holding
the manifest derives the same rule, the same circuit and the same rule hash:

- "ranges" (tabular models): every feature of block 0's input lies in the manifest's declared
  [input_min_j, input_max_j] (quantised integers at the input scale, signed).
- "tokens" (language models): block 0's input is table[t][x], the client's embedding step
  (quantised LN1 of E[x] + P[t], `zkai.models.decoder.token_inputs`) of a token x the usage
  policy allows (the vocabulary minus the manifest's `forbidden` tokens) at a position t below
  the context, where the committed round is R*t + 1 (R = part 0's rounds per pass): a
  vocabulary token, within the context, not forbidden. The request's proof is of round 1, so
  on-chain it covers the prompt's first token (t = 0); a proof per token round, checked by the
  nodes, is what would cover the rest (DESIGN.md, "The user's validity proof").

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

from .decoder import token_inputs
from .manifest import Manifest

__all__ = ["MAX_BOUND", "RULE_FORMAT", "RuleKind", "ValidityRule", "rule_for"]

RULE_FORMAT = "zkai-rule/1"
RuleKind = Literal["ranges", "tokens"]
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
    minimum: tuple[int, ...] = ()
    maximum: tuple[int, ...] = ()
    # "tokens" only: the vocabulary's size, the allowed token ids (policy applied), part 0's
    # rounds per pass (token t's round is round_stride * t + 1) and table[t][u], block 0's
    # input for tokens[u] at position t (t < the context)
    vocab_size: int = 0
    tokens: tuple[int, ...] = ()
    round_stride: int = 0
    table: tuple[tuple[tuple[int, ...], ...], ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.shares <= 8:
            raise ModelFormatError(f"a rule covers 1..8 shares of part 0, got {self.shares}")
        if self.kind == "tokens":
            self._check_tokens()
            return
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

    def _check_tokens(self) -> None:
        if self.round_stride < 1 or not self.table:
            raise ModelFormatError("a tokens rule needs part 0's round stride and a table")
        if not self.tokens or list(self.tokens) != sorted(set(self.tokens)):
            raise ModelFormatError("a tokens rule allows distinct token ids, in order")
        if not all(0 <= x < self.vocab_size for x in self.tokens):
            raise ModelFormatError(f"a tokens rule allows token ids in 0..{self.vocab_size - 1}")
        for t, row in enumerate(self.table):
            if len(row) != len(self.tokens) or any(len(v) != self.input_size for v in row):
                raise ModelFormatError(
                    f"a tokens rule's table row {t} must hold {len(self.tokens)} inputs of "
                    f"{self.input_size} values"
                )

    @property
    def positions(self) -> int:
        """Positions a token may take (the context): table rows."""
        return len(self.table)

    def to_dict(self) -> dict[str, Any]:
        """The rule itself (what is hashed): not the model's name or version, so versions with
        the same rule (a retrained model) share one circuit, key and verifier."""
        common = {
            "format": RULE_FORMAT,
            "shares": self.shares,
            "block": self.block,
            "input_size": self.input_size,
            "mask_size": self.mask_size,
            "kind": self.kind,
        }
        if self.kind == "tokens":
            return {
                **common,
                "vocab_size": self.vocab_size,
                "tokens": list(self.tokens),
                "round_stride": self.round_stride,
                "table": [[list(v) for v in row] for row in self.table],
            }
        return {**common, "minimum": list(self.minimum), "maximum": list(self.maximum)}

    def canonical_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @property
    def hash(self) -> int:
        """keccak256 of the canonical JSON, mod r (a public input of the validity proof)."""
        return int.from_bytes(keccak(self.canonical_json()), "big") % BN254_R

    def check(self, values: Sequence[int]) -> None:
        """What the circuit proves, checked in the clear on the user's device before proving:
        `InputRangeError` naming the first feature out of its range (a tokens rule: checks
        that `values` is an allowed token's input at position 0, see `locate`)."""
        if self.kind == "tokens":
            self.locate(values, 0)
            return
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

    def locate(self, values: Sequence[int], position: int) -> int:
        """A tokens rule: the index u (into `tokens`) whose input at `position` is `values`;
        `InputRangeError` if no allowed token's is (an unknown or forbidden token, or an input
        that is no token's embedding), `InvalidInputError` for a position beyond the context."""
        where = f"the rule of {self.model} v{self.version}"
        if not 0 <= position < self.positions:
            raise InvalidInputError(
                f"position {position} is beyond the context of {self.positions} ({where})"
            )
        key = tuple(values)
        for u, entry in enumerate(self.table[position]):
            if entry == key:
                return u
        raise InputRangeError(
            f"the input at position {position} is not the embedding of a token {where} allows "
            "(a vocabulary token the usage policy does not forbid): the request would be "
            "refused on-chain"
        )


def rule_for(manifest: Manifest, shares: int) -> ValidityRule:
    """The input rule of a manifest whose part 0 is dealt to `shares` nodes."""
    first = manifest.part(0)
    block = manifest.block(first.block_for_round(1))
    if block.index != 0:
        raise ModelFormatError(
            f"{manifest.name}: part 0's round 1 evaluates block {block.index}, not block 0 (the "
            "model's input or a token's embedding): a validity rule proves round 1's input"
        )
    common: dict[str, Any] = {
        "model": manifest.name,
        "version": manifest.version,
        "manifest_hash": manifest.hash_hex,
        "shares": shares,
        "block": block.index,
        "input_size": block.input_size,
        "mask_size": block.output_size,
    }
    spec = manifest.decoder
    if spec is not None:
        # a language model: the tokens its policy allows, at positions within the context
        allowed = tuple(x for x in range(len(spec.vocab)) if x not in set(spec.forbidden))
        return ValidityRule(
            **common,
            kind="tokens",
            vocab_size=len(spec.vocab),
            tokens=allowed,
            round_stride=manifest.rounds_per_pass(0),
            table=tuple(tuple(row[x] for x in allowed) for row in token_inputs(manifest)),
        )
    if first.max_budget > manifest.rounds_per_pass(0):
        raise ModelFormatError(
            f"{manifest.name}: part 0 sells up to {first.max_budget} rounds, more than one "
            f"forward pass ({manifest.rounds_per_pass(0)}): the validity proof covers round 1's "
            "input only, so later inputs of block 0 would go unproven"
        )
    return ValidityRule(
        **common,
        kind="ranges",
        minimum=tuple(manifest.input_min),
        maximum=tuple(manifest.input_max),
    )
