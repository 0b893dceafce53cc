"""A query's outcome and its claims: waiting until every assignment's claims (one `Claimed`
event per chunk) record exactly the rounds and transcripts the client holds, then verifying.

A chunk short of the client's round count is progress, not a claim of the assignment; each
chunk's recorded (T_n, O_n) is checked against the client's own at round n as it appears; an
assignment finalised short of the client's rounds, or past the proof deadline, is not verified.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zkai.chain.client import ChainClient, with_retries
from zkai.client.session import QuerySession
from zkai.errors import QueryError
from zkai.models.manifest import Prediction
from zkai.protocol.market import AssignmentRecord, read_assignment

__all__ = [
    "AssignmentOutcome",
    "ClaimChunk",
    "QueryOutcome",
    "check_claim",
    "claim_receipts",
    "wait_claims",
]

Progress = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class ClaimChunk:
    """One `Claimed` event of an assignment: rounds start+1..rounds proven in one transaction."""

    start: int  # n0, the rounds recorded before this claim
    rounds: int  # n, the rounds recorded by it
    tx: str
    gas: int
    credit: int
    payout: int

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "rounds": self.rounds,
            "tx_hash": self.tx,
            "gas_used": self.gas,
            "credit": self.credit,
            "payout": self.payout,
        }


@dataclass
class AssignmentOutcome:
    part: int
    node: str
    rounds: int  # rounds this client had answered and checked
    claimed: bool = False  # the chain records exactly those rounds with the client's transcript
    claimed_rounds: int = 0  # what the chain records (less while chunks are still to come)
    finalised: bool = False
    claim_tx: str | None = None  # the last chunk's transaction
    claim_gas: int = 0  # gas of all its chunks
    credit: int = 0
    chunks: list[ClaimChunk] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "node": self.node,
            "rounds": self.rounds,
            "claimed": self.claimed,
            "claimed_rounds": self.claimed_rounds,
            "finalised": self.finalised,
            "claim_tx": self.claim_tx,
            "claim_gas": self.claim_gas,
            "credit": self.credit,
            "chunks": [c.as_json() for c in self.chunks],
        }


@dataclass
class QueryOutcome:
    """What `zkai query --json` prints (see `as_json`)."""

    query_id: bytes
    model: str
    model_id: int
    version: int
    escrow: int
    request_tx: str
    request_gas: int
    request_block: int
    round_deadline: int
    proof_deadline: int
    assignments: list[AssignmentOutcome] = field(default_factory=list)
    prediction: Prediction | None = None
    outputs: list[int] | None = None
    clamped: int = 0
    answer_s: float = 0.0
    latency_s: float = 0.0
    verified: bool = False
    cost: int = 0
    session: QuerySession | None = field(default=None, repr=False, compare=False)

    @property
    def refund(self) -> int:
        """The escrow no claim credits: refunded to the user by `settle`."""
        return self.escrow - self.cost

    def as_json(self) -> dict[str, Any]:
        p = self.prediction
        return {
            "query_id": "0x" + self.query_id.hex(),
            "model": self.model,
            "model_id": self.model_id,
            "version": self.version,
            "prediction": None if p is None else p.label,
            "label_name": None if p is None else p.label_name,
            "scores": None if p is None else list(p.scores),
            "outputs": self.outputs,
            "clamped_values": self.clamped,
            "escrow": self.escrow,
            "cost": self.cost,
            "refund": self.refund,
            "request": {"tx_hash": self.request_tx, "gas_used": self.request_gas},
            "deadlines": {"rounds": self.round_deadline, "proofs": self.proof_deadline},
            "assignments": [a.as_json() for a in self.assignments],
            "answer_s": round(self.answer_s, 3),
            "latency_s": round(self.latency_s, 3),
            "verified": self.verified,
        }


def wait_claims(
    chain: ChainClient,
    outcome: QueryOutcome,
    session: QuerySession,
    *,
    now: Callable[[], int],
    patience_s: float,
    on_progress: Progress,
    poll_s: float = 0.3,
) -> None:
    """Wait until every assignment's claims record exactly the rounds this client had
    answered (a chunk short of them is progress, not a claim), or it is finalised short of
    them, or the proof deadline passes; then read the claims' receipts and verify. Verified
    only if every assignment's recorded (n, T_n, O_n) equals the client's own."""
    progress = on_progress
    for a in outcome.assignments:
        a.rounds = session.assignment(a.part, a.node).rounds
    pending = {(a.part, a.node): a for a in outcome.assignments if a.rounds > 0}
    while pending:
        for key, a in list(pending.items()):
            record = read_assignment(chain, outcome.query_id, a.part, a.node)
            if check_claim(a, record, session) is not None:
                del pending[key]
                progress(
                    "claimed" if a.claimed else "claimed_short",
                    {"part": a.part, "node": a.node, "rounds": a.claimed_rounds},
                )
            elif a.claimed_rounds > 0:
                progress(
                    "chunk",
                    {"part": a.part, "node": a.node, "rounds": a.claimed_rounds},
                )
        if not pending:
            break
        if now() > outcome.proof_deadline + patience_s:
            break
        time.sleep(poll_s)
    claim_receipts(chain, outcome)
    outcome.verified = bool(outcome.assignments) and all(a.claimed for a in outcome.assignments)
    outcome.cost = sum(a.credit for a in outcome.assignments)


def check_claim(
    a: AssignmentOutcome, record: AssignmentRecord, session: QuerySession
) -> bool | None:
    """Compare one assignment's on-chain record with the client's state. True: claimed as
    answered; False: finalised short of it (not verified); None: not (fully) claimed yet.
    A recorded transcript that differs from the client's at the same round is an error."""
    state = session.assignment(a.part, a.node)
    n = int(record.rounds)
    # Before chunked claims, a claim finalised its assignment; the field exists since.
    finalised = bool(record.fields.get("finalised", n > 0))
    newly = n != a.claimed_rounds
    a.claimed_rounds = n
    a.finalised = finalised
    a.credit = n * int(record.price)
    if n == 0:
        return None
    if n > state.rounds:
        raise QueryError(
            f"node {a.node} claimed {n} rounds of part {a.part}, more than the "
            f"{state.rounds} this client signed: the answer is not verified"
        )
    if newly:
        ack = next((x for x in state.acks if x[0] == n), None)
        if ack is None or not record.claimed_transcripts(ack[1], ack[2]):
            raise QueryError(
                f"node {a.node} claimed part {a.part} up to round {n} with a transcript "
                "that differs from this client's: the answer is not verified"
            )
    if n == state.rounds:
        a.claimed = True
        return True
    return False if finalised else None


