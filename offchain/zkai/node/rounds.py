"""Serving one round (PROTOCOL.md v2, step 2): every check a-f, then store, then answer.

`RoundService.serve(request)` returns the masked outputs and the node's Ack, or raises
`RoundRefusedError(reason, detail)` and signs nothing. The checks, in order:

    malformed                 the request is not the documented JSON
    not-assigned              the Round names another node
    bad-signature             the Round's signature is malformed
    query-unknown / not-final the query is not on-chain / only in blocks not yet final   (a)
    not-assigned              no assignment of this node to (query, part)                  (a)
    session-mismatch          the Round is not signed by the query's session key          (a)
    (an identical Round again returns the stored answer here)
    round-out-of-order        i is not the last served round + 1                           (c)
    claimed                   the chain finalised this assignment, or the node is making its
                              final claim (earlier chunks claimed do not stop serving)    (b)
    deadline                  chain time + margin is not before t_R                        (b)
    budget                    i > B_a (or above the part's max_budget)                     (c)
    part-not-served           the node cannot prove this part (manifest, keys)
    transcript-mismatch       O_{i-1} is not the node's, or T_i != Poseidon(T_{i-1}, i, b, c_i)
    key-unavailable           the node lacks the recorded ack or encryption key (rotated away)
    undecryptable             the sealed payload does not open with the recorded key      (d)
    header-mismatch           the payload's header is not the signed Round's              (d)
    wrong-size / not-in-field the payload's sizes are not block b's / a value is >= r     (d)
    commitment-mismatch       the opening does not hash to c_i                             (d)
    commitment-reused         this node served c_i before (never serve one twice)
    first-commitment-mismatch round 1 of part 0: c_1 is not the request's                  (d)
    prompt-*, validity-missing, invalid-validity-proof
                              part 0 of a language model with an input rule: the prompt's
                              commitments at round 1, a prompt token's proof later
                              (`zkai.node.prompt`)                                          (d)
    unprovable                the part circuit's statement over round i's chunk fails      (e)
    no-capacity               the prover could not finish every owed proof in time         (f)

Check (e), the new slot's witness: the node computes out_i = W s_i + m_i, the commitment and
both chain steps once, with the functions the part circuit's statement uses
(`zkai.circuits.statement`), and checks what the circuit requires beyond that of round i alone:
its opening's sizes and field range, and that its chunk (rounds n0+1..i, n0 = R_max *
floor((i-1) / R_max): claims cover whole chunks of R_max rounds but the last) starts from a state
the circuit accepts. Earlier rounds were checked when served and their transcripts are stored, so
a round costs the same at i = 1 and at i = 189 (it computes, it does not prove). Check (f)
counts one R_max-slot proof per chunk the node still owes for each open assignment
(`_check_capacity`). Then the round is stored durably (`RoundStore.record_round`, one
transaction that also fails if a concurrent request stored it first) and only then answered.
The plaintext share exists only in this process and the store.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass

from zkai.circuits.statement import ChunkStart, check_slot, check_start
from zkai.crypto.encryption import open_sealed
from zkai.crypto.field import BN254_R, is_field_element
from zkai.crypto.transcript import (
    TranscriptState,
    input_transcript_step,
    output_transcript_step,
)
from zkai.errors import DecryptionError, NodeError, ProofError, ShareError, SignatureError
from zkai.node.capacity import ProofJob, first_late_job
from zkai.node.chainview import ChainView, QueryRecord
from zkai.node.keys import UnlockedNode
from zkai.node.parts import PartUnavailableError, ServedPart, ServedParts
from zkai.node.prompt import PromptChecks, PromptRefusedError, PromptRows
from zkai.node.settings import NodeSettings
from zkai.node.store import (
    CLAIMING,
    OPEN,
    AssignmentRow,
    RoundRow,
    RoundStore,
    StoreConflictError,
)
from zkai.protocol.ids import assignment_tag
from zkai.protocol.messages import AckMessage, Domain, RoundMessage
from zkai.protocol.payload import KIND_EXPLICIT, SEED_BYTES, RoundOpening, RoundPayload
from zkai.protocol.prompt import first_round_salt
from zkai.protocol.wire import RoundAnswer, RoundRefusal, RoundRequest, WireError

__all__ = ["STATUS", "RoundAnswer", "RoundRefusedError", "RoundRequest", "RoundService"]

STATUS: dict[str, int] = {
    "malformed": 400,
    "bad-signature": 400,
    "undecryptable": 400,
    "header-mismatch": 400,
    "wrong-size": 400,
    "not-in-field": 400,
    "commitment-mismatch": 400,
    "first-commitment-mismatch": 400,
    "prompt-missing": 400,
    "prompt-malformed": 400,
    "prompt-commitment-mismatch": 400,
    "validity-missing": 400,
    "invalid-validity-proof": 400,
    "query-unknown": 404,
    "not-assigned": 404,
    "session-mismatch": 403,
    "claimed": 409,
    "round-out-of-order": 409,
    "transcript-mismatch": 409,
    "commitment-reused": 409,
    "deadline": 410,
    "budget": 422,
    "part-not-served": 422,
    "unprovable": 422,
    "key-unavailable": 422,
    "not-final": 503,
    "no-capacity": 503,
}
_HEAD_BYTES = 122


class RoundRefusedError(NodeError):
    """A round the node will not serve; nothing was signed."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    @property
    def status(self) -> int:
        return STATUS.get(self.reason, 400)

    def as_json(self) -> dict[str, str]:
        return RoundRefusal(self.reason, self.detail).to_json()


