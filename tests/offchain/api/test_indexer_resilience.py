"""The indexer through an RPC that goes away and comes back (a TCP relay in front of anvil that
the test stops and restarts), and the Alembic migrations against the models."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from urllib.parse import urlparse

import pytest
import sqlalchemy.exc
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from zkai.api import db, migrate
from zkai.api.indexer import Indexer
from zkai.chain.client import ChainClient
from zkai.devservices import free_port
from zkai.errors import IndexMismatchError

from .conftest import wait_for


class Relay:
    """Forwards 127.0.0.1:<port> to the RPC; `stop()` drops the listener and every connection."""

    def __init__(self, target: str) -> None:
        parsed = urlparse(target)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            self._listener.close()
            self._listener = None
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self._sockets.clear()


def test_indexer_rpc_down_then_back_catches_up(network, chain, tmp_path):
    relay = Relay(chain.provider.uri)
    relay.start()
    engine = db.make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    indexer = Indexer(ChainClient(relay.url, network.deployment(), request_timeout=2), sessions)
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run, args=(stop, 0.1), daemon=True)
    thread.start()
    try:
        wait_for(lambda: indexer.status.last_block == chain.blocks.head.number, what="first sync")
        relay.stop()
        network.request(chain)
        time.sleep(1.5)  # the indexer's polls are refused meanwhile
        assert indexer.status.last_block < chain.blocks.head.number
        relay.start()
        wait_for(
            lambda: indexer.status.last_block == chain.blocks.head.number,
            timeout=40,
            what="catch-up after the RPC came back",
        )
        assert thread.is_alive()
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(db.Query)) == 4
    finally:
        stop.set()
        relay.stop()
        thread.join(timeout=30)
        engine.dispose()


def test_indexer_run_unexpected_error_is_logged_and_resumed(network, chain, tmp_path, caplog):
    """The incident: the readers exhausted the pool and the indexer thread died of the pool's
    timeout (not a ChainError), silently. Now it logs the error and carries on."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    indexer = Indexer(ChainClient(chain.provider.uri, network.deployment()), sessions)
    apply = indexer._apply
    injected = [sqlalchemy.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached")]

    def flaky_apply(*args):
        if injected:
            raise injected.pop()
        return apply(*args)

    indexer._apply = flaky_apply
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run, args=(stop, 0.05), daemon=True)
    with caplog.at_level("ERROR", logger="zkai.api.indexer"):
        thread.start()
        try:
            wait_for(
                lambda: indexer.status.last_block == chain.blocks.head.number,
                what="indexing after the error",
            )
            assert thread.is_alive()
        finally:
            stop.set()
            thread.join(timeout=30)
            engine.dispose()
    assert indexer.status.failures == 1
    (record,) = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert record.exc_info is not None, "logged with its traceback"


def test_indexer_index_of_a_reset_chain_is_refused(network, chain, tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    indexer = Indexer(ChainClient(chain.provider.uri, network.deployment()), sessions)
    indexer.sync_once()
    with sessions.begin() as session:  # as if built from an earlier chain, same addresses
        session.get(db.ChainParameter, "genesis").value = "0x" + "ab" * 32
    fresh = Indexer(ChainClient(chain.provider.uri, network.deployment()), sessions)
    with pytest.raises(IndexMismatchError, match=r"another chain.*delete .*index\.db"):
        fresh.sync_once()
    stop = threading.Event()
    fresh.run(stop, 0.05)  # returns: the loop stops on a refused index
    assert fresh.status.refused is not None
    engine.dispose()


def test_migrations_match_models(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'nested' / 'index.db'}")
    migrate.upgrade(engine)
    migrate.upgrade(engine)  # idempotent
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.Base.metadata) == []
    engine.dispose()