def claim_receipts(chain: ChainClient, outcome: QueryOutcome) -> None:
    """Every `Claimed` event of the query since its request (one per chunk), with its gas."""
    latest = with_retries(lambda: chain.w3.eth.block_number)
    by_key = {(a.part, a.node): a for a in outcome.assignments}
    for a in outcome.assignments:
        a.chunks = []
    logs = sorted(
        chain.events(
            "QueryMarket",
            "Claimed",
            outcome.request_block,
            latest,
            {"queryId": outcome.query_id},
        ),
        key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])),
    )
    for log in logs:
        key = (int(log["args"]["part"]), str(log["args"]["node"]))
        if key not in by_key:
            continue
        a = by_key[key]
        tx_hash = log["transactionHash"]
        receipt = with_retries(functools.partial(chain.w3.eth.get_transaction_receipt, tx_hash))
        start = a.chunks[-1].rounds if a.chunks else 0
        a.chunks.append(
            ClaimChunk(
                start=start,
                rounds=int(log["args"]["rounds"]),
                tx="0x" + bytes(tx_hash).hex(),
                gas=int(receipt["gasUsed"]),
                credit=int(log["args"]["credit"]),
                payout=int(log["args"]["payout"]),
            )
        )
    for a in outcome.assignments:
        a.claim_tx = a.chunks[-1].tx if a.chunks else None
        a.claim_gas = sum(c.gas for c in a.chunks)
