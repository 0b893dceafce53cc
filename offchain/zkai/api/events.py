"""What the event handlers share: the event being applied, what the indexer fetched for its range
over RPC, and the small row helpers (running totals, parameters, node lookup)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy.orm import Session

from zkai.api import db
from zkai.api.evidence import SlashEvidence
from zkai.errors import ChainError

__all__ = [
    "TOTAL_NAMES",
    "ZERO_ADDRESS",
    "Event",
    "FetchedRange",
    "Handler",
    "NodeInfo",
    "PartInfo",
    "QueryTerms",
    "add_total",
    "as_address",
    "as_hex",
    "as_query_id",
    "node_row",
    "set_parameter",
]

ZERO_ADDRESS = "0x" + "00" * 20
TOTAL_NAMES = (
    "supply",
    "staked_in",
    "withdrawn",
    "slashed",
    "fees_escrowed",
    "credits",
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


def as_query_id(value: Any) -> str:
    """A bytes32 query id as the index keys it: 0x + 64 lower-case hex digits."""
    if isinstance(value, bytes | bytearray):
        if len(value) != 32:
            raise ChainError(f"a query id is 32 bytes, got {len(value)}")
        return "0x" + bytes(value).hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


@dataclass(frozen=True)
class Event:
    """One log being applied: its decoded arguments, where it is, and its block's time."""

    args: dict[str, Any]
    tx_hash: str
    log_index: int
    block: int
    time: int


@dataclass(frozen=True)
class NodeInfo:
    """`NodeRegistry.getNode` at the block of a registration or update."""

    encryption_key: str
    ack_signer: str
    endpoint: str
    metadata_uri: str


@dataclass(frozen=True)
class PartInfo:
    """One `PartTerms` of a published version."""

    verifier: str
    price: int
    max_rounds: int
    max_budget: int
    min_proof_window: int
    shares: int
    circuit_hash: str
    key_hash: str


@dataclass(frozen=True)
class QueryTerms:
    """What `QueryMarket.getQuery` recorded at request and no event carries."""

    protocol_bps: int
    contributor_bps: int
    slash_amount: int


@dataclass
class FetchedRange:
    """A block range's logs and what they do not carry, fetched over RPC before anything is
    applied."""

    logs: list[Any]
    block_times: dict[int, int]
    end_time: int
    gas_used: dict[str, int] = field(default_factory=dict)
    """Gas of each request and claim transaction, by transaction hash."""
    nodes: dict[tuple[int, str], NodeInfo] = field(default_factory=dict)
    """Node records by (block, node address) for the range's registrations and updates."""
    model_uris: dict[int, str] = field(default_factory=dict)
    """Metadata URI of each model registered in the range."""
    parts: dict[tuple[int, int], list[PartInfo]] = field(default_factory=dict)
    """Part terms of each (model id, version) published in the range."""
    queries: dict[str, QueryTerms] = field(default_factory=dict)
    """Recorded terms of each query requested in the range, by query id."""
    slash_evidence: dict[tuple[str, int], SlashEvidence] = field(default_factory=dict)
    """The Ack(s) behind each `AssignmentSlashed`, by (tx hash, log index), from its calldata."""


Handler = Callable[[Session, Event, FetchedRange, Path | None], None]


def add_total(session: Session, name: str, amount: int) -> None:
    total = session.get(db.Total, name)
    if total is None:
        session.add(db.Total(name=name, value=amount))
    else:
        total.value += amount


def set_parameter(session: Session, key: str, value: object) -> None:
    session.merge(db.ChainParameter(key=key, value=str(value)))


def node_row(session: Session, address: str) -> db.Node:
    node = session.get(db.Node, as_address(address))
    if node is None:
        raise ChainError(f"event for node {address} before its NodeRegistered")
    return node
