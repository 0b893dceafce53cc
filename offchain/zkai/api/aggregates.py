"""Read side of the network-wide answers: totals, the time series, the token, one account."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zkai.api import db
from zkai.api.repository import (
    checksum,
    min_stake_of,
    node_out,
    node_status,
    parameter,
    query_status,
    state_row,
    total,
)
from zkai.api.rewards_view import contributor_out, contributor_rewards
from zkai.api.schemas import (
    AccountOut,
    Amount,
    NetworkStats,
    TimeBucket,
    TimeSeries,
    TokenOut,
)
from zkai.chain.client import Deployment
from zkai.errors import NotIndexedError


def _balance(session: Session, address: str | None) -> int:
    if address is None:
        return 0
    row = session.get(db.Account, address)
    return 0 if row is None else row.balance


def token(session: Session, deployment: Deployment) -> TokenOut:
    treasury = parameter(session, "treasury")
    pool = parameter(session, "rewards_pool")
    holders = session.scalars(select(db.Account))
    return TokenOut(
        address=deployment.address("ZKAIToken"),
        total_supply=Amount.of(total(session, "supply")),
        treasury=treasury,
        treasury_balance=Amount.of(_balance(session, treasury)),
        rewards_pool=pool,
        rewards_pool_balance=Amount.of(_balance(session, pool)),
        market_escrow=Amount.of(_balance(session, deployment.address("QueryMarket"))),
        staked=Amount.of(_balance(session, deployment.address("NodeRegistry"))),
        holders=sum(1 for a in holders if a.balance > 0),
    )


def _claim_gases(session: Session) -> list[tuple[int, int]]:
    """(block time, gas) of every claim transaction, each counted once."""
    rows = session.execute(
        select(db.Assignment.claim_tx, db.Assignment.claimed_at, db.Assignment.claim_gas)
        .where(db.Assignment.claim_gas.is_not(None))
        .distinct()
    )
    return [(int(at), int(gas)) for _, at, gas in rows if at is not None and gas is not None]


def stats(session: Session) -> NetworkStats:
    state = state_row(session)
    nodes = list(session.scalars(select(db.Node)))
    queries = list(session.scalars(select(db.Query)))
    gases = [gas for _, gas in _claim_gases(session)]
    statuses = [query_status(q) for q in queries]
    complete = [
        q for q in queries if q.assignment_count and q.finalised_count == q.assignment_count
    ]
    latencies = [q.last_claim_at - q.requested_at for q in complete if q.last_claim_at]
    min_stake = min_stake_of(session)
    escrowed, refunds = total(session, "fees_escrowed"), total(session, "refunds")
    return NetworkStats(
        indexed_block=state.last_block,
        indexed_block_time=state.last_block_time,
        nodes=len(nodes),
        active_nodes=sum(1 for n in nodes if node_status(n, min_stake) == "active"),
        models=session.scalar(select(func.count()).select_from(db.Model)) or 0,
        queries=len(queries),
        queries_complete=len(complete),
        queries_settled=statuses.count("settled"),
        assignments=sum(q.assignment_count for q in queries),
        claims=sum(q.claimed_count for q in queries),
        rounds_claimed=sum(n.rounds_claimed for n in nodes),
        total_staked=Amount.of(sum(n.stake for n in nodes)),
        escrowed=Amount.of(escrowed),
        credits=Amount.of(total(session, "credits")),
        refunds=Amount.of(refunds),
        node_earnings=Amount.of(total(session, "node_payouts")),
        protocol_fees=Amount.of(total(session, "protocol_cuts")),
        contributor_cuts=Amount.of(total(session, "contributor_cuts")),
        rewards_posted=Amount.of(total(session, "rewards_posted")),
        rewards_distributed=Amount.of(total(session, "rewards_claimed")),
        slashed=Amount.of(total(session, "slashed")),
        slashes=sum(n.slash_count for n in nodes),
        mean_verification_gas=sum(gases) // len(gases) if gases else None,
        mean_latency_seconds=round(sum(latencies) / len(latencies), 3) if latencies else None,
    )


def _auto_bucket(span: int, buckets: int) -> int:
    for size in (10, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400):
        if span // size < buckets:
            return size
    return 30 * 86400


def timeseries(session: Session, bucket_seconds: int | None, buckets: int) -> TimeSeries:
    queries = list(session.execute(select(db.Query.requested_at, db.Query.escrow)).tuples())
    gases = _claim_gases(session)
    times = [t for t, _ in queries] + [t for t, _ in gases]
    if not times:
        return TimeSeries(bucket_seconds=bucket_seconds or 60, buckets=[])
    first, last = min(times), max(times)
    size = bucket_seconds or _auto_bucket(last - first, buckets)
    end_bucket = last // size
    start_bucket = max(first // size, end_bucket - buckets + 1)
    counts: dict[int, int] = defaultdict(int)
    fees: dict[int, int] = defaultdict(int)
    gas: dict[int, list[int]] = defaultdict(list)
    for requested_at, escrow in queries:
        counts[requested_at // size] += 1
        fees[requested_at // size] += int(escrow)
    for claimed_at, used in gases:
        gas[claimed_at // size].append(used)
    return TimeSeries(
        bucket_seconds=size,
        buckets=[
            TimeBucket(
                start=b * size,
                queries=counts[b],
                fees=Amount.of(fees[b]),
                verifications=len(gas[b]),
                mean_verification_gas=sum(gas[b]) // len(gas[b]) if gas[b] else None,
            )
            for b in range(start_bucket, end_bucket + 1)
        ],
    )


def account(session: Session, address: str) -> AccountOut:
    key = checksum(address)
    row = session.get(db.Account, key)
    node = session.get(db.Node, key)
    rewards = contributor_rewards(session).get(key)
    made = session.scalar(select(func.count()).select_from(db.Query).where(db.Query.user == key))
    owned = list(session.scalars(select(db.Model.model_id).where(db.Model.owner == key)))
    if row is None and node is None and not rewards and not made and not owned:
        raise NotIndexedError(f"{key} has no ZKAI activity")
    return AccountOut(
        address=key,
        balance=Amount.of(0 if row is None else row.balance),
        node=None if node is None else node_out(session, node),
        contributor=None if not rewards else contributor_out(key, rewards),
        queries_made=made or 0,
        models_owned=owned,
    )
