"""Follow the contracts' events into the index database, from a cursor stored in that database.

Each step reads one block range with a single `eth_getLogs` (all contracts), fetches what the
logs do not carry (block timestamps, gas of each submitResult and request transaction, the
per-share fee split of each query, the shares a claimPayouts call paid), then applies everything
and advances the cursor in ONE database transaction: a crash or an RPC failure in the middle leaves
the index exactly at the previous cursor. Applied logs are keyed by (tx hash, log index), so a log
seen twice is applied once. What each event does to the index is `zkai.api.handlers`.

Supervision: no error ends the loop. RPC failures are retried by the chain client with backoff;
when the RPC stays down the loop keeps trying (with its own capped backoff) and reports the error
in `status`, and resumes where it was. Any other error (the database busy or full, a bug) is
logged with its traceback, counted and reported in `status`, and retried the same way from the
stored cursor. The loop beats (`status.loop_beat`) on every round, so the API's health tells a
stuck or dead indexer from a live one.

Reorgs: the indexer is reorg-naive. It applies blocks `confirmations` behind the head (0 on a
local chain) and never revisits them. If the chain id or the deployed addresses change, the index
is emptied and rebuilt from the deployment's first block. The index records the chain's genesis
block hash, and an index whose genesis is not the chain's is refused (`IndexMismatchError`, which
stops the loop and says what to do): same chain id and addresses on another chain is a local chain
restarted without its state, and its index describes a chain that no longer exists.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from zkai.api import db
from zkai.api.handlers import (
    TOTAL_NAMES,
    Event,
    FetchedRange,
    apply_event,
    as_hex,
    load_epoch_distribution,
)
from zkai.chain.client import ChainClient, with_retries
from zkai.errors import ChainError, IndexMismatchError

log = logging.getLogger(__name__)

CONTRACTS = ("ZKAIToken", "NodeRegistry", "ModelRegistry", "QueryMarket", "ContributorRewards")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


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
    loop_beat: float = 0.0
    """Unix time the loop last came round (0: not started)."""
    failures: int = 0
    """Rounds that failed with an error other than the RPC's, since the start."""
    refused: str | None = None
    """Why the indexer refused this index and stopped (`IndexMismatchError`)."""


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
        self._genesis_checked = False

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

    def check_genesis(self, attempts: int = 8) -> None:
        """Record the chain's genesis block hash in a new index; refuse (`IndexMismatchError`)
        an index that recorded another. Needs the RPC (a `ChainError` when it is down)."""
        block = with_retries(lambda: self.client.w3.eth.get_block(0), attempts=attempts)
        genesis = as_hex(block["hash"])
        with self.sessions.begin() as session:
            self._state(session)  # an index of another deployment is emptied first
            recorded = session.get(db.ChainParameter, "genesis")
            if recorded is None:
                session.add(db.ChainParameter(key="genesis", value=genesis))
            elif recorded.value != genesis:
                raise IndexMismatchError(
                    _mismatch(self.sessions, recorded.value, genesis, self.client.rpc_url)
                )
        self._genesis_checked = True

    # ------------------------------------------------------------------ loop

    def sync_once(self) -> int:
        """Index up to the current head (minus confirmations); returns the blocks applied."""
        if not self._genesis_checked:
            self.check_genesis()
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
            self.status.loop_beat = time.time()
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
        """Follow the chain until `stop` is set. Errors are logged and retried with a capped
        backoff, never fatal, but for an index of another chain (`IndexMismatchError`)."""
        backoff = poll_interval
        while not stop.is_set():
            self.status.loop_beat = time.time()
            try:
                self.sync_once()
                backoff = poll_interval
            except IndexMismatchError as exc:
                self.status.refused = self.status.last_error = str(exc)
                log.error("indexer stopped: %s", exc)
                return
            except ChainError as exc:
                self.status.rpc_ok = False
                self.status.last_error = str(exc)
                log.warning("indexer: %s; retrying in %.1f s", exc, backoff)
                backoff = min(backoff * 2, 30.0)
            except Exception as exc:  # supervised: logged with its traceback, then retried
                self.status.failures += 1
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("indexer: unexpected error; resuming in %.1f s", backoff)
                backoff = min(backoff * 2, 30.0)
            self.status.loop_beat = time.time()
            stop.wait(backoff)

    # ------------------------------------------------------------------ fetch (RPC only)

    def _fetch(self, start: int, end: int) -> FetchedRange:
        logs = self.client.logs(CONTRACTS, start, end)
        block_times: dict[int, int] = {}
        gas_used: dict[str, int] = {}
        splits: dict[int, tuple[int, int, int]] = {}
        claimed: dict[str, list[tuple[int, int]]] = {}
        for entry in logs:
            number = int(entry["blockNumber"])
            if number not in block_times:
                block_times[number] = self._block_time(number)
            tx_hash = as_hex(entry["transactionHash"])
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
        return FetchedRange(logs, block_times, gas_used, splits, claimed, end_time)

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

    def _apply(self, start: int, end: int, fetched: FetchedRange) -> None:
        with self.sessions.begin() as session:
            state = self._state(session)
            if state.last_block != start - 1:
                raise ChainError(f"index cursor moved to {state.last_block} during a sync")
            for entry in fetched.logs:
                tx_hash = as_hex(entry["transactionHash"])
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
                apply_event(
                    session,
                    entry["contract"],
                    entry["event"],
                    Event(args, tx_hash, log_index, number, time_),
                    fetched,
                    self.distributions_dir,
                )
                session.flush()
            state.last_block = end
            state.last_block_time = fetched.end_time

    def _refresh_distributions(self) -> None:
        if self.distributions_dir is None:
            return
        with self.sessions.begin() as session:
            for epoch in session.scalars(select(db.Epoch).where(~db.Epoch.distribution_known)):
                load_epoch_distribution(session, epoch, self.distributions_dir)


def _mismatch(sessions: sessionmaker[Session], recorded: str, genesis: str, rpc_url: str) -> str:
    url = getattr(sessions.kw.get("bind"), "url", None)
    where = "the index" if url is None else f"the index at {url.render_as_string(True)}"
    sqlite_file = url.database if url is not None and url.get_backend_name() == "sqlite" else None
    fix = f"delete {sqlite_file}" if sqlite_file else "empty that database"
    return (
        f"{where} was built from another chain: it recorded genesis block {recorded}, the chain "
        f"at {rpc_url} has {genesis} (same chain id and contract addresses: a local chain "
        f"restarted without its state). Its data is not this chain's: {fix}, or set "
        "ZKAI_DATABASE_URL to a new database, then start the API again; the index is rebuilt "
        "from the chain."
    )
