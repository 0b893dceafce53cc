"""The `zkai` command line. Sub-commands are grouped by role (node, wallet, query, ...)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from zkai import __version__
from zkai.toolchain import check_tools

app = typer.Typer(
    name="zkai",
    help="ZKAI network: private, proven, paid machine-learning inference.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


@app.command()
def version() -> None:
    """Print the zkai version."""
    console.print(__version__)


@app.command()
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check the local toolchain (solc, anvil, node, redis-server) and say how to fix gaps."""
    statuses = check_tools()
    if as_json:
        typer.echo(json.dumps([{**s.__dict__, "ok": s.ok} for s in statuses]))
    else:
        table = Table("tool", "status", "version", "path / fix")
        for s in statuses:
            table.add_row(
                s.name,
                "[green]ok[/]" if s.ok else "[red]missing[/]",
                s.version or "-",
                s.path if s.ok and s.path else s.fix,
            )
        console.print(table)
    if not all(s.ok for s in statuses):
        raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
