"""After the rounds: settling a query, slashing with the nodes' own Acks, reading a query back.

Anyone may settle a query after its proof deadline (or earlier once every assignment is claimed):
the user is refunded what no claim used. Slash evidence is the user's: an Ack its node signed for a
round it then did not prove (`slash_unproven`), accepted from the proof deadline until the challenge
deadline, also after settle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from zkai.chain.client import ChainClient, with_retries
from zkai.client.session import QuerySession
from zkai.errors import QueryError
from zkai.protocol.market import query_nodes, read_assignment, read_query

__all__ = [
    "Settlement",
    "SlashResult",
    "describe_query",
    "queries_of",
    "settle_query",
    "slash_unproven",
]


@dataclass(frozen=True)
class SlashResult:
    part: int
    node: str
    round: int
    tx_hash: str


def slash_unproven(
    chain: ChainClient, account: LocalAccount, session: QuerySession
) -> list[SlashResult]:
    """After the proof deadline: slash every assignment whose node acknowledged a round it did
    not prove (no claim, fewer rounds, or another transcript), with the node's own Ack."""
    market = chain.contract("QueryMarket")
    done = []
    for (part, node), state in session.assignments.items():
        if not state.acks:
            continue
        record = read_assignment(chain, session.query_id, part, node)
        if record.slashed:
            continue
        i, t_i, o_i, signature = state.acks[-1]
        claimed = int(record.rounds)
        if claimed > i or (claimed == i and record.claimed_transcripts(t_i, o_i)):
            continue
        receipt = chain.transact(
            account, market.functions.slash(session.query_id, part, node, i, t_i, o_i, signature)
        )
        done.append(SlashResult(part, node, i, "0x" + bytes(receipt["transactionHash"]).hex()))
    return done


@dataclass(frozen=True)
class Settlement:
    query_id: bytes
    refund: int
    tx_hash: str | None
    already: bool


def settle_query(chain: ChainClient, account: LocalAccount, query_id: bytes) -> Settlement:
    """Settle a query (refund its unused escrow to its user); anyone may, after its proof
    deadline."""
    query = read_query(chain, query_id)
    if not query.exists:
        raise QueryError(f"no query 0x{query_id.hex()} on this chain")
    if query.settled:
        return Settlement(query_id, int(query.escrow) - int(query.credits), None, True)
    market = chain.contract("QueryMarket")
    receipt = chain.transact(account, market.functions.settle(query_id))
    logs = market.events.QuerySettled().process_receipt(receipt, errors=DISCARD)
    refund = int(logs[0]["args"]["refund"]) if logs else 0
    return Settlement(query_id, refund, "0x" + bytes(receipt["transactionHash"]).hex(), False)


def describe_query(chain: ChainClient, query_id: bytes) -> dict[str, Any]:
    """A query and its assignments as the chain records them (for `zkai queries show`)."""
    query = read_query(chain, query_id)
    if not query.exists:
        raise QueryError(f"no query 0x{query_id.hex()} on this chain")
    assignments = []
    for part in range(int(query.partCount)):
        for node in query_nodes(chain, query_id, part):
            a = read_assignment(chain, query_id, part, node)
            assignments.append(
                {
                    "part": part,
                    "node": node,
                    "budget": int(a.budget),
                    "rounds": int(a.rounds),
                    "credit": str(int(a.rounds) * int(a.price)),
                    "slashed": bool(a.slashed),
                }
            )
    return {
        "query_id": "0x" + query_id.hex(),
        "user": query.user,
        "model_id": int(query.modelId),
        "version": int(query.version),
        "escrow": str(int(query.escrow)),
        "credits": str(int(query.credits)),
        "settled": bool(query.settled),
        "deadlines": {
            "rounds": int(query.roundDeadline),
            "proofs": int(query.proofDeadline),
            "challenge": int(query.challengeDeadline),
        },
        "assignments": assignments,
    }


def queries_of(chain: ChainClient, user: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """The user's latest queries, read from the chain's QueryRequested events (newest first):
    what a user whose client restarted needs to see and settle its queries."""
    latest = int(with_retries(lambda: chain.w3.eth.block_number))
    logs = list(
        chain.events(
            "QueryMarket",
            "QueryRequested",
            chain.deployment.start_block,
            latest,
            {"user": chain.w3.to_checksum_address(user)},
        )
    )
    found = []
    for log in reversed(logs[-limit:]):
        query_id = bytes(log["args"]["queryId"])
        record = read_query(chain, query_id)
        found.append(
            {
                "query_id": "0x" + query_id.hex(),
                "model_id": int(log["args"]["modelId"]),
                "version": int(log["args"]["version"]),
                "escrow": str(int(record.escrow)),
                "credits": str(int(record.credits)),
                "unclaimed": int(record.unclaimed),
                "settled": bool(record.settled),
                "proof_deadline": int(record.proofDeadline),
                "block": int(log["blockNumber"]),
            }
        )
    return found
