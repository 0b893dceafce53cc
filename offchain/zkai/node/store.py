"""The node's durable round store: one SQLite file in the node's state directory, written only by
the node's own processes (its round endpoint and its claim workers), never shared with others.

Tables:

    assignments  (query, part, node) -> what the market recorded at request (budget, R_max,
                 deadlines, tag, model version, ack signer, encryption key) and the claims'
                 progress (state open / claiming / claimed / expired, the rounds the chain has
                 recorded as claimed so far -- chunks -- and the last claim's transaction hash)
    rounds       (query, part, node, round) -> the signed Round (fields and signature), the block,
                 the opening (share, mask, salt), the outputs, T_i, O_i and the Ack
    commitments  every commitment the node ever served (primary key): never serve one twice
    prove_times  the measured proving time per (model, version, part), for the capacity check
    prompts      (query, part, node) -> part 0's nodes and the prompt's later commitments that
                 round 1 carried (`zkai.protocol.prompt`), stored with round 1

A round is stored in one transaction before its answer leaves the node (`record_round`); the
transaction fails if the round, or its commitment, was stored before, so two concurrent requests
cannot both be answered. WAL mode: readers never block the writer.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from zkai.errors import NodeError

__all__ = ["AssignmentRow", "RoundRow", "RoundStore", "StoreConflictError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (
    query TEXT NOT NULL, part INTEGER NOT NULL, node TEXT NOT NULL,
    tag TEXT NOT NULL, model_id INTEGER NOT NULL, version INTEGER NOT NULL,
    budget INTEGER NOT NULL, round_deadline INTEGER NOT NULL, proof_deadline INTEGER NOT NULL,
    ack_signer TEXT NOT NULL, encryption_key TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open', claim_tx TEXT, detail TEXT,
    updated REAL NOT NULL,
    claimed_rounds INTEGER NOT NULL DEFAULT 0, max_rounds INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (query, part, node)
);
CREATE TABLE IF NOT EXISTS rounds (
    query TEXT NOT NULL, part INTEGER NOT NULL, node TEXT NOT NULL, round INTEGER NOT NULL,
    block INTEGER NOT NULL, commitment TEXT NOT NULL,
    input_transcript TEXT NOT NULL, prev_output_transcript TEXT NOT NULL,
    output_transcript TEXT NOT NULL, signature TEXT NOT NULL,
    share TEXT NOT NULL, mask TEXT NOT NULL, salt TEXT NOT NULL,
    outputs TEXT NOT NULL, ack TEXT NOT NULL, served REAL NOT NULL,
    PRIMARY KEY (query, part, node, round)
);
CREATE TABLE IF NOT EXISTS commitments (
    commitment TEXT PRIMARY KEY,
    query TEXT NOT NULL, part INTEGER NOT NULL, node TEXT NOT NULL, round INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS prompts (
    query TEXT NOT NULL, part INTEGER NOT NULL, node TEXT NOT NULL,
    nodes TEXT NOT NULL, rows TEXT NOT NULL,
    PRIMARY KEY (query, part, node)
);
CREATE TABLE IF NOT EXISTS prove_times (
    model_id INTEGER NOT NULL, version INTEGER NOT NULL, part INTEGER NOT NULL,
    seconds REAL NOT NULL, measured REAL NOT NULL,
    PRIMARY KEY (model_id, version, part)
);
"""

OPEN, CLAIMING, CLAIMED, EXPIRED, FAILED = "open", "claiming", "claimed", "expired", "failed"
"""OPEN: rounds may still be served (earlier chunks may be claimed: `claimed_rounds`); CLAIMING:
the final claim has started, no round is stored any more; CLAIMED: the chain finalised it."""

_ADDED_COLUMNS = (
    ("claimed_rounds", "INTEGER NOT NULL DEFAULT 0"),
    ("max_rounds", "INTEGER NOT NULL DEFAULT 0"),
)
"""Columns added after the first stores were written (chunked claims): added on open."""


class StoreConflictError(NodeError):
    """A round or commitment is already in the store (served before)."""


def _hex(value: int) -> str:
    return hex(value)


@dataclass(frozen=True)
class AssignmentRow:
    query: bytes
    part: int
    node: str
    tag: int
    model_id: int
    version: int
    budget: int
    round_deadline: int
    proof_deadline: int
    ack_signer: str
    encryption_key: bytes
    state: str = OPEN
    claim_tx: str | None = None
    detail: str | None = None
    claimed_rounds: int = 0
    """n0: the rounds the chain recorded as claimed (the last chunk's n), 0 before any claim."""
    max_rounds: int = 0
    """R_max of the part at request (the most rounds one claim proves); 0 if not known yet."""


