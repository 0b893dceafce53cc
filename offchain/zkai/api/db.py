"""The API's event index: SQLAlchemy 2 models and the engine, from any SQLAlchemy URL.

Token amounts are uint256 values: they are stored as decimal strings (`Wei`) and summed in Python,
never as floats. Every table is written only by the indexer; the API reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Dialect,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

ADDRESS = String(42)
HASH = String(66)


class Wei(TypeDecorator[int]):
    """A uint256 amount as a decimal string (exact on every database)."""

    impl = String(78)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> str | None:
        return None if value is None else str(int(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class Base(DeclarativeBase):
    pass


class IndexerState(Base):
    """Where the indexer is: the last block whose events are all applied (one row)."""

    __tablename__ = "indexer_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    last_block: Mapped[int] = mapped_column(BigInteger)
    last_block_time: Mapped[int] = mapped_column(BigInteger, default=0)


class RawEvent(Base):
    """Every applied log, keyed by (tx hash, log index): re-applying one is a no-op."""

    __tablename__ = "raw_events"
    tx_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_time: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(60))
    args: Mapped[str] = mapped_column(Text)


class ChainParameter(Base):
    """Contract settings read from events (treasury, fees, rewards pool): key -> value."""

    __tablename__ = "chain_parameters"
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(100))


class Total(Base):
    """Network-wide running totals (supply, fees, payouts, rewards...): name -> wei."""

    __tablename__ = "totals"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(Wei, default=0)


class Account(Base):
    """Token balance of every address that ever held ZKAI (from Transfer events)."""

    __tablename__ = "accounts"
    address: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    balance: Mapped[int] = mapped_column(Wei, default=0)


class Model(Base):
    __tablename__ = "models"
    model_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    owner: Mapped[str] = mapped_column(ADDRESS, index=True)
    metadata_uri: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    registered_at: Mapped[int] = mapped_column(BigInteger)
    registered_block: Mapped[int] = mapped_column(BigInteger)


class ModelVersion(Base):
    """A published version: its manifest (by hash) and its parts' terms (`ModelPart`)."""

    __tablename__ = "model_versions"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.model_id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    manifest_hash: Mapped[str] = mapped_column(HASH)
    part_count: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[int] = mapped_column(BigInteger)
    published_block: Mapped[int] = mapped_column(BigInteger)


class ModelPart(Base):
    """One part's terms in a version (`ModelRegistry.getPart`), fixed at publication."""

    __tablename__ = "model_parts"
    model_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    part: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    verifier: Mapped[str] = mapped_column(ADDRESS)
    price: Mapped[int] = mapped_column(Wei)
    """Per round per assignment."""
    max_rounds: Mapped[int] = mapped_column(Integer)
    max_budget: Mapped[int] = mapped_column(Integer)
    """Largest budget per assignment (above max_rounds: claimed in chunks)."""
    min_proof_window: Mapped[int] = mapped_column(BigInteger)
    shares: Mapped[int] = mapped_column(Integer)
    circuit_hash: Mapped[str] = mapped_column(HASH)
    key_hash: Mapped[str] = mapped_column(HASH)


class Verifier(Base):
    """A verifier the VerifierFactory deployed (`VerifierDeployed`): the only kind the registry
    accepts for a part."""

    __tablename__ = "verifiers"
    address: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    vk_hash: Mapped[str] = mapped_column(HASH)
    public_inputs: Mapped[int] = mapped_column(Integer)
    deployed_at: Mapped[int] = mapped_column(BigInteger)
    deployed_block: Mapped[int] = mapped_column(BigInteger)


