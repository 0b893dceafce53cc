"""Claiming an assignment (PROTOCOL.md v2, step 4): one proof of all its rounds, one `claim()`.

An assignment is *due* once it has served at least one round and either reached its budget or
passed its round deadline (no further Round can come). `ClaimProcessor.process(query, part)` then
proves every stored round in one proof (`zkai.circuits.part.prove_part`) and sends `claim()` with
the user's signed Round for n, before t_P. It is safe to run any number of times, from any number
of worker processes:

1. The chain decides first: an assignment already claimed on-chain is done ("claimed"), one past
   t_P is "expired" (nothing can be claimed; the node never acknowledged beyond what it proved).
2. A `LivenessLock` per assignment (as #14's share locks): one live process proves and claims; a
   process that finds it held ends ("busy"); a holder that died is taken over at once on this
   machine, else within the lock's TTL.
3. The claim transaction's hash is recorded in the store before it is sent; a process that finds
   one waits for that transaction instead of proving again, and a claim that reverts because the
   assignment is already claimed is success.
4. Nonces come from the node's shared `NonceManager`.
Transient failures (RPC, Redis, a lost lock) raise `TransientNodeError`; the Celery task retries.
"""

from __future__ import annotations

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
from zkai.circuits.part import prove_part
from zkai.errors import (
    ChainError,
    ContractRevertError,
    LockLostError,
    ProofError,
    RpcUnavailableError,
    TransientNodeError,
)
from zkai.node.chainview import ChainView
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
    AssignmentRow,
    RoundRow,
    RoundStore,
)
from zkai.protocol.payload import RoundOpening

__all__ = ["ClaimOutcome", "ClaimProcessor", "is_due"]

log = logging.getLogger("zkai.node.claims")

ClaimOutcome = Literal["claimed", "already_claimed", "expired", "not_due", "busy", "failed"]
RECEIPT_TIMEOUT_S = 60.0
RECORDED_TX_WAIT_S = 10.0
_ALREADY = {"AlreadyClaimed", "QueryMarketAlreadyClaimed", "AssignmentAlreadyClaimed"}


def is_due(assignment: AssignmentRow, rounds: int, now: int) -> bool:
    """Whether the assignment can be claimed now: rounds served, and no further Round can come."""
    return rounds >= 1 and (rounds >= assignment.budget or now >= assignment.round_deadline)


@dataclass
class ClaimProcessor:
    node: UnlockedNode
    view: ChainView
    store: RoundStore
    parts: ServedParts
    redis: redis.Redis
    lock_ttl_s: float = 10.0
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
        me = self.node.address
        assignment = self.store.assignment(query, part, me)
        if assignment is None:
            return "not_due"
        rounds = self.store.rounds(query, part, me)
        record = self.view.assignment(query, part, me)
        if record.claimed_rounds:
            self.store.set_state(query, part, me, CLAIMED)
            return self._done(query, part, "already_claimed", rounds=record.claimed_rounds)
        now = self.view.block_time()
        if now > assignment.proof_deadline:
            self.store.set_state(query, part, me, EXPIRED, detail="proof deadline passed")
            return self._done(query, part, "expired", level=logging.WARNING)
        if not is_due(assignment, len(rounds), now):
            return "not_due"
        lock = LivenessLock(self.redis, self._lock_key(query, part), ttl_s=self.lock_ttl_s)
        if not lock.acquire():
            return "busy"
        try:
            self._log("claim.started", query, part, pid=os.getpid(), rounds=len(rounds))
            self.store.set_state(query, part, me, CLAIMING)
            if assignment.claim_tx and self._recorded(assignment.claim_tx):
                self.store.set_state(query, part, me, CLAIMED)
                return self._done(query, part, "claimed", why="recorded transaction mined")
            return self._prove_and_claim(assignment, rounds, lock)
        finally:
            lock.release()

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

    def _prove_and_claim(
        self, assignment: AssignmentRow, rounds: list[RoundRow], lock: LivenessLock
    ) -> ClaimOutcome:
        query, part_index, me = assignment.query, assignment.part, self.node.address
        try:
            part = self.parts.get(assignment.model_id, assignment.version, part_index)
        except PartUnavailableError as exc:
            self._log(
                "claim.part_unavailable", query, part_index, why=str(exc), level=logging.ERROR
            )
            raise TransientNodeError(str(exc)) from exc
        openings = [RoundOpening(r.share, r.mask, r.salt) for r in rounds]
        if self.pause_s:
            time.sleep(self.pause_s)
        started = time.monotonic()
        try:
            proof = prove_part(part.artifacts, part.manifest, part_index, assignment.tag, openings)
        except ProofError as exc:
            self.store.set_state(query, part_index, me, FAILED, detail=str(exc))
            self._log("claim.unprovable", query, part_index, why=str(exc), level=logging.ERROR)
            return "failed"
        seconds = time.monotonic() - started
        self.store.record_prove_time(assignment.model_id, assignment.version, part_index, seconds)
        last = rounds[-1]
        market = self.view.chain.contract("QueryMarket")
        fn = market.functions.claim(
            query,
            part_index,
            len(rounds),
            last.commitment,
            last.input_transcript,
            last.prev_output_transcript,
            last.output_transcript,
            last.signature,
            [int(w) for w in proof.proof],
        )
        account = self.node.operator
        try:
            gas = self.view.chain.estimate_gas(account, fn)
        except ContractRevertError as exc:
            return self._on_revert(assignment, exc)
        if lock.lost:
            raise LockLostError(f"lost the claim lock of 0x{query.hex()}/{part_index}")
        nonce = self.nonces.reserve()
        signed: list[bytes] = []

        def record(tx_hash: bytes) -> None:
            lock.ensure_held()
            self.store.set_state(query, part_index, me, CLAIMING, claim_tx="0x" + tx_hash.hex())
            signed.append(tx_hash)

        try:
            receipt = self.view.chain.transact(
                account, fn, nonce=nonce, gas=gas, on_signed=record, timeout=RECEIPT_TIMEOUT_S
            )
        except LockLostError:
            self.nonces.release_failed(nonce)
            raise
        except ContractRevertError as exc:
            self.nonces.release_failed(nonce)
            return self._on_revert(assignment, exc)
        except Web3RPCError as exc:
            self.nonces.release_failed(nonce)
            raise TransientNodeError(f"claim refused by the RPC: {exc}") from exc
        except (RpcUnavailableError, ChainError) as exc:
            if not signed:
                self.nonces.release_failed(nonce)
            raise TransientNodeError(f"claim not confirmed: {exc}") from exc
        self.store.set_state(query, part_index, me, CLAIMED)
        return self._done(
            query,
            part_index,
            "claimed",
            rounds=len(rounds),
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            gas_used=int(receipt["gasUsed"]),
            prove_ms=round(seconds * 1000, 1),
        )

    def _on_revert(self, assignment: AssignmentRow, exc: ContractRevertError) -> ClaimOutcome:
        query, part, me = assignment.query, assignment.part, self.node.address
        if exc.error in _ALREADY or self.view.assignment(query, part, me).claimed_rounds:
            self.store.set_state(query, part, me, CLAIMED)
            return self._done(query, part, "already_claimed", why=exc.error)
        self.store.set_state(query, part, me, FAILED, detail=str(exc))
        self._log("claim.reverted", query, part, error=str(exc), level=logging.ERROR)
        return "failed"

    def _done(self, query: bytes, part: int, outcome: ClaimOutcome, **fields: Any) -> ClaimOutcome:
        self._log(f"claim.{outcome}", query, part, **fields)
        return outcome
