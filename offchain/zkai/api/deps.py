"""Typed dependencies of the routes: a database session, pagination, the app's state."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import redis
from fastapi import Depends, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from zkai.api.cache import AggregateCache
from zkai.api.indexer import Indexer, IndexerStatus
from zkai.chain.client import Deployment
from zkai.config import Settings
from zkai.training.store import RoundStore

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000_000
MAX_ID = 2**63 - 1
"""Ids above this cannot be in the index (SQL integers are 64-bit)."""


@dataclass
class ApiState:
    settings: Settings
    deployment: Deployment
    engine: Engine
    sessions: sessionmaker[Session]
    indexer: Indexer | None
    cache: AggregateCache = field(default_factory=lambda: AggregateCache(0.0))
    indexer_engine: Engine | None = None
    """The indexer's own connections (the one writer), apart from the readers' pool."""
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    _rounds: RoundStore | None = None
    _training_celery: Any = None

    @property
    def status(self) -> IndexerStatus:
        return self.indexer.status if self.indexer is not None else IndexerStatus()

    @property
    def rounds(self) -> RoundStore:
        """The training rounds (Redis at `redis_url`), connected on first use."""
        if self._rounds is None:
            self._rounds = RoundStore(
                redis.Redis.from_url(
                    self.settings.redis_url, socket_connect_timeout=2, socket_timeout=10
                )
            )
        return self._rounds

    @property
    def training_celery(self) -> Any:
        """The aggregation workers' Celery app, for handing them uploaded updates."""
        if self._training_celery is None:
            from zkai.training.aggregate import create_app

            self._training_celery = create_app(self.settings)
        return self._training_celery


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.zkai
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[Session]:
    """A session for one request. Asynchronous on purpose: its closing runs on the event loop.
    A synchronous dependency is closed in a worker thread, so under a crowd every thread can
    be busy in a route waiting for a pool connection that only a closing (waiting for a thread)
    would return: the pool times out and requests fail. The session itself is used in the
    route's thread; it connects on its first query."""
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Pagination:
    limit: int
    offset: int


def get_pagination(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, 1 to 200.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> Pagination:
    return Pagination(limit, offset)


PageDep = Annotated[Pagination, Depends(get_pagination)]


def get_rounds(state: StateDep) -> RoundStore:
    return state.rounds


RoundsDep = Annotated[RoundStore, Depends(get_rounds)]
