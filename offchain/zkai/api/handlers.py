"""What each contract event does to the index: one handler per (contract, event).

A handler gets the session of the range being applied (it adds and updates rows, never commits:
the indexer commits the whole range with its cursor), the event with the block it is in, what the
indexer fetched for the range over RPC that logs do not carry (`zkai.api.events.FetchedRange`),
and the directory of published reward distributions (None when the API reads none). Handlers
never call the RPC, so applying a range is database work only. The query market's handlers are
`zkai.api.market_handlers`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from zkai.api import db
from zkai.api.events import (
    ZERO_ADDRESS,
    Event,
    FetchedRange,
    Handler,
    add_total,
    as_address,
    as_hex,
    node_row,
    set_parameter,
)
from zkai.api.market_handlers import MARKET_HANDLERS
from zkai.errors import ChainError
from zkai.rewards import load_distribution

__all__ = ["apply_event", "load_epoch_distribution"]


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


def _account(session: Session, address: str) -> db.Account:
    account = session.get(db.Account, address)
    if account is None:
        account = db.Account(address=address, balance=0)
        session.add(account)
        session.flush()
    return account


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
        add_total(session, "supply", value)
    else:
        _account(session, sender).balance -= value
    if receiver == as_address(ZERO_ADDRESS):
        add_total(session, "supply", -value)
    else:
        _account(session, receiver).balance += value


# ------------------------------------------------------------------ node registry


def _node_info(event: Event, fetched: FetchedRange) -> tuple[str, str, str, str]:
    """(encryption key, ack signer, endpoint, metadata URI) of the node the event is about: the
    event's own arguments where it carries them, else its record at the event's block."""
    address = as_address(event.args["node"])
    info = fetched.nodes.get((event.block, address))
    args = event.args

    def pick(argument: str, recorded: str | None) -> str:
        if argument in args:
            value = args[argument]
            return as_hex(value) if isinstance(value, bytes | bytearray) else str(value)
        if recorded is None:
            raise ChainError(f"no record of node {address} at block {event.block}")
        return recorded

    return (
        pick("encryptionKey", None if info is None else info.encryption_key),
        as_address(pick("ackSigner", None if info is None else info.ack_signer)),
        pick("endpoint", None if info is None else info.endpoint),
        pick("metadataURI", None if info is None else info.metadata_uri),
    )


def _node_registered(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    key, signer, endpoint, uri = _node_info(event, fetched)
    session.add(
        db.Node(
            address=as_address(event.args["node"]),
            encryption_key=key,
            ack_signer=signer,
            endpoint=endpoint,
            metadata_uri=uri,
            stake=0,
            unlock_time=0,
            withdrawn=0,
            registered_at=event.time,
            assignments=0,
            claims=0,
            rounds_claimed=0,
            credited=0,
            earned=0,
            slashed=0,
            slash_count=0,
        )
    )


def _node_updated(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    node = node_row(session, event.args["node"])
    node.encryption_key, node.ack_signer, node.endpoint, node.metadata_uri = _node_info(
        event, fetched
    )


def _part_hosted(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    node = node_row(session, event.args["node"])
    key = (node.address, int(event.args["modelId"]), int(event.args["part"]))
    row = session.get(db.NodePart, key)
    if bool(event.args["hosted"]):
        if row is None:
            session.add(db.NodePart(node=key[0], model_id=key[1], part=key[2], since=event.time))
    elif row is not None:
        session.delete(row)


def _staked(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    node = node_row(session, event.args["node"])
    node.stake = int(event.args["totalStake"])
    add_total(session, "staked_in", int(event.args["amount"]))


def _unstake_requested(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    node_row(session, event.args["node"]).unlock_time = int(event.args["unlockTime"])


def _withdrawn(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    node = node_row(session, event.args["node"])
    amount = int(event.args["amount"])
    node.stake -= amount
    node.withdrawn += amount
    node.unlock_time = 0
    add_total(session, "withdrawn", amount)


def _slashed(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    node = node_row(session, event.args["node"])
    amount = int(event.args["slashed"])
    node.stake -= amount
    node.slashed += amount
    node.slash_count += 1
    add_total(session, "slashed", amount)
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
    set_parameter(session, "min_stake", int(event.args["minStake"]))


# ------------------------------------------------------------------ verifier factory


def _verifier_deployed(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    session.add(
        db.Verifier(
            address=as_address(event.args["verifier"]),
            vk_hash=as_hex(event.args["vkHash"]),
            public_inputs=int(event.args["publicInputs"]),
            deployed_at=event.time,
            deployed_block=event.block,
        )
    )


# ------------------------------------------------------------------ model registry


def _model_registered(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    model_id = int(event.args["modelId"])
    uri = event.args.get("metadataURI", fetched.model_uris.get(model_id, ""))
    session.add(
        db.Model(
            model_id=model_id,
            owner=as_address(event.args["owner"]),
            metadata_uri=str(uri),
            active=True,
            current_version=0,
            registered_at=event.time,
            registered_block=event.block,
        )
    )


def _version_published(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    model_id, version = int(event.args["modelId"]), int(event.args["version"])
    parts = fetched.parts.get((model_id, version))
    if parts is None:
        raise ChainError(f"the parts of model {model_id} version {version} were not fetched")
    session.add(
        db.ModelVersion(
            model_id=model_id,
            version=version,
            manifest_hash=as_hex(event.args["manifestHash"]),
            part_count=int(event.args["partCount"]),
            published_at=event.time,
            published_block=event.block,
        )
    )
    for index, terms in enumerate(parts):
        session.add(
            db.ModelPart(
                model_id=model_id,
                version=version,
                part=index,
                verifier=terms.verifier,
                price=terms.price,
                max_rounds=terms.max_rounds,
                max_budget=terms.max_budget,
                min_proof_window=terms.min_proof_window,
                shares=terms.shares,
                circuit_hash=terms.circuit_hash,
                key_hash=terms.key_hash,
            )
        )
    model = session.get(db.Model, model_id)
    if model is not None:
        model.current_version = max(model.current_version, version)


def _model_active_set(
    session: Session, event: Event, fetched: FetchedRange, distributions_dir: Path | None
) -> None:
    model = session.get(db.Model, int(event.args["modelId"]))
    if model is not None:
        model.active = bool(event.args["active"])


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
    add_total(session, "rewards_posted", epoch.total)
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
    add_total(session, "rewards_claimed", amount)
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
        add_total(session, "rewards_rolled_over", epoch.rolled_over)


_HANDLERS: dict[tuple[str, str], Handler] = {
    ("ZKAIToken", "Transfer"): _transfer,
    ("NodeRegistry", "NodeRegistered"): _node_registered,
    ("NodeRegistry", "NodeUpdated"): _node_updated,
    ("NodeRegistry", "PartHosted"): _part_hosted,
    ("NodeRegistry", "Staked"): _staked,
    ("NodeRegistry", "UnstakeRequested"): _unstake_requested,
    ("NodeRegistry", "Withdrawn"): _withdrawn,
    ("NodeRegistry", "Slashed"): _slashed,
    ("NodeRegistry", "MinStakeSet"): _min_stake_set,
    ("VerifierFactory", "VerifierDeployed"): _verifier_deployed,
    ("ModelRegistry", "ModelRegistered"): _model_registered,
    ("ModelRegistry", "ModelVersionPublished"): _version_published,
    ("ModelRegistry", "ModelActiveSet"): _model_active_set,
    **{("QueryMarket", name): handler for name, handler in MARKET_HANDLERS.items()},
    ("ContributorRewards", "EpochPosted"): _epoch_posted,
    ("ContributorRewards", "Claimed"): _reward_claimed,
    ("ContributorRewards", "EpochClosed"): _epoch_closed,
}
