from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from zkai.api import db, repository
from zkai.api.deps import SessionDep, StateDep
from zkai.api.schemas import (
    AccountOut,
    AddressPath,
    Health,
    NetworkStats,
    TimeSeries,
    TokenOut,
    not_found,
)

router = APIRouter(prefix="/api", tags=["network"])
STREAM_SECONDS = 300.0
"""An event stream ends after this long; EventSource reconnects by itself."""


@router.get("/health", summary="Indexer progress and RPC status")
def health(state: StateDep) -> Health:
    status = state.status
    running = state.thread is not None and state.thread.is_alive()
    with state.sessions() as session:
        row = session.get(db.IndexerState, 1)
    return Health(
        status="ok" if status.rpc_ok and running else "degraded",
        chain_id=state.deployment.chain_id,
        indexed_block=None if row is None else row.last_block,
        head=status.head,
        rpc_ok=status.rpc_ok,
        last_error=status.last_error,
        indexer_running=running,
    )


@router.get("/stats", summary="Network totals")
def stats(session: SessionDep) -> NetworkStats:
    return repository.stats(session)


@router.get("/stats/timeseries", summary="Queries, fees and gas per verification over time")
def timeseries(
    session: SessionDep,
    bucket_seconds: Annotated[
        int | None, Query(ge=1, le=31_536_000, description="Bucket size; automatic if absent.")
    ] = None,
    buckets: Annotated[int, Query(ge=1, le=500, description="At most this many buckets.")] = 24,
) -> TimeSeries:
    return repository.timeseries(session, bucket_seconds, buckets)


@router.get("/token", summary="Token supply, treasury and where tokens sit")
def token(session: SessionDep, state: StateDep) -> TokenOut:
    return repository.token(session, state.deployment)


@router.get(
    "/accounts/{address}",
    responses=not_found("No activity for this address."),
    summary="Everything about one address: balance, node, contributor, queries",
)
def account(session: SessionDep, address: AddressPath) -> AccountOut:
    return repository.account(session, address)


@router.get(
    "/stream",
    summary="Server-sent events: `update` whenever new blocks were indexed",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(request: Request, state: StateDep) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        seen = -1
        waited = 0.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started < STREAM_SECONDS and not state.stop.is_set():
            status = state.status
            if status.version != seen:
                seen = status.version
                yield f"event: update\ndata: {json.dumps({'block': status.last_block})}\n\n"
                waited = 0.0
            elif waited >= 15:
                yield ": keep-alive\n\n"
                waited = 0.0
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.5)
            waited += 0.5

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
