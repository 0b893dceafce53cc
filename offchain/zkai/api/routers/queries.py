from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from zkai.api import repository
from zkai.api.deps import MAX_ID, PageDep, SessionDep
from zkai.api.schemas import ADDRESS_PATTERN, Page, QueryDetail, QueryOut, QueryStatus, not_found

router = APIRouter(prefix="/api/queries", tags=["queries"])


@router.get("", summary="Queries, newest first: status, shares, gas, latency")
def list_queries(
    session: SessionDep,
    page: PageDep,
    user: Annotated[
        str | None, Query(pattern=ADDRESS_PATTERN, description="Only this user's queries.")
    ] = None,
    model_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: QueryStatus | None = None,
) -> Page[QueryOut]:
    return repository.list_queries(
        session, page.limit, page.offset, user=user, model_id=model_id, status=status
    )


@router.get("/{query_id}", responses=not_found("No such query."))
def get_query(session: SessionDep, query_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> QueryDetail:
    return repository.get_query(session, query_id)
