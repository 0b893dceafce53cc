"""What each contract event does to the index: one handler per (contract, event).

A handler gets the session of the range being applied (it adds and updates rows, never commits:
the indexer commits the whole range with its cursor), the event with the block it is in, what the
indexer fetched for the range over RPC that logs do not carry, and the directory of published
reward distributions (None when the API reads none). Handlers never call the RPC, so applying a
range is database work only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session

from zkai.api import db
from zkai.errors import ChainError
from zkai.rewards import load_distribution

__all__ = [
    "TOTAL_NAMES",
    "Event",
    "FetchedRange",
    "Handler",
    "apply_event",
    "as_address",
    "as_hex",
    "load_epoch_distribution",
]

ZERO_ADDRESS = "0x" + "00" * 20
TOTAL_NAMES = (
    "supply",
    "staked_in",
    "withdrawn",
    "slashed",
    "fees_escrowed",
    "refunds",
    "node_payouts",
    "protocol_cuts",
    "contributor_cuts",
    "protocol_swept",
    "contributor_swept",
    "rewards_posted",
    "rewards_claimed",
    "rewards_rolled_over",
)
"""The network-wide sums the handlers keep in `db.Total` (each starts at 0)."""


def as_hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)


def as_address(value: Any) -> str:
    return to_checksum_address(str(value))


@dataclass(frozen=True)
class Event:
    """One log being applied: its decoded arguments, where it is, and its block's time."""

    args: dict[str, Any]
    tx_hash: str
    log_index: int
    block: int
    time: int


@dataclass
class FetchedRange:
    """A block range's logs and what they do not carry, fetched over RPC before anything is
    applied."""

    logs: list[Any]
    block_times: dict[int, int]
    gas_used: dict[str, int]
    """Gas of each submitResult and request transaction, by transaction hash."""
    splits: dict[int, tuple[int, int, int]]
    """(payout, protocol cut, contributor cut) per share of each requested query, by query id."""
    claimed_shares: dict[str, list[tuple[int, int]]]
    """(query id, share index) pairs each claimPayouts transaction paid, by transaction hash."""
    end_time: int


Handler = Callable[[Session, Event, FetchedRange, Path | None], None]


def apply_event(
    session: Session,
    contract: str,
    name: str,
    event: Event,
    fetched: FetchedRange,
    distributions_dir: Path | None,
) -> None:
    """Apply `contract`'s event `name` to the index (events no handler needs are ignored)."""
    handler = _HANDLERS.get((contract, name))
    if handler is not None:
        handler(session, event, fetched, distributions_dir)


def _add_total(session: Session, name: str, amount: int) -> None:
    total = session.get(db.Total, name)
    if total is None:
        session.add(db.Total(name=name, value=amount))
    else:
        total.value += amount


def _set_parameter(session: Session, key: str, value: object) -> None:
    session.merge(db.ChainParameter(key=key, value=str(value)))


def _account(session: Session, address: str) -> db.Account:
    account = session.get(db.Account, address)
    if account is None:
        account = db.Account(address=address, balance=0)
        session.add(account)
        session.flush()
    return account


def _node(session: Session, address: str) -> db.Node:
    node = session.get(db.Node, as_address(address))
    if node is None:
        raise ChainError(f"event for node {address} before its NodeRegistered")
    return node


def load_epoch_distribution(session: Session, epoch: db.Epoch, directory: Path) -> None:
    entries = load_distribution(directory, epoch.root)
    if entries is None:
        return
    for contributor, amount in entries:
        if session.get(db.RewardAllocation, (epoch.epoch, contributor, amount)) is None:
            session.add(
                db.RewardAllocation(
                    epoch=epoch.epoch, contributor=contributor, amount=amount, claimed=False
                )
            )
    epoch.distribution_known = True


# ------------------------------------------------------------------ token


