"""Follow the contracts' events into the index database, from a cursor stored in that database.

Each step reads one block range with a single `eth_getLogs` (all contracts), fetches what the
logs do not carry (block timestamps, gas of each request and claim transaction, the rates and
slash amount each query recorded, the part terms of each published version, node records at the
block of their registration or update, the Ack(s) each slash carried in its calldata:
`zkai.api.evidence`), then applies everything
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
from zkai.api.events import (
    TOTAL_NAMES,
    Event,
    FetchedRange,
    NodeInfo,
    PartInfo,
    QueryTerms,
    as_address,
    as_hex,
    as_query_id,
)
from zkai.api.evidence import SlashEvidence, decode_slash_evidence
from zkai.api.handlers import apply_event, load_epoch_distribution
from zkai.chain.client import ChainClient, with_retries
from zkai.errors import ChainError, IndexMismatchError
from zkai.protocol.messages import Domain

log = logging.getLogger(__name__)

CONTRACTS = (
    "ZKAIToken",
    "NodeRegistry",
    "VerifierFactory",
    "ModelRegistry",
    "QueryMarket",
    "ContributorRewards",
)


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
        self._market = self._named("QueryMarket")
        self._nodes = self._named("NodeRegistry")
        self._models = self._named("ModelRegistry")
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

    def _named(self, name: str) -> Any:
        """The deployment's contract `name`, its struct results decoded with field names."""
        return self.client.w3.eth.contract(
            address=self.client.contract(name).address,
            abi=self.client.contract(name).abi,
            decode_tuples=True,
        )

    def _call(self, fn: Any, block: int | None = None) -> Any:
        if block is None:
            return self.client.call(fn)
        return with_retries(lambda: fn.call(block_identifier=block))

    def _fetch(self, start: int, end: int) -> FetchedRange:
        logs = self.client.logs(CONTRACTS, start, end)
        block_times: dict[int, int] = {}
        fetched = FetchedRange(logs, block_times, 0)
        for entry in logs:
            number = int(entry["blockNumber"])
            if number not in block_times:
                block_times[number] = self._block_time(number)
            tx_hash = as_hex(entry["transactionHash"])
            where, name, args = entry["contract"], entry["event"], entry["args"]
            gas_known = tx_hash in fetched.gas_used
            if where == "QueryMarket" and name in ("QueryRequested", "Claimed") and not gas_known:
                fetched.gas_used[tx_hash] = self._gas_used(tx_hash)
            if where == "QueryMarket" and name == "QueryRequested":
                query_id = as_query_id(args["queryId"])
                fetched.queries[query_id] = self._query_terms(args["queryId"], number)
            elif where == "QueryMarket" and name == "AssignmentSlashed":
                where_log = (tx_hash, int(entry["logIndex"]))
                fetched.slash_evidence[where_log] = self._slash_evidence(tx_hash, args, number)
            elif where == "NodeRegistry" and name in ("NodeRegistered", "NodeUpdated"):
                node = as_address(args["node"])
                if "endpoint" not in args and (number, node) not in fetched.nodes:
                    fetched.nodes[(number, node)] = self._node_info(node, number)
            elif where == "ModelRegistry" and name == "ModelRegistered":
                model_id = int(args["modelId"])
                if "metadataURI" not in args:
                    model = self._call(self._models.functions.getModel(model_id), number)
                    fetched.model_uris[model_id] = str(model.metadataURI)
            elif where == "ModelRegistry" and name == "ModelVersionPublished":
                key = (int(args["modelId"]), int(args["version"]))
                fetched.parts[key] = self._parts(*key)
        fetched.end_time = block_times.get(end) or self._block_time(end)
        return fetched

    def _query_terms(self, query_id: bytes, block: int) -> QueryTerms:
        query = self._call(self._market.functions.getQuery(query_id), block)
        return QueryTerms(
            protocol_bps=int(query.protocolBps),
            contributor_bps=int(query.contributorBps),
            slash_amount=int(query.slashAmount),
        )

    def _slash_evidence(self, tx_hash: str, args: Any, block: int) -> SlashEvidence:
        """The Ack(s) the slashing transaction sent, checked against the assignment's recorded
        ack signer (read at the slash's block)."""
        transaction = with_retries(lambda: self.client.w3.eth.get_transaction(HexBytes(tx_hash)))
        record = self._call(
            self._market.functions.getAssignment(args["queryId"], args["part"], args["node"]),
            block,
        )
        domain = Domain(self.client.deployment.chain_id, self._market.address)
        evidence = decode_slash_evidence(
            self._market, domain, transaction, dict(args), str(record.ackSigner)
        )
        if evidence.detail is not None:
            log.info("slash in %s: evidence unavailable: %s", tx_hash, evidence.detail)
        return evidence

    def _node_info(self, node: str, block: int) -> NodeInfo:
        record = self._call(self._nodes.functions.getNode(node), block)
        return NodeInfo(
            encryption_key=as_hex(record.encryptionKey),
            ack_signer=as_address(record.ackSigner),
            endpoint=str(record.endpoint),
            metadata_uri=str(record.metadataURI),
        )

    def _parts(self, model_id: int, version: int) -> list[PartInfo]:
        parts = self._call(self._models.functions.getParts(model_id, version))
        return [
            PartInfo(
                verifier=as_address(p.verifier),
                price=int(p.price),
                max_rounds=int(p.maxRounds),
                max_budget=int(p.maxBudget),
                min_proof_window=int(p.minProofWindow),
                shares=int(p.shares),
                circuit_hash=as_hex(p.circuitHash),
                key_hash=as_hex(p.keyHash),
            )
            for p in parts
        ]

    def _block_time(self, number: int) -> int:
        block = with_retries(lambda: self.client.w3.eth.get_block(number))
        return int(block["timestamp"])

    def _gas_used(self, tx_hash: str) -> int:
        receipt = with_retries(
            lambda: self.client.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        )
        return int(receipt["gasUsed"])

    # ------------------------------------------------------------------ apply (DB only)

    def _apply(self, start: int, end: int, fetched: FetchedRange) -> None:
        with self.sessions.begin() as session:
            state = self._state(session)
            if state.last_block != start - 1:
                raise ChainError(f"index cursor moved to {state.last_block} during a sync")
            for entry in sorted(fetched.logs, key=_apply_order):
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


def _apply_order(entry: Any) -> tuple[int, int, int, int]:
    """Chain order, but for a request: the market emits its `Assigned` logs before the
    `QueryRequested` that creates the query, which is applied first."""
    first = entry["contract"] == "QueryMarket" and entry["event"] == "QueryRequested"
    return (
        int(entry["blockNumber"]),
        int(entry["transactionIndex"]),
        0 if first else 1,
        int(entry["logIndex"]),
    )


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