def test_migrations_v1_index_upgraded_to_v2_is_rebuilt_from_the_start(tmp_path):
    """A v1 index (0001, with a cursor and v1 query rows) upgraded to 0002: the v1 market tables
    are replaced and the cursor removed, so the indexer starts over from the deployment."""
    url = f"sqlite:///{tmp_path / 'index.db'}"
    config = migrate.alembic_config(url)
    command.upgrade(config, "0001")
    engine = db.make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO indexer_state (id, chain_id, last_block, last_block_time) "
                "VALUES (1, 31337, 500, 1)"
            )
        )
        connection.execute(
            text("INSERT INTO chain_parameters (key, value) VALUES ('deployment', 'v1')")
        )
        connection.execute(
            text(
                "INSERT INTO queries VALUES (7, 1, 1, '0x" + "11" * 20 + "', '3', 9, 3, '1', "
                "'0', '0', 1, 1, '0x" + "22" * 32 + "', 0, 0, 0, 0, '0', NULL)"
            )
        )
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert inspect(connection).has_table("assignments")
        assert not inspect(connection).has_table("shares")
        assert connection.execute(text("SELECT count(*) FROM indexer_state")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM queries")).scalar() == 0
        columns = {c["name"]: c for c in inspect(connection).get_columns("queries")}
        assert str(columns["query_id"]["type"]) == "VARCHAR(66)"
    command.downgrade(config, "0001")
    with engine.connect() as connection:
        assert inspect(connection).has_table("shares")
        assert not inspect(connection).has_table("assignments")
    command.upgrade(config, "head")
    engine.dispose()


def _slashed_rows(connection) -> list[tuple[object, ...]]:
    return list(
        connection.execute(
            text(
                "SELECT query_id, part, node, slash_evidence FROM assignments "
                "WHERE slash_tx IS NOT NULL"
            )
        )
    )


def test_migrations_0003_index_with_slashes_is_rebuilt_and_gets_their_acks(
    network, chain, tmp_path
):
    """An index built before 0003 (its slashes without evidence) upgraded to 0003: its cursor is
    removed, so the indexer rebuilds it from the deployment and reads each slash's Ack from the
    chain. Downgrading to 0002 drops the evidence again."""
    url = f"sqlite:///{tmp_path / 'index.db'}"
    config = migrate.alembic_config(url)
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    Indexer(ChainClient(chain.provider.uri, network.deployment()), sessions).sync_once()
    with engine.connect() as connection:
        (slashed,) = _slashed_rows(connection)
        acks = connection.execute(text("SELECT signer FROM slash_acks")).scalars().all()
    assert slashed[3] == "ack"
    assert acks == [network.ack_signers[1].address]

    command.downgrade(config, "0002")  # the index as 0002 left it: slashes, no evidence
    with engine.connect() as connection:
        assert not inspect(connection).has_table("slash_acks")
        columns = {c["name"] for c in inspect(connection).get_columns("assignments")}
        assert "slash_evidence" not in columns
        assert connection.execute(text("SELECT count(*) FROM indexer_state")).scalar() == 1
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM indexer_state")).scalar() == 0
        assert [row[3] for row in _slashed_rows(connection)] == [None]
    Indexer(ChainClient(chain.provider.uri, network.deployment()), sessions).sync_once()
    with engine.connect() as connection:
        assert _slashed_rows(connection) == [slashed]
        rebuilt = connection.execute(text("SELECT signer FROM slash_acks")).scalars().all()
        assert rebuilt == acks
        assert connection.execute(text("SELECT count(*) FROM indexer_state")).scalar() == 1
    engine.dispose()


def test_migrations_0003_index_without_slashes_keeps_its_cursor(tmp_path):
    url = f"sqlite:///{tmp_path / 'index.db'}"
    config = migrate.alembic_config(url)
    command.upgrade(config, "0002")
    engine = db.make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO indexer_state (id, chain_id, last_block, last_block_time) "
                "VALUES (1, 31337, 42, 7)"
            )
        )
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT last_block FROM indexer_state")).scalar() == 42
        assert inspect(connection).has_table("slash_acks")
    engine.dispose()


def _chunk_columns(connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    assignments = connection.execute(
        text(
            "SELECT query_id, part, node, claims, finalised FROM assignments "
            "ORDER BY query_id, part, node"
        )
    )
    queries = connection.execute(
        text("SELECT query_id, claimed_count, finalised_count FROM queries ORDER BY query_id")
    )
    return [tuple(r) for r in assignments], [tuple(r) for r in queries]


def test_migrations_0004_index_of_whole_claims_is_upgraded_in_place(network, chain, tmp_path):
    """An index built before 0004 (every claim a whole claim) upgraded to 0004 keeps its cursor:
    each claimed assignment gets one claim and is finalised, each query's finalised count is its
    claimed count, and each part's max budget is its max rounds (no chunked part existed then)."""
    url = f"sqlite:///{tmp_path / 'index.db'}"
    config = migrate.alembic_config(url)
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    Indexer(ChainClient(chain.provider.uri, network.deployment()), sessions).sync_once()
    with engine.connect() as connection:
        assignments, queries = _chunk_columns(connection)
    # the scenario's claims are whole claims (part 0's R_max 4 > its budget 3)
    assert {(claims, bool(final)) for *_, claims, final in assignments} == {(0, False), (1, True)}
    assert all(claimed == final for _, claimed, final in queries)

    command.downgrade(config, "0003")
    with engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("assignments")}
        assert not {"claims", "finalised"} & columns
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM indexer_state")).scalar() == 1
        assert _chunk_columns(connection) == (assignments, queries)
        budgets = connection.execute(text("SELECT max_rounds, max_budget FROM model_parts"))
        assert all(rounds == budget for rounds, budget in budgets)
    engine.dispose()
