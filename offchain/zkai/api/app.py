"""The API service: `create_app(settings)` builds the FastAPI app, its index database (migrated with
Alembic at start-up) and, unless disabled, the indexer thread that follows the chain.

Built for a crowd of readers and one writer: routes read through a pool of `ZKAI_API_THREADS`
connections (and as many in reserve) used by as many worker threads, sessions are closed on the
event loop (`zkai.api.deps.get_session`), the dashboard's aggregates are cached for a moment
(`zkai.api.cache`), and the indexer writes through connections of its own, so readers never
starve it (SQLite in WAL mode: readers and the writer do not block each other)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
import kombu.exceptions
import redis
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from zkai import __version__
from zkai.api import migrate
from zkai.api.cache import AggregateCache
from zkai.api.db import is_memory_sqlite, make_engine, make_sessionmaker
from zkai.api.deps import ApiState
from zkai.api.indexer import Indexer
from zkai.api.limits import BodySizeLimit
from zkai.api.routers import contributors, manifests, models, network, nodes, queries, training
from zkai.chain.client import ChainClient, Deployment, deployment_path
from zkai.config import Settings
from zkai.errors import ChainError, NotIndexedError, UpdateRejectedError, ZKAIError

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"

DESCRIPTION = """View of the ZKAI network, indexed from the contracts' events: models, nodes,
queries, contributor rewards, the token; model manifests by hash; and the encrypted-training
rounds, to which contributors upload signed CKKS-encrypted updates. Amounts are wei as decimal
strings (with the token amount beside them). No endpoint moves funds or needs a key."""


def create_app(
    settings: Settings,
    *,
    deployment: Deployment | None = None,
    run_indexer: bool = True,
) -> FastAPI:
    """The API for `settings` (database, RPC, network); `deployment` overrides the record file."""
    deployment = deployment or Deployment.load(deployment_path(settings.network))
    url = settings.index_database_url
    threads = settings.api_threads
    engine = make_engine(url, pool_size=threads, max_overflow=threads)
    # One engine when the database lives in memory (a second would be another database).
    writer = engine if is_memory_sqlite(url) else make_engine(url, pool_size=1, max_overflow=2)
    sessions = make_sessionmaker(engine)
    client = ChainClient(settings.rpc_url, deployment, request_timeout=10.0)
    indexer = Indexer(
        client, make_sessionmaker(writer), distributions_dir=settings.reward_distributions_dir
    )
    state = ApiState(
        settings,
        deployment,
        engine,
        sessions,
        indexer,
        cache=AggregateCache(settings.api_cache_ttl_s),
        indexer_engine=writer,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        prepare_index(state)
        if run_indexer:
            state.thread = threading.Thread(
                target=indexer.run,
                args=(state.stop, settings.index_poll_interval),
                name="zkai-indexer",
                daemon=True,
            )
            state.thread.start()
        try:
            yield
        finally:
            state.stop.set()
            if state.thread is not None:
                state.thread.join(timeout=30)
            engine.dispose()
            writer.dispose()

    app = FastAPI(
        title="ZKAI network API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.zkai = state
    app.add_middleware(BodySizeLimit)

    @app.exception_handler(NotIndexedError)
    async def not_found(request: Request, exc: NotIndexedError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(ChainError)
    async def chain_unavailable(request: Request, exc: ChainError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.exception_handler(UpdateRejectedError)
    async def update_rejected(request: Request, exc: UpdateRejectedError) -> JSONResponse:
        return training.rejection_response(exc)

    @app.exception_handler(redis.RedisError)
    async def round_store_unavailable(request: Request, exc: redis.RedisError) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": f"the training round store (Redis) does not answer: {exc}"},
        )

    @app.exception_handler(kombu.exceptions.OperationalError)
    async def queue_unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": f"the aggregation queue does not answer: {exc}; retry later"},
        )

    @app.exception_handler(ZKAIError)
    async def domain_error(request: Request, exc: ZKAIError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    for module in (models, manifests, nodes, queries, contributors, training, network):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def prepare_index(state: ApiState) -> None:
    """Migrate the index and check it belongs to the chain: an index of another deployment is
    emptied, one of another chain with the same addresses refused (`IndexMismatchError`). When
    the RPC does not answer yet, the indexer checks the chain at its first contact."""
    indexer = state.indexer
    migrate.upgrade(state.indexer_engine or state.engine)
    if indexer is None:
        return
    indexer.cursor()  # resets the index if it belongs to another chain or deployment
    with contextlib.suppress(ChainError):
        indexer.check_genesis(attempts=1)  # one try: a start-up never waits for the RPC
