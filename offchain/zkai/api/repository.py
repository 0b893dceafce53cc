"""Read side of the index: turns rows into response models; raises `NotIndexedError`.

Amount sums are done in Python over decimal-string columns (exact for uint256); this is sized for
local networks and testnets, not for a chain with millions of queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from eth_utils.address import to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zkai.api import db
from zkai.api.schemas import (
    AccountOut,
    Amount,
    ContributorDetail,
    ContributorOut,
    DistributionEntry,
    DistributionOut,
    EpochOut,
    ModelOut,
    ModelVersionOut,
    NetworkStats,
    NodeOut,
    NodeStatus,
    Page,
    QueryDetail,
    QueryOut,
    QueryStatus,
    RewardOut,
    RewardStatus,
    ShareOut,
    ShareStatus,
    SlashOut,
    TimeBucket,
    TimeSeries,
    TokenOut,
)
from zkai.chain.client import Deployment
from zkai.errors import NotIndexedError


def checksum(address: str) -> str:
    return to_checksum_address(address.lower())


def _state(session: Session) -> db.IndexerState:
    state = session.get(db.IndexerState, 1)
    if state is None:
        return db.IndexerState(id=1, chain_id=0, last_block=-1, last_block_time=0)
    return state


def _now(session: Session) -> int:
    return _state(session).last_block_time


def _parameter(session: Session, key: str) -> str | None:
    row = session.get(db.ChainParameter, key)
    return None if row is None else row.value


def _total(session: Session, name: str) -> int:
    row = session.get(db.Total, name)
    return 0 if row is None else row.value


# ------------------------------------------------------------------ models


def _version_out(v: db.ModelVersion) -> ModelVersionOut:
    return ModelVersionOut(
        model_id=v.model_id,
        version=v.version,
        verifier=v.verifier,
        weights_commitment=v.weights_commitment,
        input_size=v.input_size,
        output_size=v.output_size,
        shares=v.shares,
        price_per_query=Amount.of(v.price),
        published_at=v.published_at,
        published_block=v.published_block,
    )


def _model_out(session: Session, m: db.Model) -> ModelOut:
    current = session.get(db.ModelVersion, (m.model_id, m.latest_version))
    queries = session.scalar(
        select(func.count()).select_from(db.Query).where(db.Query.model_id == m.model_id)
    )
    return ModelOut(
        model_id=m.model_id,
        owner=m.owner,
        active=m.active,
        latest_version=m.latest_version,
        registered_at=m.registered_at,
        current=None if current is None else _version_out(current),
        queries=queries or 0,
    )


def list_models(session: Session, limit: int, offset: int) -> Page[ModelOut]:
    total = session.scalar(select(func.count()).select_from(db.Model)) or 0
    rows = session.scalars(select(db.Model).order_by(db.Model.model_id).limit(limit).offset(offset))
    return Page(
        items=[_model_out(session, m) for m in rows], total=total, limit=limit, offset=offset
    )


def get_model(session: Session, model_id: int) -> ModelOut:
    model = session.get(db.Model, model_id)
    if model is None:
        raise NotIndexedError(f"model {model_id} is not registered")
    return _model_out(session, model)


def list_versions(session: Session, model_id: int) -> list[ModelVersionOut]:
    get_model(session, model_id)
    rows = session.scalars(
        select(db.ModelVersion)
        .where(db.ModelVersion.model_id == model_id)
        .order_by(db.ModelVersion.version)
    )
    return [_version_out(v) for v in rows]


# ------------------------------------------------------------------ nodes


def _node_status(session: Session, n: db.Node) -> NodeStatus:
    if n.unlock_time:
        return "unbonding"
    if n.stake == 0 and n.withdrawn > 0:
        return "exited"
    min_stake = int(_parameter(session, "min_stake") or 0)
    return "active" if n.stake >= max(min_stake, 1) else "under-staked"


def _node_out(session: Session, n: db.Node) -> NodeOut:
    return NodeOut(
        address=n.address,
        status=_node_status(session, n),
        stake=Amount.of(n.stake),
        unlock_time=n.unlock_time or None,
        metadata_uri=n.metadata_uri,
        encryption_key=n.encryption_key,
        registered_at=n.registered_at,
        shares_assigned=n.shares_assigned,
        shares_proven=n.shares_proven,
        shares_paid=n.shares_paid,
        shares_missed=n.shares_missed,
        queries_served=n.shares_proven,
        earned=Amount.of(n.earned),
        paid=Amount.of(n.paid),
        unclaimed=Amount.of(n.earned - n.paid),
        slashed=Amount.of(n.slashed),
        slash_count=n.slash_count,
    )


def list_nodes(session: Session, limit: int, offset: int) -> Page[NodeOut]:
    total = session.scalar(select(func.count()).select_from(db.Node)) or 0
    rows = session.scalars(
        select(db.Node).order_by(db.Node.registered_at, db.Node.address).limit(limit).offset(offset)
    )
    items = [_node_out(session, n) for n in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


def _node_row(session: Session, address: str) -> db.Node:
    node = session.get(db.Node, checksum(address))
    if node is None:
        raise NotIndexedError(f"{checksum(address)} is not a registered node")
    return node


def get_node(session: Session, address: str) -> NodeOut:
    return _node_out(session, _node_row(session, address))


def list_slashes(session: Session, address: str, limit: int, offset: int) -> Page[SlashOut]:
    node = _node_row(session, address)
    where = db.Slash.node == node.address
    total = session.scalar(select(func.count()).select_from(db.Slash).where(where)) or 0
    rows = session.scalars(
        select(db.Slash)
        .where(where)
        .order_by(db.Slash.block_number, db.Slash.log_index)
        .limit(limit)
        .offset(offset)
    )
    items = [
        SlashOut(
            node=s.node,
            slasher=s.slasher,
            reason=s.reason,
            requested=Amount.of(s.requested),
            slashed=Amount.of(s.slashed),
            recipient=s.recipient,
            tx_hash=s.tx_hash,
            block_number=s.block_number,
            block_time=s.block_time,
        )
        for s in rows
    ]
    return Page(items=items, total=total, limit=limit, offset=offset)


def list_node_shares(session: Session, address: str, limit: int, offset: int) -> Page[ShareOut]:
    node = _node_row(session, address)
    where = db.Share.node == node.address
    total = session.scalar(select(func.count()).select_from(db.Share).where(where)) or 0
    rows = session.scalars(
        select(db.Share)
        .where(where)
        .order_by(db.Share.query_id.desc(), db.Share.share_index)
        .limit(limit)
        .offset(offset)
    )
    return Page(
        items=[_share_out(session, s) for s in rows], total=total, limit=limit, offset=offset
    )


# ------------------------------------------------------------------ queries


def _query_status(q: db.Query, now: int) -> QueryStatus:
    if q.settled:
        return "settled"
    if q.share_count and q.shares_submitted == q.share_count:
        return "complete"
    return "expired" if now > q.deadline else "pending"


def _share_out(session: Session, s: db.Share, query: db.Query | None = None) -> ShareOut:
    query = query or session.get(db.Query, s.query_id)
    payout = query.payout_per_share if query is not None else 0
    status: ShareStatus = s.status  # type: ignore[assignment]
    return ShareOut(
        query_id=s.query_id,
        share_index=s.share_index,
        node=s.node,
        status=status,
        commitment=s.commitment,
        submitted_at=s.submitted_at,
        gas_used=s.gas_used,
        submit_tx=s.submit_tx,
        paid_tx=s.paid_tx,
        payout=Amount.of(payout if status in ("submitted", "paid") else 0),
        slashed=Amount.of(s.slashed),
    )


def _query_fields(q: db.Query, shares: Sequence[db.Share], now: int) -> dict[str, object]:
    gases = [s.gas_used for s in shares if s.gas_used is not None]
    status = _query_status(q, now)
    latency = (
        q.last_result_at - q.requested_at
        if q.last_result_at is not None and q.shares_submitted == q.share_count
        else None
    )
    return {
        "query_id": q.query_id,
        "model_id": q.model_id,
        "model_version": q.model_version,
        "user": q.user,
        "status": status,
        "fee": Amount.of(q.fee),
        "refund": Amount.of(q.refund),
        "deadline": q.deadline,
        "requested_at": q.requested_at,
        "requested_block": q.requested_block,
        "request_tx": q.request_tx,
        "request_gas": q.request_gas,
        "share_count": q.share_count,
        "shares_submitted": q.shares_submitted,
        "shares_missed": q.shares_missed,
        "latency_seconds": latency,
        "verification_gas": sum(gases) // len(gases) if gases else None,
    }


def _shares_of(session: Session, query_id: int) -> list[db.Share]:
    return list(
        session.scalars(
            select(db.Share).where(db.Share.query_id == query_id).order_by(db.Share.share_index)
        )
    )


def list_queries(
    session: Session,
    limit: int,
    offset: int,
    *,
    user: str | None = None,
    model_id: int | None = None,
    status: QueryStatus | None = None,
) -> Page[QueryOut]:
    statement = select(db.Query)
    if user is not None:
        statement = statement.where(db.Query.user == checksum(user))
    if model_id is not None:
        statement = statement.where(db.Query.model_id == model_id)
    now = _now(session)
    rows = list(session.scalars(statement.order_by(db.Query.query_id.desc())))
    if status is not None:
        rows = [q for q in rows if _query_status(q, now) == status]
    page = rows[offset : offset + limit]
    shares: dict[int, list[db.Share]] = defaultdict(list)
    if page:  # every share of the page in one statement, not one per query
        ids = [q.query_id for q in page]
        of_page = select(db.Share).where(db.Share.query_id.in_(ids))
        for share in session.scalars(of_page.order_by(db.Share.share_index)):
            shares[share.query_id].append(share)
    items = [QueryOut(**_query_fields(q, shares[q.query_id], now)) for q in page]  # type: ignore[arg-type]
    return Page(items=items, total=len(rows), limit=limit, offset=offset)


def get_query(session: Session, query_id: int) -> QueryDetail:
    q = session.get(db.Query, query_id)
    if q is None:
        raise NotIndexedError(f"query {query_id} does not exist")
    shares = _shares_of(session, query_id)
    return QueryDetail(
        **_query_fields(q, shares, _now(session)),  # type: ignore[arg-type]
        shares=[_share_out(session, s, q) for s in shares],
    )


# ------------------------------------------------------------------ contributors and epochs


def _reward_status(a: db.RewardAllocation, epoch: db.Epoch, now: int) -> RewardStatus:
    if a.claimed:
        return "claimed"
    return "expired" if epoch.closed or now > epoch.claim_deadline else "unclaimed"


def _contributor_rewards(session: Session) -> dict[str, list[RewardOut]]:
    now = _now(session)
    epochs = {e.epoch: e for e in session.scalars(select(db.Epoch))}
    by_contributor: dict[str, list[RewardOut]] = defaultdict(list)
    rows = session.scalars(
        select(db.RewardAllocation).order_by(
            db.RewardAllocation.epoch, db.RewardAllocation.contributor
        )
    )
    for a in rows:
        epoch = epochs[a.epoch]
        by_contributor[a.contributor].append(
            RewardOut(
                epoch=a.epoch,
                contributor=a.contributor,
                amount=Amount.of(a.amount),
                status=_reward_status(a, epoch, now),
                claimed_at=a.claimed_at,
                claim_tx=a.claim_tx,
                claim_deadline=epoch.claim_deadline,
            )
        )
    return by_contributor


def _contributor_out(address: str, rewards: list[RewardOut]) -> ContributorOut:
    def total(*statuses: str) -> Amount:
        return Amount.of(sum(int(r.amount.wei) for r in rewards if r.status in statuses))

    return ContributorOut(
        address=address,
        allocated=total("claimed", "unclaimed", "expired"),
        claimed=total("claimed"),
        unclaimed=total("unclaimed"),
        epochs=len({r.epoch for r in rewards}),
    )


def list_contributors(session: Session, limit: int, offset: int) -> Page[ContributorOut]:
    rewards = _contributor_rewards(session)
    addresses = sorted(rewards)
    items = [_contributor_out(a, rewards[a]) for a in addresses[offset : offset + limit]]
    return Page(items=items, total=len(addresses), limit=limit, offset=offset)


def get_contributor(session: Session, address: str) -> ContributorDetail:
    key = checksum(address)
    rewards = _contributor_rewards(session).get(key)
    if not rewards:
        raise NotIndexedError(f"{key} has no contributor rewards")
    return ContributorDetail(**_contributor_out(key, rewards).model_dump(), rewards=rewards)


def _epoch_out(e: db.Epoch) -> EpochOut:
    return EpochOut(
        epoch=e.epoch,
        aggregator=e.aggregator,
        root=e.root,
        total=Amount.of(e.total),
        claimed=Amount.of(e.claimed),
        claim_deadline=e.claim_deadline,
        closed=e.closed,
        rolled_over=Amount.of(e.rolled_over),
        posted_at=e.posted_at,
        distribution_known=e.distribution_known,
    )


def list_epochs(session: Session, limit: int, offset: int) -> Page[EpochOut]:
    total = session.scalar(select(func.count()).select_from(db.Epoch)) or 0
    rows = session.scalars(select(db.Epoch).order_by(db.Epoch.epoch).limit(limit).offset(offset))
    return Page(items=[_epoch_out(e) for e in rows], total=total, limit=limit, offset=offset)


def get_epoch(session: Session, epoch: int) -> EpochOut:
    row = session.get(db.Epoch, epoch)
    if row is None:
        raise NotIndexedError(f"reward epoch {epoch} was not posted")
    return _epoch_out(row)


def get_distribution(session: Session, epoch: int) -> DistributionOut:
    row = session.get(db.Epoch, epoch)
    if row is None:
        raise NotIndexedError(f"reward epoch {epoch} was not posted")
    if not row.distribution_known:
        raise NotIndexedError(
            f"the leaves of reward epoch {epoch} are not published here (only its root is on-chain)"
        )
    leaves = session.scalars(
        select(db.RewardAllocation)
        .where(db.RewardAllocation.epoch == epoch)
        .order_by(db.RewardAllocation.contributor, db.RewardAllocation.amount)
    )
    return DistributionOut(
        epoch=epoch,
        root=row.root,
        entries=[
            DistributionEntry(contributor=a.contributor, amount=Amount.of(a.amount)) for a in leaves
        ],
    )


# ------------------------------------------------------------------ token, stats, accounts


def _balance(session: Session, address: str | None) -> int:
    if address is None:
        return 0
    row = session.get(db.Account, address)
    return 0 if row is None else row.balance


def token(session: Session, deployment: Deployment) -> TokenOut:
    treasury = _parameter(session, "treasury")
    pool = _parameter(session, "rewards_pool")
    holders = session.scalars(select(db.Account))
    return TokenOut(
        address=deployment.address("ZKAIToken"),
        total_supply=Amount.of(_total(session, "supply")),
        treasury=treasury,
        treasury_balance=Amount.of(_balance(session, treasury)),
        rewards_pool=pool,
        rewards_pool_balance=Amount.of(_balance(session, pool)),
        market_escrow=Amount.of(_balance(session, deployment.address("QueryMarket"))),
        staked=Amount.of(_balance(session, deployment.address("NodeRegistry"))),
        holders=sum(1 for a in holders if a.balance > 0),
    )


def stats(session: Session) -> NetworkStats:
    state = _state(session)
    nodes = list(session.scalars(select(db.Node)))
    queries = list(session.scalars(select(db.Query)))
    gases = [
        int(g)
        for g in session.scalars(select(db.Share.gas_used).where(db.Share.gas_used.is_not(None)))
        if g is not None
    ]
    complete = [q for q in queries if q.share_count and q.shares_submitted == q.share_count]
    latencies = [q.last_result_at - q.requested_at for q in complete if q.last_result_at]
    return NetworkStats(
        indexed_block=state.last_block,
        indexed_block_time=state.last_block_time,
        nodes=len(nodes),
        active_nodes=sum(1 for n in nodes if _node_status(session, n) == "active"),
        models=session.scalar(select(func.count()).select_from(db.Model)) or 0,
        queries=len(queries),
        queries_complete=len(complete),
        total_staked=Amount.of(sum(n.stake for n in nodes)),
        fees_paid=Amount.of(_total(session, "fees_escrowed") - _total(session, "refunds")),
        node_earnings=Amount.of(sum(n.earned for n in nodes)),
        node_payouts=Amount.of(_total(session, "node_payouts")),
        protocol_fees=Amount.of(_total(session, "protocol_cuts")),
        contributor_cuts=Amount.of(_total(session, "contributor_cuts")),
        rewards_posted=Amount.of(_total(session, "rewards_posted")),
        rewards_distributed=Amount.of(_total(session, "rewards_claimed")),
        slashed=Amount.of(_total(session, "slashed")),
        mean_verification_gas=sum(gases) // len(gases) if gases else None,
        mean_latency_seconds=round(sum(latencies) / len(latencies), 3) if latencies else None,
    )


def _auto_bucket(span: int, buckets: int) -> int:
    for size in (10, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400):
        if span // size < buckets:
            return size
    return 30 * 86400


def timeseries(session: Session, bucket_seconds: int | None, buckets: int) -> TimeSeries:
    queries = list(session.execute(select(db.Query.requested_at, db.Query.fee)))
    gases = list(
        session.execute(
            select(db.Share.submitted_at, db.Share.gas_used).where(db.Share.gas_used.is_not(None))
        )
    )
    times = [t for t, _ in queries] + [t for t, _ in gases if t is not None]
    if not times:
        return TimeSeries(bucket_seconds=bucket_seconds or 60, buckets=[])
    first, last = min(times), max(times)
    size = bucket_seconds or _auto_bucket(last - first, buckets)
    end_bucket = last // size
    start_bucket = max(first // size, end_bucket - buckets + 1)
    counts: dict[int, int] = defaultdict(int)
    fees: dict[int, int] = defaultdict(int)
    gas: dict[int, list[int]] = defaultdict(list)
    for requested_at, fee in queries:
        counts[requested_at // size] += 1
        fees[requested_at // size] += int(fee)
    for submitted_at, used in gases:
        if submitted_at is not None and used is not None:
            gas[int(submitted_at) // size].append(int(used))
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
    rewards = _contributor_rewards(session).get(key)
    made = session.scalar(select(func.count()).select_from(db.Query).where(db.Query.user == key))
    owned = list(session.scalars(select(db.Model.model_id).where(db.Model.owner == key)))
    if row is None and node is None and not rewards and not made and not owned:
        raise NotIndexedError(f"{key} has no ZKAI activity")
    return AccountOut(
        address=key,
        balance=Amount.of(0 if row is None else row.balance),
        node=None if node is None else _node_out(session, node),
        contributor=None if not rewards else _contributor_out(key, rewards),
        queries_made=made or 0,
        models_owned=owned,
    )
