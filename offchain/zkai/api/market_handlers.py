"""What the `QueryMarket` (v2) events do to the index: queries, their assignments (query, part,
node), claims, assignment slashes, settlements and the market's parameters.

A query's rows come from `QueryRequested` then one `Assigned` per assignment (same transaction);
the rates and slash amount recorded at request are read by the indexer (`getQuery`) before the
range is applied, as no event carries them. The stake a slash takes is the node registry's
`Slashed` (`zkai.api.handlers`); `AssignmentSlashed` records which assignment, round and reason,
and the Ack(s) that justified it, which the indexer decoded from the slashing transaction's
calldata (`zkai.api.evidence`; "unavailable" when the slash came through another contract).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from zkai.api import db
from zkai.api.events import (
    Event,
    FetchedRange,
    Handler,
    QueryTerms,
    add_total,
    as_address,
    as_query_id,
    node_row,
    set_parameter,
)
from zkai.api.evidence import unavailable
from zkai.errors import ChainError

__all__ = ["MARKET_HANDLERS", "cuts_of"]

BPS = 10_000


def cuts_of(credit: int, protocol_bps: int, contributor_bps: int) -> tuple[int, int]:
    """(protocol cut, contributor cut) of a credit, each floored, as the market takes them."""
    return credit * protocol_bps // BPS, credit * contributor_bps // BPS


def _query(session: Session, query_id: str) -> db.Query:
    query = session.get(db.Query, query_id)
    if query is None:
        raise ChainError(f"event for query {query_id} before its QueryRequested")
    return query


def _assignment(session: Session, event: Event) -> db.Assignment:
    key = (
        as_query_id(event.args["queryId"]),
        int(event.args["part"]),
        as_address(event.args["node"]),
    )
    assignment = session.get(db.Assignment, key)
    if assignment is None:
        raise ChainError(f"event for assignment {key} before its Assigned")
    return assignment


def _query_requested(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    query_id = as_query_id(event.args["queryId"])
    terms = fetched.queries.get(query_id, QueryTerms(0, 0, 0))
    escrow = int(event.args["escrow"])
    session.add(
        db.Query(
            query_id=query_id,
            model_id=int(event.args["modelId"]),
            model_version=int(event.args["version"]),
            user=as_address(event.args["user"]),
            session_key=as_address(event.args["sessionKey"]),
            escrow=escrow,
            round_deadline=int(event.args["roundDeadline"]),
            proof_deadline=int(event.args["proofDeadline"]),
            challenge_deadline=int(event.args["challengeDeadline"]),
            protocol_bps=terms.protocol_bps,
            contributor_bps=terms.contributor_bps,
            slash_amount=terms.slash_amount,
            assignment_count=0,
            claimed_count=0,
            finalised_count=0,
            credits=0,
            requested_at=event.time,
            requested_block=event.block,
            request_tx=event.tx_hash,
            request_gas=fetched.gas_used.get(event.tx_hash, 0),
            settled=False,
            refund=0,
        )
    )
    add_total(session, "fees_escrowed", escrow)


def _assigned(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    query = _query(session, as_query_id(event.args["queryId"]))
    node = node_row(session, event.args["node"])
    session.add(
        db.Assignment(
            query_id=query.query_id,
            part=int(event.args["part"]),
            node=node.address,
            position=query.assignment_count,
            budget=int(event.args["budget"]),
            price=int(event.args["price"]),
            first_commitment=str(int(event.args["firstCommitment"])),
            credit=0,
            payout=0,
            claims=0,
            finalised=False,
            slashed=0,
        )
    )
    query.assignment_count += 1
    node.assignments += 1


def _max_rounds(session: Session, query: db.Query, part: int) -> int:
    terms = session.get(db.ModelPart, (query.model_id, query.model_version, part))
    if terms is None:
        raise ChainError(f"Claimed for part {part} of model {query.model_id} before its version")
    return terms.max_rounds


def _claimed(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    """One claim, or one chunk of a chunked assignment (a Claimed whose `rounds` is above the
    previous one's): rounds = the latest n, credits and payouts summed, `claims` counted; the
    assignment is finalised when n reaches its budget or the chunk is shorter than R_max."""
    assignment = _assignment(session, event)
    query = _query(session, assignment.query_id)
    node = node_row(session, assignment.node)
    credit, payout = int(event.args["credit"]), int(event.args["payout"])
    start = assignment.rounds or 0
    rounds = int(event.args["rounds"])
    first = assignment.claims == 0
    assignment.rounds = rounds
    assignment.claims += 1
    assignment.finalised = rounds == assignment.budget or rounds - start < _max_rounds(
        session, query, assignment.part
    )
    assignment.input_transcript = str(int(event.args["inputTranscript"]))
    assignment.output_transcript = str(int(event.args["outputTranscript"]))
    assignment.credit += credit
    assignment.payout += payout
    assignment.claimed_at = event.time
    assignment.claim_tx = event.tx_hash
    assignment.claim_gas = fetched.gas_used.get(event.tx_hash)
    if first:
        query.claimed_count += 1
        node.claims += 1
    if assignment.finalised:
        query.finalised_count += 1
    query.credits += credit
    query.last_claim_at = max(query.last_claim_at or 0, event.time)
    node.rounds_claimed += rounds - start
    node.credited += credit
    node.earned += payout
    protocol, _ = cuts_of(credit, query.protocol_bps, query.contributor_bps)
    add_total(session, "credits", credit)
    add_total(session, "node_payouts", payout)
    add_total(session, "protocol_cuts", protocol)
    add_total(session, "contributor_cuts", credit - payout - protocol)


def _assignment_slashed(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    assignment = _assignment(session, event)
    assignment.slashed = int(event.args["amount"])
    assignment.slash_round = int(event.args["round"])
    assignment.slash_reason = int(event.args["reason"])
    assignment.slash_tx = event.tx_hash
    evidence = fetched.slash_evidence.get((event.tx_hash, event.log_index))
    if evidence is None:
        evidence = unavailable("the slashing transaction was not fetched with its range")
    assignment.slash_evidence = evidence.kind
    assignment.slash_evidence_detail = evidence.detail
    for position, ack in enumerate(evidence.acks, start=1):
        session.add(
            db.SlashAck(
                query_id=assignment.query_id,
                part=assignment.part,
                node=assignment.node,
                position=position,
                round=ack.round,
                input_transcript=str(ack.input_transcript),
                output_transcript=str(ack.output_transcript),
                signature=ack.signature,
                signer=ack.signer,
            )
        )


def _query_settled(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    query = _query(session, as_query_id(event.args["queryId"]))
    query.settled = True
    query.settled_at = event.time
    query.refund = int(event.args["refund"])
    add_total(session, "refunds", query.refund)


def _fees_swept(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    add_total(session, "protocol_swept", int(event.args["protocolFees"]))
    add_total(session, "contributor_swept", int(event.args["contributorFees"]))


def _parameter_setter(key: str, argument: str, address: bool = False) -> Handler:
    def handler(
        session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
    ) -> None:
        value = event.args[argument]
        set_parameter(session, key, as_address(value) if address else int(value))

    return handler


def _fees_set(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    set_parameter(session, "protocol_fee_bps", int(event.args["protocolFeeBps"]))
    set_parameter(session, "contributor_fee_bps", int(event.args["contributorFeeBps"]))


MARKET_HANDLERS: dict[str, Handler] = {
    "QueryRequested": _query_requested,
    "Assigned": _assigned,
    "Claimed": _claimed,
    "AssignmentSlashed": _assignment_slashed,
    "QuerySettled": _query_settled,
    "FeesSwept": _fees_swept,
    "FeesSet": _fees_set,
    "TreasurySet": _parameter_setter("treasury", "treasury", address=True),
    "RewardsPoolSet": _parameter_setter("rewards_pool", "rewardsPool", address=True),
    "SlashAmountSet": _parameter_setter("slash_amount", "slashAmount"),
    "MinProofWindowFloorSet": _parameter_setter("min_proof_window_floor", "floor"),
    "ChallengeWindowSet": _parameter_setter("challenge_window", "window"),
}
"""QueryMarket event name -> handler."""