class Node(Base):
    __tablename__ = "nodes"
    address: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    encryption_key: Mapped[str] = mapped_column(HASH)
    ack_signer: Mapped[str] = mapped_column(ADDRESS)
    endpoint: Mapped[str] = mapped_column(Text)
    metadata_uri: Mapped[str] = mapped_column(Text)
    stake: Mapped[int] = mapped_column(Wei, default=0)
    unlock_time: Mapped[int] = mapped_column(BigInteger, default=0)
    withdrawn: Mapped[int] = mapped_column(Wei, default=0)
    registered_at: Mapped[int] = mapped_column(BigInteger)
    assignments: Mapped[int] = mapped_column(Integer, default=0)
    claims: Mapped[int] = mapped_column(Integer, default=0)
    rounds_claimed: Mapped[int] = mapped_column(BigInteger, default=0)
    credited: Mapped[int] = mapped_column(Wei, default=0)
    """Credits of every claim (rounds x price), before the cuts."""
    earned: Mapped[int] = mapped_column(Wei, default=0)
    """Payouts of every claim (paid to the node when it claimed)."""
    slashed: Mapped[int] = mapped_column(Wei, default=0)
    slash_count: Mapped[int] = mapped_column(Integer, default=0)


class NodePart(Base):
    """A (model, part) a node says it hosts (`PartHosted`); a row is deleted when it stops."""

    __tablename__ = "node_parts"
    node: Mapped[str] = mapped_column(ForeignKey("nodes.address"), primary_key=True)
    model_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    part: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    since: Mapped[int] = mapped_column(BigInteger)


