"""Claiming an assignment (PROTOCOL.md v2, step 4, with "Chunks"): one proof per chunk of at
most R_max rounds, one `claim()` per chunk.

An assignment's claims cover consecutive chunks: each proves rounds n0+1..n from the (n0, T_n0,
O_n0) the chain recorded for the previous one (n0 = 0 and zeros for the first). A claim is *due*
(`next_claim`) when
- a full chunk is served: n0 + R_max rounds stored (the node keeps serving later rounds while it
  proves; the claim is final if it reaches the budget), or
- the final chunk: rounds past n0 stored and the budget reached or the round deadline passed
  (no further Round can come); the store is then marked CLAIMING, so no round is added.
A budget of at most R_max (every part that is not chunked) is thus claimed once, as before.
`ClaimProcessor.process(query, part)` claims every due chunk in turn, proving each with
`zkai.circuits.part.prove_part(..., start=...)` and sending `claim()` with the user's signed Round
for its n, before t_P. It is safe to run any number of times, from any number of worker
processes, and resumes after any crash from what the chain recorded (n0, and keccak(T_n0, O_n0),
which must match the node's own stored round n0) and the node's store:

1. The chain decides first: an assignment the chain finalised is done ("claimed" /
   "already_claimed"), one past t_P is "expired" (nothing can be claimed; the node never
   acknowledged beyond what it can prove).
2. A `LivenessLock` per assignment (as #14's share locks): one live process proves and claims; a
   process that finds it held ends ("busy"); a holder that died is taken over at once on this
   machine, else within the lock's TTL.
3. A claim transaction's hash is recorded in the store before it is sent; a process that finds
   one waits for that transaction before deciding what to claim, and a claim that reverts because
   the chain already holds that chunk is success.
4. Nonces come from the node's shared `NonceManager`.
Transient failures (RPC, Redis, a lost lock) raise `TransientNodeError`; the Celery task retries.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Literal

import redis
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import TimeExhausted, Web3RPCError

from zkai.chain.client import with_retries
from zkai.circuits.part import ChunkStart, prove_part
from zkai.errors import (
    ChainError,
    ContractRevertError,
    LockLostError,
    ProofError,
    RpcUnavailableError,
    TransientNodeError,
)
from zkai.node.chainview import AssignmentRecord, ChainView
from zkai.node.keys import UnlockedNode
from zkai.node.locks import LivenessLock
from zkai.node.logs import log_event
from zkai.node.nonce import NonceManager
from zkai.node.parts import PartUnavailableError, ServedParts
from zkai.node.store import (
    CLAIMED,
    CLAIMING,
    EXPIRED,
    FAILED,
    OPEN,
    AssignmentRow,
    RoundRow,
    RoundStore,
)
from zkai.protocol.market import claim_call
from zkai.protocol.payload import RoundOpening

__all__ = ["ClaimOutcome", "ClaimProcessor", "is_due", "is_final", "next_claim"]

log = logging.getLogger("zkai.node.claims")

ClaimOutcome = Literal["claimed", "already_claimed", "expired", "not_due", "busy", "failed"]
RECEIPT_TIMEOUT_S = 60.0
RECORDED_TX_WAIT_S = 10.0
_ALREADY = {
    "AlreadyClaimed",
    "AlreadyFinalised",
    "QueryMarketAlreadyClaimed",
    "AssignmentAlreadyClaimed",
}


def chunk_rounds(assignment: AssignmentRow) -> int:
    """R_max of the assignment (the budget if not recorded: a single claim, as before chunks)."""
    return assignment.max_rounds or assignment.budget


def next_claim(assignment: AssignmentRow, rounds: int, now: int) -> int | None:
    """The n of the chunk to claim now, after n0 = `assignment.claimed_rounds`, with `rounds`
    rounds served: n0 + R_max once a full chunk is served, else every served round once no
    further Round can come (budget reached or t_R passed); None if nothing is due."""
    n0, size = assignment.claimed_rounds, chunk_rounds(assignment)
    if rounds <= n0:
        return None
    if rounds - n0 >= size:
        return n0 + size
    if rounds >= assignment.budget or now >= assignment.round_deadline:
        return rounds
    return None


def is_final(assignment: AssignmentRow, n: int) -> bool:
    """Whether a claim of rounds n0+1..n finalises the assignment on-chain (the contract's rule:
    the budget is used, or the chunk is shorter than R_max)."""
    return n >= assignment.budget or n - assignment.claimed_rounds < chunk_rounds(assignment)


def is_due(assignment: AssignmentRow, rounds: int, now: int) -> bool:
    """Whether a claim (a chunk or the final one) is due now (`next_claim`)."""
    return next_claim(assignment, rounds, now) is not None


@dataclass
class ClaimProcessor:
    node: UnlockedNode
    view: ChainView
    store: RoundStore
    parts: ServedParts
    redis: redis.Redis
    lock_ttl_s: float = 30.0
    pause_s: float = 0.0
    """Tests only (ZKAI_NODE_TASK_PAUSE_S): wait this long holding the lock, before proving."""

    def __post_init__(self) -> None:
        chain = self.view.chain
        self.nonces = NonceManager(
            self.redis,
            self.node.address,
            lambda: with_retries(
                lambda: chain.w3.eth.get_transaction_count(
                    to_checksum_address(self.node.address), "pending"
                )
            ),
            chain.identity,
        )

    def _lock_key(self, query: bytes, part: int) -> str:
        return (
            f"zkai:node:{self.view.chain.identity}:{self.node.address.lower()}:claim:"
            f"{query.hex()}:{part}"
        )

    def _log(self, event: str, query: bytes, part: int, **fields: Any) -> None:
        level = fields.pop("level", logging.INFO)
        log_event(
            log,
            event,
            level=level,
            node=self.node.address,
            query=f"0x{query.hex()}",
            part=part,
            **fields,
        )

    def process(self, query: bytes, part: int) -> ClaimOutcome:
        """Claim every chunk of (query, part, this node) that is due (module docstring)."""
        me = self.node.address
        if self.store.assignment(query, part, me) is None:
            return "not_due"
        lock: LivenessLock | None = None
        claimed_now = False
        try:
            while True:
                stored = self.store.assignment(query, part, me)
                assert stored is not None
                record = self.view.assignment(query, part, me)
                assignment = self._synced(stored, record)
                if record.finalised:
                    self.store.set_state(query, part, me, CLAIMED)
                    if claimed_now:
                        return "claimed"
                    return self._done(query, part, "already_claimed", rounds=record.claimed_rounds)
                now = self.view.block_time()
                if now > assignment.proof_deadline:
                    self.store.set_state(query, part, me, EXPIRED, detail="proof deadline passed")
                    return self._done(query, part, "expired", level=logging.WARNING)
                served = len(self.store.rounds(query, part, me))
                n = next_claim(assignment, served, now)
                if n is None:
                    return self._nothing_due(assignment, served, now, claimed_now)
                if lock is None:
                    self._load_proving_key(assignment)
                    lock = LivenessLock(
                        self.redis, self._lock_key(query, part), ttl_s=self.lock_ttl_s
                    )
                    if not lock.acquire():
                        lock = None
                        return "busy"
                    continue  # re-read the chain: a previous holder may have just claimed
                if assignment.claim_tx:
                    # A claim sent before (by a process that may have died): wait for it, then
                    # decide again from what the chain recorded.
                    self._recorded(assignment.claim_tx)
                    self.store.clear_claim_tx(query, part, me)
                    continue
                final = is_final(assignment, n)
                if final:
                    self.store.set_state(query, part, me, CLAIMING)
                rounds = self.store.rounds(query, part, me)
                if final:
                    # Read again now that no round can be added (the store refuses rounds of an
                    # assignment being claimed): the final proof covers every round acknowledged.
                    size = chunk_rounds(assignment)
                    n = min(len(rounds), assignment.claimed_rounds + size)
                outcome = self._prove_and_claim(assignment, record, rounds, n, lock)
                if outcome == "failed":
                    return outcome
                claimed_now = claimed_now or outcome == "claimed"
        finally:
            if lock is not None:
                lock.release()

    def _synced(self, stored: AssignmentRow, record: AssignmentRecord) -> AssignmentRow:
        """The stored row with the chain's claimed rounds n0 (and R_max, if recorded)."""
        query, part, me = stored.query, stored.part, self.node.address
        if record.claimed_rounds > stored.claimed_rounds:
            self.store.set_claimed_rounds(query, part, me, record.claimed_rounds)
        return dataclasses.replace(
            stored,
            claimed_rounds=record.claimed_rounds,
            max_rounds=record.max_rounds or stored.max_rounds,
        )

    def _nothing_due(
        self, assignment: AssignmentRow, served: int, now: int, claimed_now: bool
    ) -> ClaimOutcome:
        query, part, me = assignment.query, assignment.part, self.node.address
        n0 = assignment.claimed_rounds
        closed = served >= assignment.budget or now >= assignment.round_deadline
        if n0 > 0 and served <= n0 and closed:
            # Every served round is claimed and no Round can follow; the chain keeps the
            # assignment open (its last chunk had exactly R_max rounds) until t_P.
            self.store.set_state(
                query, part, me, CLAIMED, detail=f"rounds 1..{n0} claimed; no round after"
            )
            return "claimed" if claimed_now else self._done(query, part, "already_claimed")
        return "claimed" if claimed_now else "not_due"

    def _recorded(self, tx_hash: str) -> bool:
        """Whether a claim sent before (by a process that may have died) was mined and succeeded."""
        try:
            receipt = with_retries(
                lambda: self.view.chain.w3.eth.wait_for_transaction_receipt(
                    HexBytes(tx_hash), timeout=RECORDED_TX_WAIT_S
                )
            )
        except TimeExhausted:
            self.nonces.resync()
            return False
        return int(receipt["status"]) == 1

    def _start(
        self, assignment: AssignmentRow, record: AssignmentRecord, rounds: list[RoundRow]
    ) -> ChunkStart:
        """(n0, T_n0, O_n0) from the node's own round n0, checked against the chain's record."""
        n0 = assignment.claimed_rounds
        if n0 == 0:
            return ChunkStart.FIRST
        if len(rounds) < n0:
            raise ProofError(
                f"the chain records rounds 1..{n0} claimed but this node's store has only "
                f"{len(rounds)} rounds: the store is not the one the claims were made from"
            )
        row = rounds[n0 - 1]
        if not record.starts_from(row.input_transcript, row.output_transcript):
            raise ProofError(
                f"the chain's recorded transcripts after round {n0} are not this node's "
                f"(T_{n0}, O_{n0}): the store is not the one the claims were made from"
            )
        return ChunkStart(n0, row.input_transcript, row.output_transcript)

    def _prove_and_claim(
        self,
        assignment: AssignmentRow,
        record: AssignmentRecord,
        rounds: list[RoundRow],
        n: int,
        lock: LivenessLock,
    ) -> ClaimOutcome:
        """Prove rounds n0+1..n and claim them (n0 = assignment.claimed_rounds)."""
        query, part_index, me = assignment.query, assignment.part, self.node.address
        n0 = assignment.claimed_rounds
        try:
            part = self.parts.get(assignment.model_id, assignment.version, part_index)
        except PartUnavailableError as exc:
            self._log(
                "claim.part_unavailable", query, part_index, why=str(exc), level=logging.ERROR
            )
            raise TransientNodeError(str(exc)) from exc
        final = is_final(assignment, n)
        self._log(
            "claim.started", query, part_index, pid=os.getpid(), start=n0, rounds=n, final=final
        )
        if self.pause_s:
            time.sleep(self.pause_s)
        started = time.monotonic()
        last = rounds[n - 1]
        try:
            start = self._start(assignment, record, rounds)
            openings = [RoundOpening(r.share, r.mask, r.salt) for r in rounds[n0:n]]
            proof = prove_part(
                part.artifacts,
                part.manifest,
                part_index,
                assignment.tag,
                openings,
                start=start,
                expected=(
                    last.input_transcript,
                    last.prev_output_transcript,
                    last.output_transcript,
                ),
            )
        except ProofError as exc:
            self.store.set_state(query, part_index, me, FAILED, detail=str(exc))
            self._log("claim.unprovable", query, part_index, why=str(exc), level=logging.ERROR)
            return "failed"
        seconds = time.monotonic() - started
        self.store.record_prove_time(assignment.model_id, assignment.version, part_index, seconds)
        fn = claim_call(
            self.view.chain.contract("QueryMarket"),
            query,
            part_index,
            n,
            last.commitment,
            last.input_transcript,
            last.prev_output_transcript,
            last.output_transcript,
            last.signature,
            [int(w) for w in proof.proof],
            start_input_transcript=start.input_transcript,
            start_output_transcript=start.output_transcript,
        )
        account = self.node.operator
        try:
            gas = self.view.chain.estimate_gas(account, fn)
        except ContractRevertError as exc:
            return self._on_revert(assignment, n, exc)
        if lock.lost:
            raise LockLostError(f"lost the claim lock of 0x{query.hex()}/{part_index}")
        nonce = self.nonces.reserve()
        signed: list[bytes] = []
        state = CLAIMING if final else OPEN

        def record_tx(tx_hash: bytes) -> None:
            lock.ensure_held()
            self.store.set_state(query, part_index, me, state, claim_tx="0x" + tx_hash.hex())
            signed.append(tx_hash)

        try:
            receipt = self.view.chain.transact(
                account, fn, nonce=nonce, gas=gas, on_signed=record_tx, timeout=RECEIPT_TIMEOUT_S
            )
        except LockLostError:
            self.nonces.release_failed(nonce)
            raise
        except ContractRevertError as exc:
            self.nonces.release_failed(nonce)
            return self._on_revert(assignment, n, exc)
        except Web3RPCError as exc:
            self.nonces.release_failed(nonce)
            raise TransientNodeError(f"claim refused by the RPC: {exc}") from exc
        except (RpcUnavailableError, ChainError) as exc:
            if not signed:
                self.nonces.release_failed(nonce)
            raise TransientNodeError(f"claim not confirmed: {exc}") from exc
        self.store.set_claimed_rounds(query, part_index, me, n)
        self.store.clear_claim_tx(query, part_index, me)
        if state == CLAIMING:
            self.store.set_state(query, part_index, me, CLAIMED)
        return self._done(
            query,
            part_index,
            "claimed",
            start=n0,
            rounds=n,
            final=state == CLAIMING,
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            gas_used=int(receipt["gasUsed"]),
            prove_ms=round(seconds * 1000, 1),
        )

    def _on_revert(
        self, assignment: AssignmentRow, n: int, exc: ContractRevertError
    ) -> ClaimOutcome:
        query, part, me = assignment.query, assignment.part, self.node.address
        record = self.view.assignment(query, part, me)
        if record.claimed_rounds >= n or record.finalised:
            # The chain holds this chunk already (another process, or an earlier transaction)
            self.store.set_claimed_rounds(query, part, me, record.claimed_rounds)
            return self._done(query, part, "already_claimed", why=exc.error, rounds=n)
        self.store.set_state(query, part, me, FAILED, detail=str(exc))
        self._log("claim.reverted", query, part, error=str(exc), level=logging.ERROR)
        return "failed"

    def _load_proving_key(self, assignment: AssignmentRow) -> None:
        """Load the part's proving key (cached per process) before taking the claim lock:
        groth16py holds the GIL while it reads a key (tiny-lm's 200 MB keys take seconds, tens of
        seconds on a loaded machine), which would starve the lock's heartbeat and lose the lock."""
        try:
            part = self.parts.get(assignment.model_id, assignment.version, assignment.part)
        except PartUnavailableError:
            return  # reported where the proof needs it
        part.artifacts.proving_key  # noqa: B018 - a cached_property: the load is the point

    def _done(self, query: bytes, part: int, outcome: ClaimOutcome, **fields: Any) -> ClaimOutcome:
        self._log(f"claim.{outcome}", query, part, **fields)
        return outcome
