from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from zkai.api import aggregates, db
from zkai.api.deps import ApiState, SessionDep, StateDep
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
_T = TypeVar("_T")
STREAM_SECONDS = 300.0
"""An event stream ends after this long; EventSource reconnects by itself."""


INDEXER_STALL_S = 120.0
"""An indexer loop that has not come round for this long is stuck: not running."""


def health_of(state: ApiState, now: float | None = None) -> tuple[Health, int]:
    """The health answer and its HTTP status: 503 when the indexer is not running (stopped,
    dead, stuck, or refused the index) or the index is more than `api_health_max_lag_blocks`
    behind the chain head; 200 otherwise ("degraded" while the RPC does not answer)."""
    status = state.status
    now = time.time() if now is None else now
    alive = state.thread is not None and state.thread.is_alive()
    beating = status.loop_beat == 0.0 or now - status.loop_beat < INDEXER_STALL_S
    running = alive and beating and status.refused is None
    with state.sessions() as session:
        row = session.get(db.IndexerState, 1)
    indexed = None if row is None else row.last_block
    behind = None if status.head is None or indexed is None else max(0, status.head - indexed)
    max_lag = state.settings.api_health_max_lag_blocks
    serving = running and (behind is None or behind <= max_lag)
    verdict: Literal["ok", "degraded", "unavailable"]
    verdict = "unavailable" if not serving else "ok" if status.rpc_ok else "degraded"
    health = Health(
        status=verdict,
        chain_id=state.deployment.chain_id,
        indexed_block=indexed,
        head=status.head,
        behind_blocks=behind,
        max_lag_blocks=max_lag,
        rpc_ok=status.rpc_ok,
        last_error=status.last_error,
        indexer_running=running,
        indexer_failures=status.failures,
    )
    return health, 200 if serving else 503


@router.get(
    "/health",
    summary="Indexer progress and RPC status",
    responses={503: {"model": Health, "description": "The index does not follow the chain."}},
)
def health(state: StateDep, response: Response) -> Health:
    body, code = health_of(state)
    response.status_code = code
    return body


def _read(state: ApiState, read: Callable[[Session], _T]) -> Callable[[], _T]:
    def run() -> _T:
        with state.sessions() as session:
            return read(session)

    return run


@router.get("/stats", summary="Network totals")
async def stats(state: StateDep) -> NetworkStats:
    return await state.cache.get("stats", state.status.version, _read(state, aggregates.stats))


@router.get("/stats/timeseries", summary="Queries, fees and gas per verification over time")
async def timeseries(
    state: StateDep,
    bucket_seconds: Annotated[
        int | None, Query(ge=1, le=31_536_000, description="Bucket size; automatic if absent.")
    ] = None,
    buckets: Annotated[int, Query(ge=1, le=500, description="At most this many buckets.")] = 24,
) -> TimeSeries:
    return await state.cache.get(
        ("timeseries", bucket_seconds, buckets),
        state.status.version,
        _read(state, lambda session: aggregates.timeseries(session, bucket_seconds, buckets)),
    )


@router.get("/token", summary="Token supply, treasury and where tokens sit")
async def token(state: StateDep) -> TokenOut:
    return await state.cache.get(
        "token",
        state.status.version,
        _read(state, lambda session: aggregates.token(session, state.deployment)),
    )


@router.get(
    "/accounts/{address}",
    responses=not_found("No activity for this address."),
    summary="Everything about one address: balance, node, contributor, queries",
)
def account(session: SessionDep, address: AddressPath) -> AccountOut:
    return aggregates.account(session, address)


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
