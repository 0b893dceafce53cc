"""`zkai bench`: the benchmark command (the work is in `zkai.bench.runner` and its sections)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from zkai.bench.options import BenchOptions
from zkai.errors import ZKAIError

_console = Console(stderr=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def summary_tables(results: dict[str, Any]) -> list[Table]:
    """The short summary printed on stderr."""
    models = Table(
        "model",
        "constraints",
        "prove ms (p50/p90)",
        "ezkl prove ms",
        "speed-up",
        "submitResult gas",
        "floor",
        "ratio",
        "ezkl verify gas",
        title="Groth16 per share vs ezkl",
    )
    for name, m in results.get("models", {}).items():
        g, e = m["groth16"], m.get("ezkl") or {}
        models.add_row(
            name,
            _fmt(g["constraints"]),
            f"{g['prove_ms_median']:.0f} / {g['prove_ms_p90']:.0f} ({g['witness_path']})",
            _fmt(e.get("prove_ms_median")),
            _fmt(results.get("ratios", {}).get(name, {}).get("ezkl_prove_over_groth16_prove")),
            _fmt(g.get("submit_result_gas")),
            _fmt(g["verify_gas_floor"]),
            _fmt(g.get("submit_result_gas_over_floor")),
            _fmt(e.get("verify_gas")),
        )
    reliability = Table("measurement", "result", title="crowds and crashes")
    for clients, level in ((results.get("api_load") or {}).get("levels") or {}).items():
        reliability.add_row(
            f"API, {clients} concurrent clients",
            f"{_fmt(level['requests_per_s'])} requests/s, p50 {_fmt(level['latency_ms_p50'])} ms, "
            f"p99 {_fmt(level['latency_ms_p99'])} ms, {level['server_errors']} server errors",
        )
    recovery = results.get("recovery") or {}
    for key in ("pool_process", "main_process"):
        if recovery.get(key):
            reliability.add_row(
                f"recovery, worker {key.replace('_', ' ')} killed",
                f"{_fmt(recovery[key]['recovery_s'])} s (deadline {recovery['deadline_s']} s)",
            )
    targets = Table("target", "wanted", "measured", "met", title="targets")
    for key, t in results.get("targets", {}).items():
        met = t["met"]
        mark = "-" if met is None else ("[green]yes[/]" if met else "[red]no[/]")
        targets.add_row(key, t["target"], _fmt(t["measured"]), mark)
    return [models, reliability, targets]


def bench(
    repeats: Annotated[int, typer.Option(help="Proofs timed per model.")] = 10,
    queries: Annotated[int, typer.Option(help="Sequential private queries for latency.")] = 10,
    users: Annotated[int, typer.Option(help="Concurrent users for throughput.")] = 4,
    out: Annotated[Path, typer.Option(help="Where to write the JSON results.")] = Path(
        "bench-results.json"
    ),
    quick: Annotated[
        bool, typer.Option(help="Smoke run: fewer repeats and queries, no scaling or training.")
    ] = False,
    full: Annotated[bool, typer.Option(help="Also scale to 4096 inputs.")] = False,
    skip_e2e: Annotated[bool, typer.Option(help="No latency/throughput on the network.")] = False,
    skip_ezkl: Annotated[bool, typer.Option(help="No ezkl baseline.")] = False,
) -> None:
    """Benchmark Groth16 shares, ezkl, plaintext, gas, a local network, training, scaling."""
    options = BenchOptions(
        repeats=repeats,
        queries=queries,
        users=users,
        full=full,
        skip_e2e=skip_e2e,
        skip_ezkl=skip_ezkl,
    )
    if quick:
        options = replace(options, quick=True, repeats=min(repeats, 3), queries=min(queries, 3))
    if options.repeats < 1 or options.queries < 1 or options.users < 1:
        raise typer.BadParameter("--repeats, --queries and --users must be at least 1")
    try:
        from zkai.bench.runner import main_progress, run_bench  # heavy: only when benchmarking

        results = run_bench(options, main_progress)
    except ZKAIError as exc:
        _console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    text = json.dumps(results, indent=2)
    out.write_text(text + "\n")
    for table in summary_tables(results):
        _console.print(table)
    _console.print(f"results written to {out}")
    typer.echo(text)
