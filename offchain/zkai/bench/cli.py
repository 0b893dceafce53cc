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
    parts = Table(
        "model / part",
        "R_max",
        "constraints",
        "prove ms (p50/p90)",
        "verify ms",
        "ezkl prove ms",
        "speed-up",
        title="Groth16 part circuits vs ezkl",
    )
    for name, m in results.get("models", {}).items():
        e = m.get("ezkl") or {}
        speedup = results.get("ratios", {}).get(name, {}).get("ezkl_prove_over_groth16_prove")
        for p in m.get("parts", []):
            parts.add_row(
                f"{name} / {p['part']}",
                _fmt(p["rounds_max"]),
                _fmt(p["constraints"]),
                f"{p['prove_ms_median']:.0f} / {p['prove_ms_p90']:.0f} ({p['witness_path']})",
                _fmt(p["verify_offchain_ms_median"]),
                _fmt(e.get("prove_ms_median")) if p["part"] == 0 else "",
                _fmt(speedup) if p["part"] == 0 else "",
            )
    gas = Table("transaction", "gas", title="gas (anvil)")
    g = results.get("gas") or {}
    for key in (
        "request_query_gas_1_part",
        "request_query_gas_2_parts",
        "claim_gas_median",
        "floor_verify_proof_gas",
        "claim_over_floor",
        "settle_gas_all_claimed",
        "settle_after_deadline_gas",
        "slash_gas",
    ):
        gas.add_row(key, _fmt(g.get(key)))
    e2e = Table("model", "answer s (p50/p90)", "proofs s (p50/p90)", "gas", title="e2e")
    for name, m in ((results.get("e2e") or {}).get("models") or {}).items():
        e2e.add_row(
            name,
            f"{_fmt(m['answer_s_median'])} / {_fmt(m['answer_s_p90'])}",
            f"{_fmt(m['proofs_s_median'])} / {_fmt(m['proofs_s_p90'])}",
            _fmt(m["eth_gas_per_query_median"]),
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
                f"claim mined {_fmt(recovery[key]['recovery_s'])} s after the kill",
            )
    for section, error in (results.get("errors") or {}).items():
        reliability.add_row(f"[red]{section} failed[/]", error[:120])
    lm_table = _lm_table(results.get("language_model") or {})
    validity = _validity_table(results.get("validity") or {})
    targets = Table("target", "wanted", "measured", "met", title="targets")
    for key, t in results.get("targets", {}).items():
        met = t["met"]
        mark = "-" if met is None else ("[green]yes[/]" if met else "[red]no[/]")
        targets.add_row(key, t["target"], _fmt(t["measured"]), mark)
    return [parts, gas, validity, e2e, reliability, lm_table, targets]


def _validity_table(validity: dict[str, Any]) -> Table:
    """The user's validity proof per model and per input length (issue 17)."""
    table = Table(
        "rule",
        "constraints",
        "python prove ms",
        "snarkjs s (fullProve / wall)",
        "verifyProof gas",
        title=f"validity proof (k = {validity.get('shares', '-')})",
    )
    rows = [(name, m) for name, m in (validity.get("models") or {}).items()]
    rows += [
        (f"ranges x {r['input_size']}", r) for r in (validity.get("growth") or {}).get("rows", [])
    ]
    for name, m in rows:
        table.add_row(
            name,
            _fmt(m.get("constraints")),
            _fmt(m.get("python_prove_ms_median")),
            f"{_fmt(m.get('snarkjs_fullprove_s_median'))} / {_fmt(m.get('snarkjs_wall_s_median'))}",
            _fmt((m.get("gas") or {}).get("verify_proof_gas")),
        )
    return table


def _lm_table(lm: dict[str, Any]) -> Table:
    """The language model's figures side by side."""
    plan = lm.get("plan") or {}
    table = Table(
        "measurement",
        "value",
        title=f"language model {lm.get('model', '')} ({plan.get('new_tokens', '-')} tokens after "
        f"{plan.get('prompt', '')!r})",
    )
    plain = lm.get("plaintext") or {}
    table.add_row("plaintext ms/token (quantised)", _fmt(plain.get("quantised_ms_per_token")))
    table.add_row("plaintext ms/token (float)", _fmt(plain.get("float_reference_ms_per_token")))
    circuits = lm.get("circuits") or {}
    for p in circuits.get("parts") or []:
        table.add_row(
            f"part {p['part']}: chunk of {p['rounds_max']} slots",
            f"{_fmt(p['constraints'])} constraints, prove {_fmt(p['chunk_prove_ms_median'])} ms",
        )
    derived = circuits.get("generation_derived") or {}
    table.add_row(
        "prover ms/token (derived, one node per part)",
        _fmt(derived.get("prove_ms_per_token_one_node_per_part")),
    )
    for name, c in ((lm.get("ezkl") or {}).get("configs") or {}).items():
        table.add_row(
            f"ezkl one token ({name})",
            f"prove {_fmt(c['prove_ms_median'])} ms, logrows {c['logrows']}",
        )
    e2e = lm.get("e2e") or {}
    table.add_row("tokens/s streamed", _fmt(e2e.get("tokens_per_s_median")))
    table.add_row("proofs after last token s", _fmt(e2e.get("proofs_after_last_token_s_max")))
    ratios = lm.get("ratios") or {}
    table.add_row(
        "gas per query / per token",
        f"{_fmt(e2e.get('gas_per_query_median'))} / {_fmt(e2e.get('gas_per_token_median'))}"
        if e2e
        else f"{_fmt(ratios.get('gas_per_query_derived'))} / "
        f"{_fmt(ratios.get('gas_per_token_derived'))} (derived)",
    )
    table.add_row(
        "ezkl / our prover time per token", _fmt(ratios.get("ezkl_over_prover_per_token"))
    )
    return table


def bench(
    repeats: Annotated[int, typer.Option(help="Proofs timed per part.")] = 10,
    queries: Annotated[int, typer.Option(help="Sequential private queries per model.")] = 10,
    users: Annotated[int, typer.Option(help="Concurrent users for throughput.")] = 4,
    out: Annotated[Path, typer.Option(help="Where to write the JSON results.")] = Path(
        "bench-results.json"
    ),
    quick: Annotated[
        bool, typer.Option(help="Smoke run: fewer repeats, queries and rounds; no training.")
    ] = False,
    skip_gas: Annotated[bool, typer.Option(help="No gas section (its own anvil).")] = False,
    skip_e2e: Annotated[bool, typer.Option(help="No latency/throughput on `zkai up`.")] = False,
    skip_ezkl: Annotated[bool, typer.Option(help="No ezkl baseline.")] = False,
    skip_reliability: Annotated[
        bool, typer.Option(help="No API load or worker-crash recovery.")
    ] = False,
) -> None:
    """Benchmark v2 part circuits, ezkl, plaintext and run_local, gas, `zkai up` end to end."""
    options = BenchOptions(
        repeats=repeats,
        queries=queries,
        users=users,
        skip_gas=skip_gas,
        skip_e2e=skip_e2e,
        skip_ezkl=skip_ezkl,
        skip_reliability=skip_reliability,
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
