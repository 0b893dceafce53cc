"""The indexer through an RPC that goes away and comes back (a TCP relay in front of anvil that
the test stops and restarts), and the Alembic migrations against the models."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from urllib.parse import urlparse

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from zkai.api import db, migrate
from zkai.api.indexer import Indexer
from zkai.chain.client import ChainClient
from zkai.devservices import free_port

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
            assert session.scalar(select(func.count()).select_from(db.Query)) == 3
    finally:
        stop.set()
        relay.stop()
        thread.join(timeout=30)
        engine.dispose()


def test_migrations_match_models(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'nested' / 'index.db'}")
    migrate.upgrade(engine)
    migrate.upgrade(engine)  # idempotent
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.Base.metadata) == []
    engine.dispose()
