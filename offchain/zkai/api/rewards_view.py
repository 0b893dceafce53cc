"""Read side of the contributor rewards: contributors, epochs and published distributions."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zkai.api import db
from zkai.api.repository import checksum, now_of
from zkai.api.schemas import (
    Amount,
    ContributorDetail,
    ContributorOut,
    DistributionEntry,
    DistributionOut,
    EpochOut,
    Page,
    RewardOut,
    RewardStatus,
)
from zkai.errors import NotIndexedError


def _reward_status(a: db.RewardAllocation, epoch: db.Epoch, now: int) -> RewardStatus:
    if a.claimed:
        return "claimed"
    return "expired" if epoch.closed or now > epoch.claim_deadline else "unclaimed"


def contributor_rewards(session: Session) -> dict[str, list[RewardOut]]:
    now = now_of(session)
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


def contributor_out(address: str, rewards: list[RewardOut]) -> ContributorOut:
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
    rewards = contributor_rewards(session)
    addresses = sorted(rewards)
    items = [contributor_out(a, rewards[a]) for a in addresses[offset : offset + limit]]
    return Page(items=items, total=len(addresses), limit=limit, offset=offset)


def get_contributor(session: Session, address: str) -> ContributorDetail:
    key = checksum(address)
    rewards = contributor_rewards(session).get(key)
    if not rewards:
        raise NotIndexedError(f"{key} has no contributor rewards")
    return ContributorDetail(**contributor_out(key, rewards).model_dump(), rewards=rewards)


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
