"""Running the API in the foreground (`zkai api`); `zkai up` runs that command in the background."""

from __future__ import annotations

import uvicorn

from zkai.api.app import create_app, prepare_index
from zkai.config import Settings, api_url_for, get_settings


def serve(settings: Settings | None = None, *, run_indexer: bool = True) -> None:
    """Run the API and its indexer until interrupted (blocking)."""
    settings = settings or get_settings()
    app = create_app(settings, run_indexer=run_indexer)
    prepare_index(app.state.zkai)  # an index of another chain is refused here, with the fix
    url = api_url(settings)
    print(f"dashboard at {url}/  (API docs at {url}/docs)", flush=True)
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        timeout_graceful_shutdown=3,
    )


def api_url(settings: Settings) -> str:
    """Where the API started with `settings` answers on this machine (a wildcard address is
    reached on the loopback)."""
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host  # noqa: S104
    return api_url_for(host, settings.api_port)