def parse_request(body: object) -> RoundRequest:
    """The wire request (`zkai.protocol.wire`), or a refusal naming what is malformed."""
    try:
        return RoundRequest.from_json(body)
    except WireError as exc:
        text = str(exc)
        if "'signature'" in text:
            reason = "bad-signature"
        elif "below the field order" in text:
            reason = "not-in-field"
        else:
            reason = "malformed"
        raise RoundRefusedError(reason, text) from None


@dataclass(frozen=True)
class _Round:
    """The fields of one parsed request, flat."""

    query: bytes
    part: int
    node: str
    round: int
    commitment: int
    input_transcript: int
    prev_output_transcript: int
    signature: bytes
    payload: bytes
    wire: RoundRequest

    @classmethod
    def of(cls, request: RoundRequest) -> _Round:
        m = request.message
        return cls(
            m.query_id,
            m.part,
            m.node,
            m.round,
            m.commitment,
            m.input_transcript,
            m.prev_output_transcript,
            request.signature,
            request.sealed,
            request,
        )

    def message(self) -> RoundMessage:
        return RoundMessage(
            self.query,
            self.part,
            self.node,
            self.round,
            self.commitment,
            self.input_transcript,
            self.prev_output_transcript,
        )


class RoundService:
    """The node's round logic, shared by the HTTP endpoint and the tests (module docstring)."""

    def __init__(
        self,
        node: UnlockedNode,
        view: ChainView,
        store: RoundStore,
        parts: ServedParts,
        settings: NodeSettings,
        on_claimable: Callable[[], None] | None = None,
    ) -> None:
        self.on_claimable = on_claimable
        """Called after a round that makes a claim due at once: the last of the budget, or the
        last of a full chunk of R_max rounds (claim it now, while later rounds are served)."""
        self.node = node
        self.view = view
        self.store = store
        self.parts = parts
        self.settings = settings
        self.domain = Domain(view.chain_id, view.market)
        self.prompts = PromptChecks(view, store, node.address)
        self._locks: dict[tuple[bytes, int], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._capacity_guard = threading.Lock()

    def _assignment_lock(self, query: bytes, part: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((query, part), threading.Lock())

    def serve(self, wire: RoundRequest) -> RoundAnswer:
        request = _Round.of(wire)
        if request.node.lower() != self.node.address.lower():
            raise RoundRefusedError(
                "not-assigned", f"this endpoint serves node {self.node.address}, not {request.node}"
            )
        message = request.message()
        try:
            signer = message.signer(self.domain, request.signature)
        except SignatureError as exc:
            raise RoundRefusedError("bad-signature", str(exc)) from None
        with self._assignment_lock(request.query, request.part):
            return self._serve_locked(request, message, signer)

    # -- a: the request on-chain ------------------------------------------------------------

    def _on_chain(self, request: _Round, signer: str) -> tuple[QueryRecord, AssignmentRow]:
        final = self.view.final_block()
        query = self.view.query(request.query, final)
        if not query.exists:
            if self.view.query(request.query, "latest").exists:
                raise RoundRefusedError(
                    "not-final",
                    f"the query is on-chain but not yet {self.view.confirmations} blocks deep; "
                    "retry shortly",
                )
            raise RoundRefusedError("query-unknown", f"no query 0x{request.query.hex()} on-chain")
        record = self.view.assignment(request.query, request.part, self.node.address, final)
        if not record.exists:
            raise RoundRefusedError(
                "not-assigned", f"this node has no assignment for part {request.part} of the query"
            )
        if signer.lower() != query.session_key.lower():
            raise RoundRefusedError(
                "session-mismatch",
                f"the Round is signed by {signer}, not by the query's session key",
            )
        tag = assignment_tag(
            self.view.chain_id, self.view.market, request.query, request.part, self.node.address
        )
        row = AssignmentRow(
            query=request.query,
            part=request.part,
            node=self.node.address,
            tag=tag,
            model_id=query.model_id,
            version=query.version,
            budget=record.budget,
            round_deadline=query.round_deadline,
            proof_deadline=query.proof_deadline,
            ack_signer=record.ack_signer,
            encryption_key=record.encryption_key,
            claimed_rounds=record.claimed_rounds,
            max_rounds=record.max_rounds,
        )
        if record.finalised:
            self.store.ensure_assignment(row)
            raise RoundRefusedError(
                "claimed",
                f"this assignment is finalised on-chain (rounds 1..{record.claimed_rounds} "
                "claimed)",
            )
        return query, row

    # -- the whole round --------------------------------------------------------------------

    def _serve_locked(self, request: _Round, message: RoundMessage, signer: str) -> RoundAnswer:
        _, assignment = self._on_chain(request, signer)
        stored = self.store.assignment(request.query, request.part, self.node.address)
        served = self.store.rounds(request.query, request.part, self.node.address)
        if served and request.round <= len(served):
            previous = served[request.round - 1]
            if (
                previous.commitment,
                previous.input_transcript,
                previous.prev_output_transcript,
            ) == (message.commitment, message.input_transcript, message.prev_output_transcript):
                return RoundAnswer(previous.outputs, previous.output_transcript, previous.ack)
        last = len(served)
        if request.round != last + 1:
            raise RoundRefusedError(
                "round-out-of-order",
                f"round {request.round} cannot be served: the last served round is {last}",
            )
        if stored is not None and stored.state != OPEN:
            raise RoundRefusedError("claimed", f"this node is {stored.state} this assignment")
        if request.round <= assignment.claimed_rounds:
            raise RoundRefusedError(
                "claimed", f"rounds 1..{assignment.claimed_rounds} are claimed on-chain already"
            )
        now = self.view.block_time()
        if now + self.settings.deadline_margin_s >= assignment.round_deadline:
            raise RoundRefusedError(
                "deadline",
                f"chain time {now} + margin {self.settings.deadline_margin_s} s is not before "
                f"the round deadline {assignment.round_deadline}",
            )
        if request.round > assignment.budget:
            raise RoundRefusedError(
                "budget", f"round {request.round} exceeds the budget of {assignment.budget}"
            )
        try:
            part = self.parts.get(assignment.model_id, assignment.version, request.part)
        except PartUnavailableError as exc:
            raise RoundRefusedError("part-not-served", str(exc)) from None
        if part.limits_mismatch is not None and stored is None:
            raise RoundRefusedError(
                "part-not-served",
                f"part {request.part} of model {assignment.model_id} v{assignment.version}: "
                f"{part.limits_mismatch}; refusing to ack rounds it would stop serving mid-query",
            )
        max_budget = part.manifest.part(request.part).max_budget
        if assignment.budget > max_budget:  # refused at round 1, not when round B+1 comes
            raise RoundRefusedError(
                "budget",
                f"the budget of {assignment.budget} rounds exceeds the part's max_budget "
                f"{max_budget}",
            )
        assignment = dataclasses.replace(
            assignment, max_rounds=assignment.max_rounds or part.terms.max_rounds
        )
        block = part.block_of_round(request.round)
        state = _state_after(assignment.tag, served)
        expected_t = input_transcript_step(
            state.input_transcript, request.round, block, message.commitment
        )
        if message.prev_output_transcript != state.output_transcript:
            raise RoundRefusedError(
                "transcript-mismatch",
                f"O_{request.round - 1} in the Round is not the node's "
                f"(0x{state.output_transcript:064x})",
            )
        if message.input_transcript != expected_t:
            raise RoundRefusedError(
                "transcript-mismatch",
                f"T_{request.round} is not Poseidon(T_{request.round - 1}, i, block {block}, c_i)",
            )
        ack_key = self.node.by_ack_signer(assignment.ack_signer)
        box_key = self.node.by_encryption_key(assignment.encryption_key)
        if ack_key is None or box_key is None:
            raise RoundRefusedError(
                "key-unavailable",
                "this node no longer holds the ack or encryption key the market recorded",
            )
        prompt: PromptRows | None = None
        digest: int | None = None
        try:
            if self.prompts.applies(part, assignment):
                if request.round == 1:
                    digest, prompt = self.prompts.first_round(request.wire, part)
                else:
                    self.prompts.later_round(request.wire, part, assignment)
        except PromptRefusedError as exc:
            raise RoundRefusedError(exc.reason, exc.detail) from None
        opening = self._open(request, assignment, part, block, box_key.encryption_secret, digest)
        if self.store.commitment_served(message.commitment):
            raise RoundRefusedError("commitment-reused", "this node served this commitment before")
        if request.part == 0 and request.round == 1:
            posted = self.view.first_commitment(
                request.query, self.node.address, self.view.final_block()
            )
            if posted != message.commitment:
                raise RoundRefusedError(
                    "first-commitment-mismatch",
                    "c_1 is not the round-1 commitment the request posted for this node",
                )
        # Capacity is reserved, not only checked: the check and the assignment's row are one step
        # for the whole node, so concurrent first rounds of other queries see this one.
        with self._capacity_guard:
            self._check_capacity(assignment, part, stored is None)
            self.store.ensure_assignment(assignment)
        outputs = tuple(part.apply(block, opening.share, opening.mask))
        o_i = output_transcript_step(state.output_transcript, request.round, outputs)
        self._check_witness(assignment.tag, part, served, opening, assignment.max_rounds)
        ack = AckMessage(
            request.query, request.part, self.node.address, request.round, expected_t, o_i
        ).sign(self.domain, ack_key.ack_account)
        self.store.ensure_assignment(assignment)
        try:
            self.store.record_round(
                request.query,
                request.part,
                self.node.address,
                RoundRow(
                    round=request.round,
                    block=block,
                    commitment=message.commitment,
                    input_transcript=expected_t,
                    prev_output_transcript=state.output_transcript,
                    output_transcript=o_i,
                    signature=request.signature,
                    share=opening.share,
                    mask=opening.mask,
                    salt=opening.salt,
                    outputs=outputs,
                    ack=ack,
                ),
                None if prompt is None else (prompt.nodes, prompt.rows),
            )
        except StoreConflictError as exc:
            reason = "claimed" if "being claimed" in str(exc) else "round-out-of-order"
            raise RoundRefusedError(reason, str(exc)) from None
        chunk_full = request.round % assignment.max_rounds == 0
        if self.on_claimable is not None and (request.round >= assignment.budget or chunk_full):
            self.on_claimable()
        return RoundAnswer(outputs, o_i, ack)

    # -- d: the payload -----------------------------------------------------------------------

    def _open(
        self,
        request: _Round,
        assignment: AssignmentRow,
        part: ServedPart,
        block: int,
        secret: bytes,
        digest: int | None = None,
    ) -> RoundOpening:
        try:
            plain = open_sealed(secret, request.payload)
        except DecryptionError as exc:
            raise RoundRefusedError("undecryptable", str(exc)) from None
        if len(plain) > _HEAD_BYTES + SEED_BYTES and plain[1] == KIND_EXPLICIT:
            body = plain[_HEAD_BYTES + SEED_BYTES :]
            for j in range(0, len(body) - len(body) % 32, 32):
                if int.from_bytes(body[j : j + 32], "big") >= BN254_R:
                    raise RoundRefusedError("not-in-field", "a share value is not below r")
        try:
            payload = RoundPayload.from_bytes(plain)
        except ShareError as exc:
            reason = "wrong-size" if "bytes" in str(exc) else "malformed"
            raise RoundRefusedError(reason, f"payload: {exc}") from None
        h = payload.header
        signed = (
            self.view.chain_id,
            self.view.market.lower(),
            request.query,
            request.part,
            self.node.address.lower(),
            request.round,
            block,
        )
        got = (h.chain_id, h.market.lower(), h.query_id, h.part, h.node.lower(), h.round, h.block)
        if got != signed:
            fields = ("chain", "market", "query", "part", "node", "round", "block")
            wrong = [f for f, a, b in zip(fields, got, signed, strict=True) if a != b]
            raise RoundRefusedError(
                "header-mismatch", f"the payload header differs in {', '.join(wrong)}"
            )
        n, m = part.block_sizes(block)
        if (h.input_size, h.output_size) != (n, m):
            raise RoundRefusedError(
                "wrong-size",
                f"block {block} takes {n} inputs and {m} outputs, the payload has "
                f"{h.input_size} and {h.output_size}",
            )
        opening = payload.opening()
        if digest is not None:  # round 1 under a prompt: Poseidon(the rows' digest, the seed's)
            opening = dataclasses.replace(opening, salt=first_round_salt(digest, opening.salt))
        if opening.commitment(assignment.tag, h) != request.commitment:
            raise RoundRefusedError(
                "commitment-mismatch",
                "the payload does not open c_i"
                + ("" if digest is None else " with the salt of the prompt rows sent"),
            )
        return opening

    # -- e: the new slot's witness ----------------------------------------------------------

    def _check_witness(
        self,
        tag: int,
        part: ServedPart,
        served: list[RoundRow],
        opening: RoundOpening,
        max_rounds: int,
    ) -> None:
        """Check (e), for the new slot: what the part circuit requires of round i beyond what
        (c) and (d) computed. The chunk that will hold round i starts after n0, the multiple of
        R_max below i, from the transcripts this node stored for round n0, and must be a start
        the circuit accepts; round i's opening must have its block's sizes and lie in F_r. Its
        commitment, W s + m and the two chain steps are the values computed above with the
        functions `zkai.circuits.statement.public_inputs` uses, so the proof's public inputs are
        exactly the (i, T_i, O_{i-1}, O_i) signed. The chunk's earlier slots passed this check
        when they were served; nothing is hashed again (a generation has hundreds of rounds)."""
        i = len(served) + 1
        n0 = (i - 1) // max_rounds * max_rounds
        start = (
            ChunkStart.FIRST
            if n0 == 0
            else ChunkStart(n0, served[n0 - 1].input_transcript, served[n0 - 1].output_transcript)
        )
        try:
            if not is_field_element(tag):
                raise ProofError(f"tag {tag!r} is not a field element in [0, r)")
            check_start(part.manifest, part.part, part.artifacts.rounds, start)
            check_slot(part.manifest, part.part, i, opening)
        except (ProofError, ShareError) as exc:
            raise RoundRefusedError(
                "unprovable", f"the part circuit would refuse it: {exc}"
            ) from None

    # -- f: capacity ----------------------------------------------------------------------------

    def _check_capacity(self, assignment: AssignmentRow, part: ServedPart, new: bool) -> None:
        if not new:
            return
        now = float(self.view.block_time())
        jobs = []
        for a in [*self.store.assignments((OPEN, CLAIMING)), assignment]:
            seconds = self.store.prove_time(a.model_id, a.version, a.part)
            rounds = len(self.store.rounds(a.query, a.part, a.node))
            for ready in _owed_proofs(a, rounds, now):
                jobs.append(
                    ProofJob(
                        f"0x{a.query.hex()}/{a.part}",
                        ready,
                        seconds or self.settings.prove_estimate_s,
                        float(a.proof_deadline),
                    )
                )
        late = first_late_job(
            jobs,
            now=now,
            workers=self.settings.claim_workers,
            margin_s=self.settings.capacity_margin_s,
        )
        if late is not None:
            job, finish = late
            raise RoundRefusedError(
                "no-capacity",
                f"the proof of {job.key} would finish at {finish:.0f}, after its deadline "
                f"{job.deadline:.0f} minus a {self.settings.capacity_margin_s:.0f} s margin",
            )


def _owed_proofs(a: AssignmentRow, rounds: int, now: float) -> list[float]:
    """When each proof the node still owes for `a` can start: one R_max-slot proof per chunk of
    rounds claimed_rounds+1..budget. A chunk already served is ready now; the others, and the
    last chunk unless the budget is served, at the latest at t_R (the user may send them late)."""
    size = a.max_rounds or a.budget
    owed = max(0, a.budget - a.claimed_rounds)
    chunks = -(-owed // size)
    ready_now = chunks if rounds >= a.budget else max(0, rounds - a.claimed_rounds) // size
    return [now] * ready_now + [float(a.round_deadline)] * (chunks - ready_now)


def _state_after(tag: int, served: list[RoundRow]) -> TranscriptState:
    """Where the chains stand after the served rounds: the last stored round's transcripts
    (each was computed when that round was served, before it was stored)."""
    if not served:
        return TranscriptState.start(tag)
    last = served[-1]
    return TranscriptState(
        tag=tag,
        rounds=len(served),
        input_transcript=last.input_transcript,
        output_transcript=last.output_transcript,
        previous_output_transcript=last.prev_output_transcript,
    )
