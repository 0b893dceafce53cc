"""The node's checks of a prompt's later tokens (`zkai.protocol.prompt`), for part 0 of a
language model whose version registers a validity rule.

    prompt-missing              round 1 carries no `prompt` rows, or a later round's were lost
    prompt-malformed            the rows are not one per node of part 0, or the prompt is longer
                                than the context
    prompt-commitment-mismatch  a prompt token's round: c_i is not this node's row entry
    validity-missing            a prompt token's round carries no validity proof
    invalid-validity-proof      the registered verifier refuses it for the column (eth_call)

Round 1: the payload must open c_1 with salt = Poseidon(prompt_digest(rows), the seed's salt) (the
request's on-chain proof made every salt derive from one digest, so every node of part 0 checks
the same rows). The rows and part 0's nodes (in the request's order, `getQueryNodes`) are stored
with round 1. A round R t + 1 with 0 < t < L must then commit to rows[a][t-1] and carry a proof
of position t whose public inputs the node builds itself: (ruleHash, tag_j, rows[j][t-1]) for
part 0's nodes j.
"""

from __future__ import annotations

from dataclasses import dataclass

from zkai.errors import NodeError, ShareError
from zkai.node.chainview import ChainView
from zkai.node.parts import ServedPart
from zkai.node.store import AssignmentRow, RoundStore
from zkai.protocol.ids import assignment_tag
from zkai.protocol.market import ValidityTerms
from zkai.protocol.prompt import prompt_digest, prompt_length, prompt_position
from zkai.protocol.wire import RoundRequest

__all__ = ["PromptChecks", "PromptRefusedError", "PromptRows"]


class PromptRefusedError(NodeError):
    """A prompt check failed: `reason` is the round refusal's code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PromptRows:
    """Part 0's nodes (the request's order) and the rows round 1 carried."""

    nodes: tuple[str, ...]
    rows: tuple[tuple[int, ...], ...]

    @property
    def length(self) -> int:
        return prompt_length(self.rows)


class PromptChecks:
    """The checks of the module docstring, for one node (its chain view and store)."""

    def __init__(self, view: ChainView, store: RoundStore, node: str) -> None:
        self.view = view
        self.store = store
        self.node = node
        self._terms: dict[tuple[int, int], ValidityTerms] = {}

    def _validity(self, assignment: AssignmentRow) -> ValidityTerms:
        key = (assignment.model_id, assignment.version)
        if key not in self._terms:  # a version's rule never changes once published
            self._terms[key] = self.view.model(*key).validity
        return self._terms[key]

    def applies(self, part: ServedPart, assignment: AssignmentRow) -> bool:
        """Part 0 of a language model whose version registers an input rule."""
        return (
            part.part == 0
            and part.manifest.decoder is not None
            and self._validity(assignment).required
        )

    def first_round(self, wire: RoundRequest, part: ServedPart) -> tuple[int, PromptRows]:
        """Round 1: (the digest of the rows, from which its salt derives; the rows with part
        0's nodes)."""
        if wire.prompt is None:
            raise PromptRefusedError(
                "prompt-missing",
                "round 1 of a language model with an input rule carries the prompt's "
                "commitments ('prompt'); update the client",
            )
        nodes = tuple(self.view.query_nodes(wire.message.query_id, 0, self.view.final_block()))
        if len(wire.prompt) != len(nodes):
            raise PromptRefusedError(
                "prompt-malformed",
                f"'prompt' has {len(wire.prompt)} rows, part 0 has {len(nodes)} nodes",
            )
        decoder = part.manifest.decoder
        context = decoder.context if decoder is not None else 0
        try:
            length = prompt_length(wire.prompt)
            if length > context:  # before hashing: a long row costs the node Poseidon time
                raise ShareError(f"a prompt of {length} tokens exceeds the context of {context}")
            digest = prompt_digest(wire.prompt)
        except ShareError as exc:
            raise PromptRefusedError("prompt-malformed", str(exc)) from None
        return digest, PromptRows(nodes, wire.prompt)

    def later_round(self, wire: RoundRequest, part: ServedPart, assignment: AssignmentRow) -> None:
        """A round after round 1: if it introduces a prompt token, its commitment and proof."""
        m = wire.message
        stored = self.store.prompt(m.query_id, m.part, self.node)
        if stored is None:
            raise PromptRefusedError(
                "prompt-missing", "this node holds no prompt commitments for the assignment"
            )
        prompt = PromptRows(*stored)
        t = prompt_position(part.manifest.rounds_per_pass(0), m.round, prompt.length)
        if t is None:
            return
        a = [n.lower() for n in prompt.nodes].index(self.node.lower())
        if m.commitment != prompt.rows[a][t - 1]:
            raise PromptRefusedError(
                "prompt-commitment-mismatch",
                f"c_{m.round} is not the commitment round 1 fixed for prompt token {t + 1}",
            )
        if wire.validity is None:
            raise PromptRefusedError(
                "validity-missing",
                f"round {m.round} introduces prompt token {t + 1} without "
                "its validity proof ('validity')",
            )
        terms = self._validity(assignment)
        inputs = [terms.rule_hash]
        for node, row in zip(prompt.nodes, prompt.rows, strict=True):
            tag = assignment_tag(self.view.chain_id, self.view.market, m.query_id, 0, node)
            inputs += [tag, row[t - 1]]
        if not self.view.validity_verified(terms.verifier, wire.validity, inputs):
            raise PromptRefusedError(
                "invalid-validity-proof",
                f"the version's validity verifier refuses the proof of prompt token {t + 1} "
                f"(round {m.round})",
            )
