"""The user's side of one query's rounds: dealing, sealing, signing, checking and reconstructing.

A `QuerySession` holds what only the user knows: the query's session key (a fresh secp256k1 key
whose address the request records), every round's openings (shares, masks, salts) and each
assignment's transcript state (T, O). For one block evaluation by the k nodes of a part it
deals the block's input into k fresh additive shares (`zkai.protocol.payload.deal_round`), seals
each payload to the node's recorded encryption key, and signs each node's `Round`. When a node
answers it checks the answer before using it: the right number of outputs, each below r, O_i
= Poseidon(O_{i-1}, i, Poseidon(out_i)) equal to the O_i the node signed, and the `Ack` recovering
to the node's recorded ack signer. Only then does the assignment's state advance. The block's
output is sum_j out_j - sum_j m_j (mod r); the bias is the user's to add (`zkai.client.query`).

Nothing here talks to a chain or a network: the client (`zkai.client.query`) does, and the tests
drive sessions directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from zkai.crypto.encryption import seal
from zkai.crypto.field import BN254_R, encode_signed_vector, is_field_element
from zkai.crypto.transcript import TranscriptState, output_transcript_step
from zkai.errors import SignatureError
from zkai.models.manifest import Manifest
from zkai.protocol.ids import assignment_tag, new_salt, query_id
from zkai.protocol.messages import AckMessage, Domain, RoundMessage
from zkai.protocol.payload import RoundHeader, RoundOpening, RoundPayload, deal_round
from zkai.protocol.prompt import first_round_salt, prompt_digest, prompt_round
from zkai.protocol.wire import RoundAnswer, RoundRequest

__all__ = ["AckError", "AssignmentState", "PreparedRound", "PromptDealing", "QuerySession"]


class AckError(SignatureError):
    """A node's answer does not check out (wrong size, transcript or Ack signature): not used."""


@dataclass(frozen=True)
class PreparedRound:
    """One node's round, ready to send: the signed request and what the user keeps of it."""

    part: int
    node: str
    round: int
    block: int
    header: RoundHeader
    opening: RoundOpening
    request: RoundRequest
    payload: bytes = field(default=b"", repr=False)
    """The sealed plaintext (kept on the user's device only), to re-seal to a recorded key."""

    @property
    def commitment(self) -> int:
        return self.request.message.commitment


@dataclass
class AssignmentState:
    """One assignment (query, part, node) as the user sees it."""

    part: int
    node: str
    tag: int
    encryption_key: bytes
    ack_signer: str
    endpoint: str
    budget: int
    state: TranscriptState
    acks: list[tuple[int, int, int, bytes]] = field(default_factory=list)  # (i, T_i, O_i, sig)

    @property
    def rounds(self) -> int:
        return self.state.rounds


@dataclass
class PromptDealing:
    """The prompt's later token rounds of part 0, dealt before paying (`zkai.protocol.prompt`):
    the payloads per (node, round), the rounds' inputs, the commitment rows (the request's node
    order) and their digest, round 1's salt; the one-position proofs once made."""

    secrets: dict[int, tuple[int, ...]]
    payloads: dict[tuple[str, int], RoundPayload]
    rows: tuple[tuple[int, ...], ...]
    digest: int
    proofs: dict[int, tuple[int, ...]] = field(default_factory=dict)
    rhos: dict[str, int] = field(default_factory=dict)
    """Round 1's rho per node (its seed's salt; its salt is Poseidon(digest, rho))."""

    def opening(self, node: str, round_index: int) -> RoundOpening:
        return self.payloads[(to_checksum_address(node), round_index)].opening()


