from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from zkai.api import repository
from zkai.api.deps import MAX_ID, PageDep, SessionDep, StateDep
from zkai.api.schemas import (
    ADDRESS_PATTERN,
    Page,
    QueryDetail,
    QueryIdPath,
    QueryOut,
    QueryStatus,
    not_found,
)
from zkai.models.store import ManifestStore

router = APIRouter(prefix="/api/queries", tags=["queries"])


@router.get("", summary="Queries, newest first: status, escrow, credits, refund, gas, latency")
def list_queries(
    session: SessionDep,
    state: StateDep,
    page: PageDep,
    user: Annotated[
        str | None, Query(pattern=ADDRESS_PATTERN, description="Only this user's queries.")
    ] = None,
    model_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    node: Annotated[
        str | None,
        Query(pattern=ADDRESS_PATTERN, description="Only queries with an assignment to this node."),
    ] = None,
    status: QueryStatus | None = None,
) -> Page[QueryOut]:
    return repository.list_queries(
        session,
        page.limit,
        page.offset,
        user=user,
        model_id=model_id,
        node=node,
        status=status,
        manifests=ManifestStore(state.settings.manifests_path),
    )


@router.get(
    "/{query_id}",
    responses=not_found("No such query."),
    summary="A query with its assignments: part, node, budget, price, claim, credit, slash",
)
def get_query(session: SessionDep, state: StateDep, query_id: QueryIdPath) -> QueryDetail:
    return repository.get_query(
        session, query_id, manifests=ManifestStore(state.settings.manifests_path)
    )
