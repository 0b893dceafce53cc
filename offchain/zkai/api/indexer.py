"""Follow the contracts' events into the index database, from a cursor stored in that database.

Each step reads one block range with a single `eth_getLogs` (all contracts), fetches what the
logs do not carry (block timestamps, gas of each submitResult and request transaction, the
per-share fee split of each query, the shares a claimPayouts call paid), then applies everything
and advances the cursor in ONE database transaction: a crash or an RPC failure in the middle leaves
the index exactly at the previous cursor. Applied logs are keyed by (tx hash, log index), so a log
seen twice is applied once.

RPC failures are retried by the chain client with backoff; when the RPC stays down the loop keeps
trying (with its own capped backoff) and reports the error in `status`, and resumes where it was.

Reorgs: the indexer is reorg-naive. It applies blocks `confirmations` behind the head (0 on a
local chain) and never revisits them. If the chain id or the deployed addresses change (a fresh
local chain), the index is emptied and rebuilt from the deployment's first block.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from zkai.api import db
from zkai.chain.client import ChainClient, with_retries
from zkai.errors import ChainError
from zkai.rewards import RewardTree

log = logging.getLogger(__name__)

CONTRACTS = ("ZKAIToken", "NodeRegistry", "ModelRegistry", "QueryMarket", "ContributorRewards")
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


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)


def _address(value: Any) -> str:
    return to_checksum_address(str(value))


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def distribution_path(directory: Path, root: bytes | str) -> Path:
    """Where a reward epoch's published (contributor, amount) leaves live: `<root hex>.json`."""
    hex_root = root.hex() if isinstance(root, bytes) else root.removeprefix("0x")
    return directory / f"{hex_root.lower()}.json"


def publish_distribution(directory: Path, tree: RewardTree) -> Path:
    """Write an epoch's leaves where the API finds them, so it can show unclaimed rewards."""
    directory.mkdir(parents=True, exist_ok=True)
    path = distribution_path(directory, tree.root)
    entries = [[account, str(amount)] for account, amount in tree.entries]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"root": "0x" + tree.root.hex(), "entries": entries}))
    tmp.replace(path)
    return path


def load_distribution(directory: Path, root: str) -> list[tuple[str, int]] | None:
    """The published leaves of the epoch with `root`, or None if absent or not matching it."""
    path = distribution_path(directory, root)
    try:
        data = json.loads(path.read_text())
        entries = [(_address(account), int(amount)) for account, amount in data["entries"]]
        tree = RewardTree.of(entries)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if path.exists():
            log.warning("ignoring reward distribution %s: %s", path, exc)
        return None
    if "0x" + tree.root.hex() != root.lower():
        log.warning("ignoring reward distribution %s: its root is not the epoch's", path)
        return None
    return list(tree.entries)


@dataclass
class IndexerStatus:
    """What the indexer last did; read by the API's health endpoint."""

    last_block: int | None = None
    head: int | None = None
    rpc_ok: bool = False
    last_error: str | None = None
    updated_at: float = 0.0
    version: int = 0
    """Increases each time new blocks are applied (for live updates)."""
    changed: threading.Condition = field(default_factory=threading.Condition)


@dataclass
class _Fetched:
    logs: list[Any]
    block_times: dict[int, int]
    gas_used: dict[str, int]
    splits: dict[int, tuple[int, int, int]]
    claimed_shares: dict[str, list[tuple[int, int]]]
    end_time: int