@dataclass(frozen=True)
class RoundRow:
    """One served round, as stored before its answer was returned."""

    round: int
    block: int
    commitment: int
    input_transcript: int
    prev_output_transcript: int
    output_transcript: int
    signature: bytes
    share: tuple[int, ...]
    mask: tuple[int, ...]
    salt: int
    outputs: tuple[int, ...]
    ack: bytes


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v, 16) for v in json.loads(text))


def _json_ints(values: Sequence[int]) -> str:
    return json.dumps([hex(v) for v in values])


class RoundStore:
    """The node's SQLite store (module docstring). Safe to share between threads of one process;
    each process opens its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            path, timeout=30.0, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(assignments)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in columns:
                self._db.execute(f"ALTER TABLE assignments ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- assignments --------------------------------------------------------------------------

    def ensure_assignment(self, row: AssignmentRow) -> None:
        """Record an assignment's terms the first time the node sees it (a no-op after)."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO assignments (query, part, node, tag, model_id, version, "
                "budget, round_deadline, proof_deadline, ack_signer, encryption_key, state, "
                "updated, claimed_rounds, max_rounds) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    row.query.hex(),
                    row.part,
                    row.node.lower(),
                    _hex(row.tag),
                    row.model_id,
                    row.version,
                    row.budget,
                    row.round_deadline,
                    row.proof_deadline,
                    row.ack_signer,
                    row.encryption_key.hex(),
                    OPEN,
                    time.time(),
                    row.claimed_rounds,
                    row.max_rounds,
                ),
            )
            if row.max_rounds:
                db.execute(
                    "UPDATE assignments SET max_rounds=? WHERE query=? AND part=? AND node=? "
                    "AND max_rounds=0",
                    (row.max_rounds, row.query.hex(), row.part, row.node.lower()),
                )

    def clear_claim_tx(self, query: bytes, part: int, node: str) -> None:
        """Forget the recorded claim transaction (it was mined, or waited for and resent)."""
        with self._write() as db:
            db.execute(
                "UPDATE assignments SET claim_tx=NULL WHERE query=? AND part=? AND node=?",
                (query.hex(), part, node.lower()),
            )

    def set_claimed_rounds(self, query: bytes, part: int, node: str, rounds: int) -> None:
        """Record that the chain holds claims of rounds 1..`rounds` (never moves back)."""
        with self._write() as db:
            db.execute(
                "UPDATE assignments SET claimed_rounds=MAX(claimed_rounds, ?), updated=? "
                "WHERE query=? AND part=? AND node=?",
                (rounds, time.time(), query.hex(), part, node.lower()),
            )

    def assignment(self, query: bytes, part: int, node: str) -> AssignmentRow | None:
        with self._lock:
            found = self._db.execute(
                "SELECT * FROM assignments WHERE query=? AND part=? AND node=?",
                (query.hex(), part, node.lower()),
            ).fetchone()
        return None if found is None else _assignment(found)

    def assignments(self, states: Sequence[str] = (OPEN, CLAIMING)) -> list[AssignmentRow]:
        marks = ",".join("?" * len(states))
        with self._lock:
            rows = self._db.execute(
                # Only "?" placeholders are interpolated; the states are bound parameters.
                f"SELECT * FROM assignments WHERE state IN ({marks}) ORDER BY proof_deadline",  # noqa: S608
                tuple(states),
            ).fetchall()
        return [_assignment(r) for r in rows]

    def set_state(
        self,
        query: bytes,
        part: int,
        node: str,
        state: str,
        *,
        claim_tx: str | None = None,
        detail: str | None = None,
    ) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE assignments SET state=?, claim_tx=COALESCE(?, claim_tx), detail=?, "
                "updated=? WHERE query=? AND part=? AND node=?",
                (state, claim_tx, detail, time.time(), query.hex(), part, node.lower()),
            )

    # -- rounds ---------------------------------------------------------------------------------

    def rounds(self, query: bytes, part: int, node: str) -> list[RoundRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT round, block, commitment, input_transcript, prev_output_transcript, "
                "output_transcript, signature, share, mask, salt, outputs, ack FROM rounds "
                "WHERE query=? AND part=? AND node=? ORDER BY round",
                (query.hex(), part, node.lower()),
            ).fetchall()
        return [
            RoundRow(
                round=int(r[0]),
                block=int(r[1]),
                commitment=int(r[2], 16),
                input_transcript=int(r[3], 16),
                prev_output_transcript=int(r[4], 16),
                output_transcript=int(r[5], 16),
                signature=bytes.fromhex(r[6]),
                share=_ints(r[7]),
                mask=_ints(r[8]),
                salt=int(r[9], 16),
                outputs=_ints(r[10]),
                ack=bytes.fromhex(r[11]),
            )
            for r in rows
        ]

    def commitment_served(self, commitment: int) -> bool:
        with self._lock:
            found = self._db.execute(
                "SELECT 1 FROM commitments WHERE commitment=?", (_hex(commitment),)
            ).fetchone()
        return found is not None

    def prompt(
        self, query: bytes, part: int, node: str
    ) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]] | None:
        """(part 0's nodes, the prompt's commitment rows) stored with round 1, or None."""
        with self._lock:
            found = self._db.execute(
                "SELECT nodes, rows FROM prompts WHERE query=? AND part=? AND node=?",
                (query.hex(), part, node.lower()),
            ).fetchone()
        if found is None:
            return None
        rows = tuple(tuple(int(c, 16) for c in row) for row in json.loads(found[1]))
        return tuple(json.loads(found[0])), rows

    def record_round(
        self,
        query: bytes,
        part: int,
        node: str,
        row: RoundRow,
        prompt: tuple[Sequence[str], Sequence[Sequence[int]]] | None = None,
    ) -> None:
        """Store a served round and its commitment in one transaction (`StoreConflictError` if
        either is there already, or the round is not the next one), with round 1's prompt
        commitments if it carried them."""
        node = node.lower()
        with self._write() as db:
            state = db.execute(
                "SELECT state FROM assignments WHERE query=? AND part=? AND node=?",
                (query.hex(), part, node),
            ).fetchone()
            if state is not None and state[0] != OPEN:
                # A claim has started (it reads the rounds after marking the assignment): a round
                # stored now would be acknowledged but not proven.
                raise StoreConflictError(f"the assignment is being claimed ({state[0]})")
            (last,) = db.execute(
                "SELECT COALESCE(MAX(round), 0) FROM rounds WHERE query=? AND part=? AND node=?",
                (query.hex(), part, node),
            ).fetchone()
            if row.round != int(last) + 1:
                raise StoreConflictError(
                    f"round {row.round} is not the next round (the last served is {last})"
                )
            try:
                db.execute(
                    "INSERT INTO commitments (commitment, query, part, node, round) "
                    "VALUES (?,?,?,?,?)",
                    (_hex(row.commitment), query.hex(), part, node, row.round),
                )
                db.execute(
                    "INSERT INTO rounds VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        query.hex(),
                        part,
                        node,
                        row.round,
                        row.block,
                        _hex(row.commitment),
                        _hex(row.input_transcript),
                        _hex(row.prev_output_transcript),
                        _hex(row.output_transcript),
                        row.signature.hex(),
                        _json_ints(row.share),
                        _json_ints(row.mask),
                        _hex(row.salt),
                        _json_ints(row.outputs),
                        row.ack.hex(),
                        time.time(),
                    ),
                )
                if prompt is not None:
                    nodes, rows = prompt
                    db.execute(
                        "INSERT INTO prompts VALUES (?,?,?,?,?)",
                        (
                            query.hex(),
                            part,
                            node,
                            json.dumps(list(nodes)),
                            json.dumps([[_hex(c) for c in r] for r in rows]),
                        ),
                    )
            except sqlite3.IntegrityError as exc:
                raise StoreConflictError(f"round or commitment stored before: {exc}") from exc

    # -- prove times ----------------------------------------------------------------------------

    def record_prove_time(self, model_id: int, version: int, part: int, seconds: float) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO prove_times VALUES (?,?,?,?,?)",
                (model_id, version, part, seconds, time.time()),
            )

    def prove_time(self, model_id: int, version: int, part: int) -> float | None:
        with self._lock:
            found = self._db.execute(
                "SELECT seconds FROM prove_times WHERE model_id=? AND version=? AND part=?",
                (model_id, version, part),
            ).fetchone()
        return None if found is None else float(found[0])


def _assignment(r: sqlite3.Row | tuple[object, ...]) -> AssignmentRow:
    (q, part, node, tag, model_id, version, budget, t_r, t_p, ack, key, state, tx, detail) = r[:14]
    claimed_rounds, max_rounds = r[15], r[16]
    return AssignmentRow(
        query=bytes.fromhex(str(q)),
        part=int(str(part)),
        node=str(node),
        tag=int(str(tag), 16),
        model_id=int(str(model_id)),
        version=int(str(version)),
        budget=int(str(budget)),
        round_deadline=int(str(t_r)),
        proof_deadline=int(str(t_p)),
        ack_signer=str(ack),
        encryption_key=bytes.fromhex(str(key)),
        state=str(state),
        claim_tx=None if tx is None else str(tx),
        detail=None if detail is None else str(detail),
        claimed_rounds=int(str(claimed_rounds)),
        max_rounds=int(str(max_rounds)),
    )