class Query(Base):
    """A v2 query: its escrow, deadlines and the terms recorded at request."""

    __tablename__ = "queries"
    query_id: Mapped[str] = mapped_column(HASH, primary_key=True)
    """bytes32, 0x + 64 lower-case hex digits."""
    model_id: Mapped[int] = mapped_column(BigInteger, index=True)
    model_version: Mapped[int] = mapped_column(Integer)
    user: Mapped[str] = mapped_column(ADDRESS, index=True)
    session_key: Mapped[str] = mapped_column(ADDRESS)
    escrow: Mapped[int] = mapped_column(Wei)
    round_deadline: Mapped[int] = mapped_column(BigInteger)
    proof_deadline: Mapped[int] = mapped_column(BigInteger)
    challenge_deadline: Mapped[int] = mapped_column(BigInteger)
    protocol_bps: Mapped[int] = mapped_column(Integer, default=0)
    contributor_bps: Mapped[int] = mapped_column(Integer, default=0)
    slash_amount: Mapped[int] = mapped_column(Wei, default=0)
    assignment_count: Mapped[int] = mapped_column(Integer, default=0)
    claimed_count: Mapped[int] = mapped_column(Integer, default=0)
    """Assignments with at least one claim."""
    finalised_count: Mapped[int] = mapped_column(Integer, default=0)
    """Assignments whose latest claim was final (nothing more can be claimed)."""
    credits: Mapped[int] = mapped_column(Wei, default=0)
    requested_at: Mapped[int] = mapped_column(BigInteger, index=True)
    requested_block: Mapped[int] = mapped_column(BigInteger, index=True)
    request_tx: Mapped[str] = mapped_column(HASH)
    request_gas: Mapped[int] = mapped_column(BigInteger, default=0)
    settled: Mapped[bool] = mapped_column(Boolean, default=False)
    refund: Mapped[int] = mapped_column(Wei, default=0)
    settled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_claim_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Assignment(Base):
    """An assignment (query, part, node): its terms, its claim and its slash."""

    __tablename__ = "assignments"
    query_id: Mapped[str] = mapped_column(ForeignKey("queries.query_id"), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    node: Mapped[str] = mapped_column(ADDRESS, primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)
    """Order of its Assigned event in the request."""
    budget: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(Wei)
    first_commitment: Mapped[str] = mapped_column(String(78))
    rounds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Rounds claimed: n of its latest claim (chunk); None: not claimed."""
    claims: Mapped[int] = mapped_column(Integer, default=0)
    """Its `Claimed` events: 1 for a claim in one piece, one per chunk when chunked."""
    finalised: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether its latest claim was final (n == budget or a chunk below R_max)."""
    input_transcript: Mapped[str | None] = mapped_column(String(78), nullable=True)
    output_transcript: Mapped[str | None] = mapped_column(String(78), nullable=True)
    credit: Mapped[int] = mapped_column(Wei, default=0)
    """Sum of its claims' credits."""
    payout: Mapped[int] = mapped_column(Wei, default=0)
    """Sum of its claims' payouts."""
    claimed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    claim_tx: Mapped[str | None] = mapped_column(HASH, nullable=True)
    claim_gas: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    slashed: Mapped[int] = mapped_column(Wei, default=0)
    slash_round: Mapped[int | None] = mapped_column(Integer, nullable=True)
    slash_reason: Mapped[int | None] = mapped_column(Integer, nullable=True)
    slash_tx: Mapped[str | None] = mapped_column(HASH, nullable=True)
    slash_evidence: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """What the slash's calldata showed: "ack", "equivocation" or "unavailable" (None: not
    slashed); the Acks are `SlashAck` rows."""
    slash_evidence_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why the evidence is unavailable."""


class SlashAck(Base):
    """An Ack that justified an assignment's slash, as its transaction sent it: position 1, and
    for an equivocation position 2 (the second Ack of the same round)."""

    __tablename__ = "slash_acks"
    __table_args__ = (
        ForeignKeyConstraint(
            ["query_id", "part", "node"],
            ["assignments.query_id", "assignments.part", "assignments.node"],
        ),
    )
    query_id: Mapped[str] = mapped_column(HASH, primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    node: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    round: Mapped[int] = mapped_column(Integer)
    input_transcript: Mapped[str] = mapped_column(String(78))
    """T_i, decimal."""
    output_transcript: Mapped[str] = mapped_column(String(78))
    """O_i, decimal."""
    signature: Mapped[str] = mapped_column(Text)
    """0x + hex of the 65 signature bytes."""
    signer: Mapped[str] = mapped_column(ADDRESS)
    """The address the Ack recovers to (checked equal to the recorded ack signer)."""


class Slash(Base):
    __tablename__ = "slashes"
    tx_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    node: Mapped[str] = mapped_column(ADDRESS, index=True)
    slasher: Mapped[str] = mapped_column(ADDRESS)
    reason: Mapped[str] = mapped_column(HASH)
    requested: Mapped[int] = mapped_column(Wei)
    slashed: Mapped[int] = mapped_column(Wei)
    recipient: Mapped[str] = mapped_column(ADDRESS)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_time: Mapped[int] = mapped_column(BigInteger)


class Epoch(Base):
    __tablename__ = "epochs"
    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    aggregator: Mapped[str] = mapped_column(ADDRESS)
    root: Mapped[str] = mapped_column(HASH)
    total: Mapped[int] = mapped_column(Wei)
    claimed: Mapped[int] = mapped_column(Wei, default=0)
    claim_deadline: Mapped[int] = mapped_column(BigInteger)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    rolled_over: Mapped[int] = mapped_column(Wei, default=0)
    posted_at: Mapped[int] = mapped_column(BigInteger)
    distribution_known: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether the epoch's (contributor, amount) leaves were published and match its root."""


class RewardAllocation(Base):
    """A leaf of an epoch's reward tree (from its published distribution, or from a claim)."""

    __tablename__ = "reward_allocations"
    epoch: Mapped[int] = mapped_column(ForeignKey("epochs.epoch"), primary_key=True)
    contributor: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    amount: Mapped[int] = mapped_column(Wei, primary_key=True)
    claimed: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    claim_tx: Mapped[str | None] = mapped_column(HASH, nullable=True)


def is_memory_sqlite(url: str) -> bool:
    """Whether `url` is an in-memory SQLite database (one per connection: never split)."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def make_engine(
    url: str, *, pool_size: int = 5, max_overflow: int = 10, pool_timeout: float = 30.0
) -> Engine:
    """An engine for `url` with a pool of `pool_size` (+ `max_overflow`) connections.

    SQLite gets WAL journaling, so readers never wait for the indexer's writes nor it for them
    (one writer at a time; `busy_timeout` lets a second writer wait instead of failing), and
    `synchronous=NORMAL`, which WAL keeps safe against a crash of the process (a power loss may
    lose the last commits: the indexer then applies those blocks again)."""
    is_sqlite = url.startswith("sqlite")
    options: dict[str, Any] = {}
    if not is_memory_sqlite(url):
        options = {"pool_size": pool_size, "max_overflow": max_overflow}
        options["pool_timeout"] = pool_timeout
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30} if is_sqlite else {},
        pool_pre_ping=not is_sqlite,
        **options,
    )
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(bind=engine, expire_on_commit=False)
