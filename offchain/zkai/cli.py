"""The `zkai` command line. Sub-commands are grouped by role (node, wallet, query, ...)."""

from __future__ import annotations

import json

import redis
import typer
from rich.console import Console
from rich.table import Table

from zkai import __version__
from zkai.api.cli import api as api_command
from zkai.bench.cli import bench as bench_command
from zkai.client.cli import generate, queries_app, query, wallet_app
from zkai.config import get_settings
from zkai.errors import ZKAIError
from zkai.localnet import cli as localnet_cli
from zkai.localnet_state import apply_local_network_env
from zkai.node.cli import node_app
from zkai.toolchain import check_tools
from zkai.training.cli import contribute_command, rewards_app, train_app

app = typer.Typer(
    name="zkai",
    help="ZKAI network: private, proven, paid machine-learning inference.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
app.command(name="api")(api_command)

app.add_typer(wallet_app, name="wallet")
app.add_typer(queries_app, name="queries")
app.add_typer(node_app, name="node")
app.add_typer(train_app, name="train")
app.add_typer(rewards_app, name="rewards")
app.command("contribute")(contribute_command)
app.command("query")(query)
app.command("generate", help=generate.__doc__)(generate)
app.command("up")(localnet_cli.up)
app.command("down")(localnet_cli.down)
app.command("status")(localnet_cli.status)
app.command("demo")(localnet_cli.demo)
app.command("bench")(bench_command)


@app.callback()
def main() -> None:
    """Commands find a running `zkai up` network by themselves (unless ZKAI_* says otherwise)."""
    apply_local_network_env()


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


def run() -> None:
    """The `zkai` entry point: a project error becomes one line on stderr and exit code 1."""
    try:
        app()
    except ZKAIError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        raise SystemExit(1) from None
    except redis.RedisError as exc:
        url = get_settings().redis_url
        Console(stderr=True).print(
            f"[bold red]error:[/] the Redis at {url} does not answer ({exc}); start it, or set "
            "ZKAI_REDIS_URL (a running `zkai up` network is found by itself)"
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    run()