class Indexer:
    """Applies the deployment's events to the index, range by range."""

    def __init__(
        self,
        client: ChainClient,
        sessions: sessionmaker[Session],
        *,
        distributions_dir: Path | None = None,
        batch_blocks: int = 2_000,
        confirmations: int = 0,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.distributions_dir = distributions_dir
        self.batch_blocks = batch_blocks
        self.confirmations = confirmations
        self.status = IndexerStatus()
        self._market = client.contract("QueryMarket")

    # ------------------------------------------------------------------ cursor

    @property
    def deployment_key(self) -> str:
        contracts = sorted(self.client.deployment.contracts.items())
        return hashlib.sha256(
            json.dumps([self.client.deployment.chain_id, contracts]).encode()
        ).hexdigest()

    def _state(self, session: Session) -> db.IndexerState:
        """The cursor row; the index is emptied when it belongs to another chain or deployment."""
        state = session.get(db.IndexerState, 1)
        key = session.get(db.ChainParameter, "deployment")
        if state is not None and key is not None and key.value == self.deployment_key:
            return state
        if state is not None:
            log.warning("index belongs to another chain or deployment: rebuilding it")
        for table in reversed(db.Base.metadata.sorted_tables):
            session.execute(delete(table))
        state = db.IndexerState(
            id=1,
            chain_id=self.client.deployment.chain_id,
            last_block=self.client.deployment.start_block - 1,
            last_block_time=0,
        )
        session.add(state)
        session.add(db.ChainParameter(key="deployment", value=self.deployment_key))
        for name in TOTAL_NAMES:
            session.add(db.Total(name=name, value=0))
        session.flush()
        return state

    def cursor(self) -> int:
        with self.sessions.begin() as session:
            return self._state(session).last_block

    # ------------------------------------------------------------------ loop

    def sync_once(self) -> int:
        """Index up to the current head (minus confirmations); returns the blocks applied."""
        head = with_retries(lambda: self.client.w3.eth.block_number) - self.confirmations
        self.status.head = head
        start = self.cursor() + 1
        applied = 0
        while start <= head:
            end = min(head, start + self.batch_blocks - 1)
            fetched = self._fetch(start, end)
            self._apply(start, end, fetched)
            applied += end - start + 1
            start = end + 1
        self._refresh_distributions()
        self.status.last_block = start - 1
        self.status.rpc_ok = True
        self.status.last_error = None
        self.status.updated_at = time.time()
        if applied:
            with self.status.changed:
                self.status.version += 1
                self.status.changed.notify_all()
        return applied

    def run(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Follow the chain until `stop` is set; RPC outages are waited out, never fatal."""
        backoff = poll_interval
        while not stop.is_set():
            try:
                self.sync_once()
                backoff = poll_interval
            except ChainError as exc:
                self.status.rpc_ok = False
                self.status.last_error = str(exc)
                log.warning("indexer: %s; retrying in %.1f s", exc, backoff)
                backoff = min(backoff * 2, 30.0)
            stop.wait(backoff)

    # ------------------------------------------------------------------ fetch (RPC only)

    def _fetch(self, start: int, end: int) -> _Fetched:
        logs = self.client.logs(CONTRACTS, start, end)
        block_times: dict[int, int] = {}
        gas_used: dict[str, int] = {}
        splits: dict[int, tuple[int, int, int]] = {}
        claimed: dict[str, list[tuple[int, int]]] = {}
        for entry in logs:
            number = int(entry["blockNumber"])
            if number not in block_times:
                block_times[number] = self._block_time(number)
            tx_hash = _hex(entry["transactionHash"])
            name = entry["event"]
            if name in ("ResultSubmitted", "QueryRequested") and tx_hash not in gas_used:
                gas_used[tx_hash] = self._gas_used(tx_hash)
            if name == "QueryRequested":
                query_id = int(entry["args"]["queryId"])
                payout, protocol, contributor = self.client.call(
                    self._market.functions.shareSplit(query_id)
                )
                splits[query_id] = (int(payout), int(protocol), int(contributor))
            if name == "PayoutsClaimed":
                claimed[tx_hash] = self._claimed_shares(tx_hash)
        end_time = block_times.get(end) or self._block_time(end)
        return _Fetched(logs, block_times, gas_used, splits, claimed, end_time)

    def _block_time(self, number: int) -> int:
        block = with_retries(lambda: self.client.w3.eth.get_block(number))
        return int(block["timestamp"])

    def _gas_used(self, tx_hash: str) -> int:
        receipt = with_retries(
            lambda: self.client.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        )
        return int(receipt["gasUsed"])

    def _claimed_shares(self, tx_hash: str) -> list[tuple[int, int]]:
        """The (query id, share index) pairs a claimPayouts transaction paid (empty if the call
        came through another contract; the shares are then matched oldest first)."""
        tx = with_retries(lambda: self.client.w3.eth.get_transaction(HexBytes(tx_hash)))
        if str(tx.get("to", "")).lower() != self._market.address.lower():
            return []
        try:
            function, args = self._market.decode_function_input(tx["input"])
        except ValueError:
            return []
        if function.fn_name != "claimPayouts":
            return []
        return [
            (int(q), int(s)) for q, s in zip(args["queryIds"], args["shareIndexes"], strict=True)
        ]

    # ------------------------------------------------------------------ apply (DB only)

    def _apply(self, start: int, end: int, fetched: _Fetched) -> None:
        with self.sessions.begin() as session:
            state = self._state(session)
            if state.last_block != start - 1:
                raise ChainError(f"index cursor moved to {state.last_block} during a sync")
            for entry in fetched.logs:
                tx_hash = _hex(entry["transactionHash"])
                log_index = int(entry["logIndex"])
                if session.get(db.RawEvent, (tx_hash, log_index)) is not None:
                    continue
                number = int(entry["blockNumber"])
                time_ = fetched.block_times[number]
                args = dict(entry["args"])
                session.add(
                    db.RawEvent(
                        tx_hash=tx_hash,
                        log_index=log_index,
                        block_number=number,
                        block_time=time_,
                        contract=entry["contract"],
                        name=entry["event"],
                        args=json.dumps({k: _jsonable(v) for k, v in args.items()}),
                    )
                )
                handler = _HANDLERS.get((entry["contract"], entry["event"]))
                if handler is not None:
                    handler(self, session, _Event(args, tx_hash, log_index, number, time_), fetched)
                session.flush()
            state.last_block = end
            state.last_block_time = fetched.end_time

    def _refresh_distributions(self) -> None:
        if self.distributions_dir is None:
            return
        with self.sessions.begin() as session:
            for epoch in session.scalars(select(db.Epoch).where(~db.Epoch.distribution_known)):
                _load_epoch_distribution(session, epoch, self.distributions_dir)


@dataclass(frozen=True)
class _Event:
    args: dict[str, Any]
    tx_hash: str
    log_index: int
    block: int
    time: int


Handler = Callable[[Indexer, Session, _Event, _Fetched], None]


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
    node = session.get(db.Node, _address(address))
    if node is None:
        raise ChainError(f"event for node {address} before its NodeRegistered")
    return node


def _load_epoch_distribution(session: Session, epoch: db.Epoch, directory: Path) -> None:
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


def _transfer(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    sender, receiver, value = _address(e.args["from"]), _address(e.args["to"]), int(e.args["value"])
    if sender == _address(ZERO_ADDRESS):
        _add_total(s, "supply", value)
    else:
        _account(s, sender).balance -= value
    if receiver == _address(ZERO_ADDRESS):
        _add_total(s, "supply", -value)
    else:
        _account(s, receiver).balance += value


# ------------------------------------------------------------------ node registry


def _node_registered(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    s.add(
        db.Node(
            address=_address(e.args["node"]),
            encryption_key=_hex(e.args["encryptionKey"]),
            metadata_uri=str(e.args["metadataURI"]),
            stake=0,
            unlock_time=0,
            withdrawn=0,
            registered_at=e.time,
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


def _node_updated(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    node = _node(s, e.args["node"])
    node.encryption_key = _hex(e.args["encryptionKey"])
    node.metadata_uri = str(e.args["metadataURI"])


def _staked(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    node = _node(s, e.args["node"])
    node.stake = int(e.args["totalStake"])
    _add_total(s, "staked_in", int(e.args["amount"]))


def _unstake_requested(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    _node(s, e.args["node"]).unlock_time = int(e.args["unlockTime"])


def _withdrawn(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    node = _node(s, e.args["node"])
    amount = int(e.args["amount"])
    node.stake -= amount
    node.withdrawn += amount
    node.unlock_time = 0
    _add_total(s, "withdrawn", amount)


def _slashed(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    node = _node(s, e.args["node"])
    amount = int(e.args["slashed"])
    node.stake -= amount
    node.slashed += amount
    node.slash_count += 1
    _add_total(s, "slashed", amount)
    s.add(
        db.Slash(
            tx_hash=e.tx_hash,
            log_index=e.log_index,
            node=node.address,
            slasher=_address(e.args["slasher"]),
            reason=_hex(e.args["reason"]),
            requested=int(e.args["requested"]),
            slashed=amount,
            recipient=_address(e.args["recipient"]),
            block_number=e.block,
            block_time=e.time,
        )
    )


def _min_stake_set(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    _set_parameter(s, "min_stake", int(e.args["minStake"]))


# ------------------------------------------------------------------ model registry


def _model_registered(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    s.add(
        db.Model(
            model_id=int(e.args["modelId"]),
            owner=_address(e.args["owner"]),
            active=True,
            latest_version=0,
            registered_at=e.time,
            registered_block=e.block,
        )
    )


def _version_published(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    model_id, version = int(e.args["modelId"]), int(e.args["version"])
    s.add(
        db.ModelVersion(
            model_id=model_id,
            version=version,
            verifier=_address(e.args["verifier"]),
            weights_commitment=_hex(e.args["weightsCommitment"]),
            input_size=int(e.args["inputSize"]),
            output_size=int(e.args["outputSize"]),
            shares=int(e.args["shares"]),
            price=int(e.args["pricePerQuery"]),
            published_at=e.time,
            published_block=e.block,
        )
    )
    model = s.get(db.Model, model_id)
    if model is not None:
        model.latest_version = max(model.latest_version, version)


def _model_active_set(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    model = s.get(db.Model, int(e.args["modelId"]))
    if model is not None:
        model.active = bool(e.args["active"])


# ------------------------------------------------------------------ query market


def _query_requested(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    query_id = int(e.args["queryId"])
    payout, protocol, contributor = f.splits[query_id]
    fee = int(e.args["fee"])
    s.add(
        db.Query(
            query_id=query_id,
            model_id=int(e.args["modelId"]),
            model_version=int(e.args["modelVersion"]),
            user=_address(e.args["user"]),
            fee=fee,
            deadline=int(e.args["deadline"]),
            share_count=0,
            payout_per_share=payout,
            protocol_cut_per_share=protocol,
            contributor_cut_per_share=contributor,
            requested_at=e.time,
            requested_block=e.block,
            request_tx=e.tx_hash,
            request_gas=f.gas_used.get(e.tx_hash, 0),
            shares_submitted=0,
            shares_missed=0,
            settled=False,
            refund=0,
        )
    )
    _add_total(s, "fees_escrowed", fee)


def _query(s: Session, query_id: int) -> db.Query:
    query = s.get(db.Query, query_id)
    if query is None:
        raise ChainError(f"event for query {query_id} before its QueryRequested")
    return query


def _share(s: Session, query_id: int, index: int) -> db.Share:
    share = s.get(db.Share, (query_id, index))
    if share is None:
        raise ChainError(f"event for share {index} of query {query_id} before its ShareAssigned")
    return share


def _share_assigned(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    query = _query(s, int(e.args["queryId"]))
    node = _node(s, e.args["node"])
    s.add(
        db.Share(
            query_id=query.query_id,
            share_index=int(e.args["shareIndex"]),
            node=node.address,
            commitment=str(int(e.args["commitment"])),
            status="pending",
            slashed=0,
        )
    )
    query.share_count += 1
    node.shares_assigned += 1


def _result_submitted(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    query = _query(s, int(e.args["queryId"]))
    share = _share(s, query.query_id, int(e.args["shareIndex"]))
    node = _node(s, e.args["node"])
    share.status = "submitted"
    share.submitted_at = e.time
    share.submit_tx = e.tx_hash
    share.gas_used = f.gas_used.get(e.tx_hash)
    query.shares_submitted += 1
    query.last_result_at = max(query.last_result_at or 0, e.time)
    node.shares_proven += 1
    node.earned += query.payout_per_share


def _share_missed(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    query = _query(s, int(e.args["queryId"]))
    share = _share(s, query.query_id, int(e.args["shareIndex"]))
    share.status = "missed"
    share.slashed = int(e.args["slashed"])
    query.shares_missed += 1
    _node(s, e.args["node"]).shares_missed += 1


def _query_settled(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    query = _query(s, int(e.args["queryId"]))
    query.settled = True
    query.refund = int(e.args["refund"])
    _add_total(s, "refunds", query.refund)


def _payouts_claimed(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    node = _node(s, e.args["node"])
    count = int(e.args["shares"])
    node.paid += int(e.args["payout"])
    node.shares_paid += count
    _add_total(s, "node_payouts", int(e.args["payout"]))
    _add_total(s, "protocol_cuts", int(e.args["protocolCut"]))
    _add_total(s, "contributor_cuts", int(e.args["contributorCut"]))
    pairs = f.claimed_shares.get(e.tx_hash) or []
    shares = [s.get(db.Share, pair) for pair in pairs]
    if len(pairs) != count or any(share is None for share in shares):
        shares = list(
            s.scalars(
                select(db.Share)
                .where(db.Share.node == node.address, db.Share.status == "submitted")
                .order_by(db.Share.query_id, db.Share.share_index)
                .limit(count)
            )
        )
    for share in shares:
        if share is not None:
            share.status = "paid"
            share.paid_tx = e.tx_hash


def _fees_swept(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    _add_total(s, "protocol_swept", int(e.args["protocolFees"]))
    _add_total(s, "contributor_swept", int(e.args["contributorFees"]))


def _fees_set(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    _set_parameter(s, "protocol_fee_bps", int(e.args["protocolFeeBps"]))
    _set_parameter(s, "contributor_fee_bps", int(e.args["contributorFeeBps"]))


def _treasury_set(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    _set_parameter(s, "treasury", _address(e.args["treasury"]))


def _rewards_pool_set(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    _set_parameter(s, "rewards_pool", _address(e.args["rewardsPool"]))


def _slash_amount_set(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    _set_parameter(s, "slash_amount", int(e.args["slashAmount"]))


# ------------------------------------------------------------------ contributor rewards


def _epoch_posted(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    epoch = db.Epoch(
        epoch=int(e.args["epoch"]),
        aggregator=_address(e.args["aggregator"]),
        root=_hex(e.args["root"]),
        total=int(e.args["total"]),
        claimed=0,
        claim_deadline=int(e.args["claimDeadline"]),
        closed=False,
        rolled_over=0,
        posted_at=e.time,
        distribution_known=False,
    )
    s.add(epoch)
    _add_total(s, "rewards_posted", epoch.total)
    if ix.distributions_dir is not None:
        s.flush()
        _load_epoch_distribution(s, epoch, ix.distributions_dir)


def _reward_claimed(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    epoch_id, amount = int(e.args["epoch"]), int(e.args["amount"])
    contributor = _address(e.args["contributor"])
    epoch = s.get(db.Epoch, epoch_id)
    if epoch is None:
        raise ChainError(f"Claimed for epoch {epoch_id} before its EpochPosted")
    epoch.claimed += amount
    _add_total(s, "rewards_claimed", amount)
    allocation = s.get(db.RewardAllocation, (epoch_id, contributor, amount))
    if allocation is None:
        allocation = db.RewardAllocation(epoch=epoch_id, contributor=contributor, amount=amount)
        s.add(allocation)
    allocation.claimed = True
    allocation.claimed_at = e.time
    allocation.claim_tx = e.tx_hash


def _epoch_closed(ix: Indexer, s: Session, e: _Event, f: _Fetched) -> None:
    epoch = s.get(db.Epoch, int(e.args["epoch"]))
    if epoch is not None:
        epoch.closed = True
        epoch.rolled_over = int(e.args["rolledOver"])
        _add_total(s, "rewards_rolled_over", epoch.rolled_over)


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
