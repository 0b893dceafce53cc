"""Typed dependencies of the routes: a database session, pagination, the app's state."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from zkai.api.indexer import Indexer, IndexerStatus
from zkai.chain.client import Deployment
from zkai.config import Settings

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
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def status(self) -> IndexerStatus:
        return self.indexer.status if self.indexer is not None else IndexerStatus()


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.zkai
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
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