def _transfer(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    sender = as_address(event.args["from"])
    receiver = as_address(event.args["to"])
    value = int(event.args["value"])
    if sender == as_address(ZERO_ADDRESS):
        _add_total(session, "supply", value)
    else:
        _account(session, sender).balance -= value
    if receiver == as_address(ZERO_ADDRESS):
        _add_total(session, "supply", -value)
    else:
        _account(session, receiver).balance += value


# ------------------------------------------------------------------ node registry


def _node_registered(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    session.add(
        db.Node(
            address=as_address(event.args["node"]),
            encryption_key=as_hex(event.args["encryptionKey"]),
            metadata_uri=str(event.args["metadataURI"]),
            stake=0,
            unlock_time=0,
            withdrawn=0,
            registered_at=event.time,
            shares_assigned=0,
            shares_proven=0,
            shares_paid=0,
            shares_missed=0,
            earned=0,
            paid=0,
            slashed=0,
            slash_count=0,
        )
    )


def _node_updated(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    node = _node(session, event.args["node"])
    node.encryption_key = as_hex(event.args["encryptionKey"])
    node.metadata_uri = str(event.args["metadataURI"])


def _staked(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    node = _node(session, event.args["node"])
    node.stake = int(event.args["totalStake"])
    _add_total(session, "staked_in", int(event.args["amount"]))


def _unstake_requested(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    _node(session, event.args["node"]).unlock_time = int(event.args["unlockTime"])


def _withdrawn(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    node = _node(session, event.args["node"])
    amount = int(event.args["amount"])
    node.stake -= amount
    node.withdrawn += amount
    node.unlock_time = 0
    _add_total(session, "withdrawn", amount)


def _slashed(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    node = _node(session, event.args["node"])
    amount = int(event.args["slashed"])
    node.stake -= amount
    node.slashed += amount
    node.slash_count += 1
    _add_total(session, "slashed", amount)
    session.add(
        db.Slash(
            tx_hash=event.tx_hash,
            log_index=event.log_index,
            node=node.address,
            slasher=as_address(event.args["slasher"]),
            reason=as_hex(event.args["reason"]),
            requested=int(event.args["requested"]),
            slashed=amount,
            recipient=as_address(event.args["recipient"]),
            block_number=event.block,
            block_time=event.time,
        )
    )


def _min_stake_set(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    _set_parameter(session, "min_stake", int(event.args["minStake"]))


# ------------------------------------------------------------------ model registry


def _model_registered(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    session.add(
        db.Model(
            model_id=int(event.args["modelId"]),
            owner=as_address(event.args["owner"]),
            active=True,
            latest_version=0,
            registered_at=event.time,
            registered_block=event.block,
        )
    )


def _version_published(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    model_id, version = int(event.args["modelId"]), int(event.args["version"])
    session.add(
        db.ModelVersion(
            model_id=model_id,
            version=version,
            verifier=as_address(event.args["verifier"]),
            weights_commitment=as_hex(event.args["weightsCommitment"]),
            input_size=int(event.args["inputSize"]),
            output_size=int(event.args["outputSize"]),
            shares=int(event.args["shares"]),
            price=int(event.args["pricePerQuery"]),
            published_at=event.time,
            published_block=event.block,
        )
    )
    model = session.get(db.Model, model_id)
    if model is not None:
        model.latest_version = max(model.latest_version, version)


def _model_active_set(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    model = session.get(db.Model, int(event.args["modelId"]))
    if model is not None:
        model.active = bool(event.args["active"])


# ------------------------------------------------------------------ query market


def _query_requested(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    query_id = int(event.args["queryId"])
    payout, protocol, contributor = fetched.splits[query_id]
    fee = int(event.args["fee"])
    session.add(
        db.Query(
            query_id=query_id,
            model_id=int(event.args["modelId"]),
            model_version=int(event.args["modelVersion"]),
            user=as_address(event.args["user"]),
            fee=fee,
            deadline=int(event.args["deadline"]),
            share_count=0,
            payout_per_share=payout,
            protocol_cut_per_share=protocol,
            contributor_cut_per_share=contributor,
            requested_at=event.time,
            requested_block=event.block,
            request_tx=event.tx_hash,
            request_gas=fetched.gas_used.get(event.tx_hash, 0),
            shares_submitted=0,
            shares_missed=0,
            settled=False,
            refund=0,
        )
    )
    _add_total(session, "fees_escrowed", fee)


def _query(session: Session, query_id: int) -> db.Query:
    query = session.get(db.Query, query_id)
    if query is None:
        raise ChainError(f"event for query {query_id} before its QueryRequested")
    return query


def _share(session: Session, query_id: int, index: int) -> db.Share:
    share = session.get(db.Share, (query_id, index))
    if share is None:
        raise ChainError(f"event for share {index} of query {query_id} before its ShareAssigned")
    return share


def _share_assigned(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    query = _query(session, int(event.args["queryId"]))
    node = _node(session, event.args["node"])
    session.add(
        db.Share(
            query_id=query.query_id,
            share_index=int(event.args["shareIndex"]),
            node=node.address,
            commitment=str(int(event.args["commitment"])),
            status="pending",
            slashed=0,
        )
    )
    query.share_count += 1
    node.shares_assigned += 1


def _result_submitted(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    query = _query(session, int(event.args["queryId"]))
    share = _share(session, query.query_id, int(event.args["shareIndex"]))
    node = _node(session, event.args["node"])
    share.status = "submitted"
    share.submitted_at = event.time
    share.submit_tx = event.tx_hash
    share.gas_used = fetched.gas_used.get(event.tx_hash)
    query.shares_submitted += 1
    query.last_result_at = max(query.last_result_at or 0, event.time)
    node.shares_proven += 1
    node.earned += query.payout_per_share


def _share_missed(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    query = _query(session, int(event.args["queryId"]))
    share = _share(session, query.query_id, int(event.args["shareIndex"]))
    share.status = "missed"
    share.slashed = int(event.args["slashed"])
    query.shares_missed += 1
    _node(session, event.args["node"]).shares_missed += 1


def _query_settled(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    query = _query(session, int(event.args["queryId"]))
    query.settled = True
    query.refund = int(event.args["refund"])
    _add_total(session, "refunds", query.refund)


def _payouts_claimed(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    node = _node(session, event.args["node"])
    count = int(event.args["shares"])
    node.paid += int(event.args["payout"])
    node.shares_paid += count
    _add_total(session, "node_payouts", int(event.args["payout"]))
    _add_total(session, "protocol_cuts", int(event.args["protocolCut"]))
    _add_total(session, "contributor_cuts", int(event.args["contributorCut"]))
    pairs = fetched.claimed_shares.get(event.tx_hash) or []
    shares = [session.get(db.Share, pair) for pair in pairs]
    if len(pairs) != count or any(share is None for share in shares):
        shares = list(
            session.scalars(
                select(db.Share)
                .where(db.Share.node == node.address, db.Share.status == "submitted")
                .order_by(db.Share.query_id, db.Share.share_index)
                .limit(count)
            )
        )
    for share in shares:
        if share is not None:
            share.status = "paid"
            share.paid_tx = event.tx_hash


def _fees_swept(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    _add_total(session, "protocol_swept", int(event.args["protocolFees"]))
    _add_total(session, "contributor_swept", int(event.args["contributorFees"]))


def _fees_set(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    _set_parameter(session, "protocol_fee_bps", int(event.args["protocolFeeBps"]))
    _set_parameter(session, "contributor_fee_bps", int(event.args["contributorFeeBps"]))


def _treasury_set(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    _set_parameter(session, "treasury", as_address(event.args["treasury"]))


def _rewards_pool_set(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    _set_parameter(session, "rewards_pool", as_address(event.args["rewardsPool"]))


def _slash_amount_set(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    _set_parameter(session, "slash_amount", int(event.args["slashAmount"]))


# ------------------------------------------------------------------ contributor rewards


def _epoch_posted(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    epoch = db.Epoch(
        epoch=int(event.args["epoch"]),
        aggregator=as_address(event.args["aggregator"]),
        root=as_hex(event.args["root"]),
        total=int(event.args["total"]),
        claimed=0,
        claim_deadline=int(event.args["claimDeadline"]),
        closed=False,
        rolled_over=0,
        posted_at=event.time,
        distribution_known=False,
    )
    session.add(epoch)
    _add_total(session, "rewards_posted", epoch.total)
    if distributions_dir is not None:
        session.flush()
        load_epoch_distribution(session, epoch, distributions_dir)


def _reward_claimed(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    epoch_id, amount = int(event.args["epoch"]), int(event.args["amount"])
    contributor = as_address(event.args["contributor"])
    epoch = session.get(db.Epoch, epoch_id)
    if epoch is None:
        raise ChainError(f"Claimed for epoch {epoch_id} before its EpochPosted")
    epoch.claimed += amount
    _add_total(session, "rewards_claimed", amount)
    allocation = session.get(db.RewardAllocation, (epoch_id, contributor, amount))
    if allocation is None:
        allocation = db.RewardAllocation(epoch=epoch_id, contributor=contributor, amount=amount)
        session.add(allocation)
    allocation.claimed = True
    allocation.claimed_at = event.time
    allocation.claim_tx = event.tx_hash


def _epoch_closed(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    epoch = session.get(db.Epoch, int(event.args["epoch"]))
    if epoch is not None:
        epoch.closed = True
        epoch.rolled_over = int(event.args["rolledOver"])
        _add_total(session, "rewards_rolled_over", epoch.rolled_over)


_HANDLERS: dict[tuple[str, str], Handler] = {
    ("ZKAIToken", "Transfer"): _transfer,
    ("NodeRegistry", "NodeRegistered"): _node_registered,
    ("NodeRegistry", "NodeUpdated"): _node_updated,
    ("NodeRegistry", "Staked"): _staked,
    ("NodeRegistry", "UnstakeRequested"): _unstake_requested,
    ("NodeRegistry", "Withdrawn"): _withdrawn,
    ("NodeRegistry", "Slashed"): _slashed,
    ("NodeRegistry", "MinStakeSet"): _min_stake_set,
    ("ModelRegistry", "ModelRegistered"): _model_registered,
    ("ModelRegistry", "ModelVersionPublished"): _version_published,
    ("ModelRegistry", "ModelActiveSet"): _model_active_set,
    ("QueryMarket", "QueryRequested"): _query_requested,
    ("QueryMarket", "ShareAssigned"): _share_assigned,
    ("QueryMarket", "ResultSubmitted"): _result_submitted,
    ("QueryMarket", "ShareMissed"): _share_missed,
    ("QueryMarket", "QuerySettled"): _query_settled,
    ("QueryMarket", "PayoutsClaimed"): _payouts_claimed,
    ("QueryMarket", "FeesSwept"): _fees_swept,
    ("QueryMarket", "FeesSet"): _fees_set,
    ("QueryMarket", "TreasurySet"): _treasury_set,
    ("QueryMarket", "RewardsPoolSet"): _rewards_pool_set,
    ("QueryMarket", "SlashAmountSet"): _slash_amount_set,
    ("ContributorRewards", "EpochPosted"): _epoch_posted,
    ("ContributorRewards", "Claimed"): _reward_claimed,
    ("ContributorRewards", "EpochClosed"): _epoch_closed,
}
