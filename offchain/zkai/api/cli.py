"""`zkai api`: run the API and dashboard in the foreground."""

from __future__ import annotations

import typer

from zkai.config import get_settings
from zkai.errors import ZKAIError


def api(
    host: str = typer.Option(None, help="Interface to bind (default ZKAI_API_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default ZKAI_API_PORT, 8000).", min=1, max=65535),
    index: bool = typer.Option(True, help="Follow the chain (--no-index serves the index as is)."),
) -> None:
    """Serve the REST API (OpenAPI at /docs) and the dashboard (at /) on the chain's index."""
    from zkai.api.run import serve

    settings = get_settings()
    updates = {k: v for k, v in {"api_host": host, "api_port": port}.items() if v is not None}
    settings = settings.model_copy(update=updates)
    try:
        serve(settings, run_indexer=index)
    except ZKAIError as exc:
        typer.secho(str(exc), err=True, fg="red")
        raise typer.Exit(code=1) from exc