class QuerySession:
    """The secrets and the transcript state of one query, on the user's device only."""

    def __init__(
        self,
        chain_id: int,
        market: str,
        user: str,
        *,
        salt: bytes | None = None,
        session_key: LocalAccount | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.market = to_checksum_address(market)
        self.user = to_checksum_address(user)
        self.salt = salt if salt is not None else new_salt()
        self.session_key: LocalAccount = session_key or Account.create()
        self.query_id = query_id(chain_id, self.market, self.user, self.salt)
        self.domain = Domain(chain_id, self.market)
        self.assignments: dict[tuple[int, str], AssignmentState] = {}
        self.prompt: PromptDealing | None = None

    def add_assignment(
        self,
        part: int,
        node: str,
        *,
        encryption_key: bytes,
        ack_signer: str,
        endpoint: str,
        budget: int,
    ) -> AssignmentState:
        node = to_checksum_address(node)
        tag = assignment_tag(self.chain_id, self.market, self.query_id, part, node)
        state = AssignmentState(
            part=part,
            node=node,
            tag=tag,
            encryption_key=bytes(encryption_key),
            ack_signer=to_checksum_address(ack_signer),
            endpoint=endpoint,
            budget=budget,
            state=TranscriptState.start(tag),
        )
        self.assignments[(part, node)] = state
        return state

    def assignment(self, part: int, node: str) -> AssignmentState:
        return self.assignments[(part, to_checksum_address(node))]

    def nodes_of(self, part: int) -> list[str]:
        return [node for (p, node) in self.assignments if p == part]

    def deal_prompt(
        self, block: int, stride: int, secrets: Sequence[Sequence[int]], output_size: int
    ) -> PromptDealing:
        """Deal part 0's rounds of the prompt's tokens 1..L-1 (`secrets[t-1]` is token t's input
        to `block`, field elements) before round 1: their commitments fix round 1's salt."""
        if any(s.rounds for s in self.assignments.values()):
            raise AckError("the prompt's rounds are dealt before round 1")
        states = [self.assignment(0, node) for node in self.nodes_of(0)]
        payloads: dict[tuple[str, int], RoundPayload] = {}
        by_round: dict[int, tuple[int, ...]] = {}
        for t, secret in enumerate(secrets, start=1):
            i = prompt_round(stride, t)
            by_round[i] = tuple(secret)
            headers = [self._header(0, s.node, i, block, len(secret), output_size) for s in states]
            for s, payload in zip(states, deal_round(secret, headers), strict=True):
                payloads[(s.node, i)] = payload
        rows = tuple(
            tuple(
                payloads[(s.node, i)].opening().commitment(s.tag, payloads[(s.node, i)].header)
                for i in sorted(by_round)
            )
            for s in states
        )
        self.prompt = PromptDealing(by_round, payloads, rows, prompt_digest(rows))
        return self.prompt

    def _header(
        self, part: int, node: str, round_index: int, block: int, n: int, m: int
    ) -> RoundHeader:
        return RoundHeader(
            chain_id=self.chain_id,
            market=self.market,
            query_id=self.query_id,
            part=part,
            node=node,
            round=round_index,
            block=block,
            input_size=n,
            output_size=m,
        )

    def _dealt(
        self,
        part: int,
        states: Sequence[AssignmentState],
        block: int,
        secret: Sequence[int],
        m: int,
    ) -> list[tuple[RoundPayload, RoundOpening]]:
        """This round's payloads and openings: fresh shares, or the prompt's dealt ones; round 1
        of part 0 takes the prompt's digest as its salt."""
        i = states[0].rounds + 1
        prompt = self.prompt if part == 0 else None
        if prompt is not None and i in prompt.secrets:
            if tuple(secret) != prompt.secrets[i]:
                raise AckError(
                    f"round {i}'s input is not the prompt token's input dealt before paying"
                )
            payloads = [prompt.payloads[(s.node, i)] for s in states]
        else:
            headers = [self._header(part, s.node, i, block, len(secret), m) for s in states]
            payloads = deal_round(secret, headers)
        dealt = [(p, p.opening()) for p in payloads]
        if prompt is not None and i == 1:
            prompt.rhos = {s.node: o.salt for s, (_, o) in zip(states, dealt, strict=True)}
            dealt = [
                (p, dataclasses.replace(o, salt=first_round_salt(prompt.digest, o.salt)))
                for p, o in dealt
            ]
        return dealt

    def prepare_block(
        self, part: int, block: int, secret: Sequence[int], output_size: int
    ) -> list[PreparedRound]:
        """Deal `secret` (field elements) for one evaluation of `block` by every node of `part`."""
        nodes = self.nodes_of(part)
        states = [self.assignment(part, node) for node in nodes]
        for s in states:
            if s.rounds + 1 > s.budget:
                raise AckError(
                    f"part {part}'s budget of {s.budget} rounds is used up for node {s.node}"
                )
        if len({s.rounds for s in states}) != 1:
            raise AckError(f"part {part}'s nodes are at different rounds")
        prompt = self.prompt if part == 0 else None
        prepared = []
        for s, (payload, opening) in zip(
            states, self._dealt(part, states, block, secret, output_size), strict=True
        ):
            header = payload.header
            commitment = opening.commitment(s.tag, header)
            message = RoundMessage(
                query_id=self.query_id,
                part=part,
                node=s.node,
                round=header.round,
                commitment=commitment,
                input_transcript=s.state.next_input(block, commitment),
                prev_output_transcript=s.state.output_transcript,
            )
            request = RoundRequest(
                message=message,
                signature=message.sign(self.domain, self.session_key),
                sealed=seal(s.encryption_key, payload.to_bytes()),
                prompt=prompt.rows if prompt is not None and header.round == 1 else None,
                validity=None if prompt is None else prompt.proofs.get(header.round),
            )
            prepared.append(
                PreparedRound(
                    part, s.node, header.round, block, header, opening, request, payload.to_bytes()
                )
            )
        return prepared

    def use_recorded_keys(
        self, part: int, node: str, encryption_key: bytes, ack_signer: str
    ) -> bool:
        """Adopt the keys the market recorded for an assignment (they are the ones that count:
        payloads sealed to them, Acks recovering to them). True if they differ from the plan's."""
        s = self.assignment(part, node)
        changed = (s.encryption_key, s.ack_signer) != (
            bytes(encryption_key),
            to_checksum_address(ack_signer),
        )
        s.encryption_key = bytes(encryption_key)
        s.ack_signer = to_checksum_address(ack_signer)
        return changed

    def reseal(self, prepared: PreparedRound) -> PreparedRound:
        """The same round sealed to the assignment's current (recorded) encryption key."""
        s = self.assignment(prepared.part, prepared.node)
        sealed = seal(s.encryption_key, prepared.payload)
        return dataclasses.replace(
            prepared, request=dataclasses.replace(prepared.request, sealed=sealed)
        )

    def accept(self, prepared: PreparedRound, answer: RoundAnswer) -> None:
        """Check a node's answer to `prepared` and advance its assignment (AckError if wrong)."""
        s = self.assignment(prepared.part, prepared.node)
        if s.rounds + 1 != prepared.round:
            raise AckError(f"round {prepared.round} of {s.node} answered out of order")
        if len(answer.outputs) != prepared.header.output_size:
            raise AckError(
                f"node {s.node} returned {len(answer.outputs)} outputs for a block of "
                f"{prepared.header.output_size}"
            )
        if not all(is_field_element(v) for v in answer.outputs):
            raise AckError(f"node {s.node} returned a value not below the field order")
        expected = output_transcript_step(s.state.output_transcript, prepared.round, answer.outputs)
        if expected != answer.output_transcript:
            raise AckError(f"node {s.node}'s output transcript does not match its outputs")
        message = AckMessage(
            query_id=self.query_id,
            part=prepared.part,
            node=s.node,
            round=prepared.round,
            input_transcript=prepared.request.message.input_transcript,
            output_transcript=answer.output_transcript,
        )
        signer = message.signer(self.domain, answer.ack)
        if signer != s.ack_signer:
            raise AckError(
                f"node {s.node}'s Ack is signed by {signer}, not its recorded signer {s.ack_signer}"
            )
        s.state = s.state.advance(prepared.block, prepared.commitment, answer.outputs)
        s.acks.append(
            (prepared.round, message.input_transcript, answer.output_transcript, answer.ack)
        )

    def evaluate_block(
        self,
        manifest: Manifest,
        block_index: int,
        values: Sequence[int],
        send: Callable[[Sequence[PreparedRound]], Sequence[RoundAnswer]],
        *,
        pending: Sequence[PreparedRound] | None = None,
    ) -> list[int]:
        """One linear block through its part's k nodes, as one round each: `values` (signed ints
        at the block's input scale) dealt into fresh shares (unless `pending` is this block's
        round, already dealt), sent with `send`, every answer checked (`accept`) before it is
        used, then W x + b reconstructed (signed ints). `send` delivers one block's rounds and
        returns the answers in the same order."""
        block = manifest.block(block_index)
        part = manifest.part_of_block(block_index).index
        if pending is None:
            pending = self.prepare_block(
                part, block_index, encode_signed_vector(values), block.output_size
            )
        answers = send(pending)
        if len(answers) != len(pending):
            raise AckError(f"{len(answers)} answers for the {len(pending)} rounds of a block")
        for prepared, answer in zip(pending, answers, strict=True):
            self.accept(prepared, answer)
        return block.reconstruct(self.reconstruct(pending, answers))

    def run_blocks(
        self,
        manifest: Manifest,
        values: Sequence[int],
        send: Callable[[Sequence[PreparedRound]], Sequence[RoundAnswer]],
        *,
        first: Sequence[PreparedRound] | None = None,
        on_block: Callable[[int, int], None] | None = None,
    ) -> tuple[list[int], int]:
        """A forward pass: every linear block through `evaluate_block` (`first` is block 0's
        round if already dealt), then the user steps after it. Returns the final values and how
        many values a clamp changed."""
        current = list(values)
        clamped = 0
        pending = first
        for block in manifest.blocks:
            reconstructed = self.evaluate_block(
                manifest, block.index, current, send, pending=pending
            )
            stepped = manifest.run_user_steps(block.index, reconstructed)
            current, clamped = list(stepped.values), clamped + stepped.clamped
            if on_block is not None:
                on_block(block.index, manifest.part_of_block(block.index).index)
            pending = None
        return current, clamped

    @staticmethod
    def reconstruct(prepared: Sequence[PreparedRound], answers: Sequence[RoundAnswer]) -> list[int]:
        """sum_j out_j - sum_j m_j (mod r): W x for the block's input x (no bias)."""
        size = len(answers[0].outputs)
        total = [0] * size
        for p, a in zip(prepared, answers, strict=True):
            total = [
                (t + o - m) % BN254_R
                for t, o, m in zip(total, a.outputs, p.opening.mask, strict=True)
            ]
        return total
