"""`zkai up`, `zkai down`, `zkai status`, `zkai demo`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from zkai.cliutil import fail, out, say
from zkai.errors import ZKAIError
from zkai.localnet.demo import (
    DEMO_PROMPT,
    DEMO_TOKENS,
    LANGUAGE_MODEL,
    DemoGeneration,
    DemoQuery,
    DemoTraining,
    run_demo_generation,
    run_demo_queries,
    run_demo_training,
)
from zkai.localnet.network import LocalNetwork, UpOptions
from zkai.units import format_amount

NodesOpt = Annotated[int, typer.Option(help="Number of nodes to start (>= shares).")]
SharesOpt = Annotated[int, typer.Option(help="Shares k per query for the demo models.")]
RpcPortOpt = Annotated[int, typer.Option(help="Port for anvil.")]
ApiPortOpt = Annotated[int, typer.Option(help="Port for the API and dashboard.")]
NodePortOpt = Annotated[
    int, typer.Option(help="First port of the nodes' round endpoints (one port per node).")
]


def _options(nodes: int, shares: int, rpc_port: int, api_port: int, node_port: int) -> UpOptions:
    if nodes < shares:
        raise typer.BadParameter(f"--nodes ({nodes}) must be at least --shares ({shares})")
    return UpOptions(
        nodes=nodes, shares=shares, rpc_port=rpc_port, api_port=api_port, node_port=node_port
    )


def _print_up(status: dict[str, Any]) -> None:
    endpoints = status.get("endpoints", {})
    table = Table("service", "endpoint / pid", title="local ZKAI network")
    for name, url in endpoints.items():
        table.add_row(name, url)
    for p in status.get("processes", []):
        state = "running" if p["running"] else "stopped"
        if p.get("orphans"):
            state += ", left running: pid " + ", ".join(str(pid) for pid in p["orphans"])
        table.add_row(p["name"], f"pid {p['pid']} ({state})")
    out.print(table)
    if status.get("orphans"):
        out.print(
            "[yellow]processes of a stopped service are still running[/]: `zkai down` stops them"
        )
    if status.get("demo_wallet"):
        out.print(
            f"demo wallet: {status['demo_wallet']} (anvil test account; `zkai query` uses it)"
        )
    if status.get("models"):
        out.print("models: " + ", ".join(f"{n} (id {i})" for n, i in status["models"].items()))
    out.print("stop everything with: zkai down")


def up(
    nodes: NodesOpt = 4,
    shares: SharesOpt = 2,
    rpc_port: RpcPortOpt = 8545,
    api_port: ApiPortOpt = 8000,
    node_port: NodePortOpt = 9100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Start a local network in the background: anvil, Redis, contracts, models, nodes, API."""
    try:
        status = LocalNetwork(say=say).up(_options(nodes, shares, rpc_port, api_port, node_port))
    except ZKAIError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(status))
    else:
        _print_up(status)


def down() -> None:
    """Stop exactly what `zkai up` started (whole process groups: orphans too)."""
    stopped = LocalNetwork().down()
    out.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What the local network runs, and where."""
    current = LocalNetwork().status()
    if as_json:
        typer.echo(json.dumps(current))
    elif not current["processes"]:
        out.print("no local network (start one with `zkai up`)")
    else:
        _print_up(current)


def demo(
    samples: Annotated[int, typer.Option(help="Private queries per demo model.")] = 3,
    nodes: NodesOpt = 4,
    shares: SharesOpt = 2,
    rpc_port: RpcPortOpt = 8545,
    api_port: ApiPortOpt = 8000,
    node_port: NodePortOpt = 9100,
    training: Annotated[
        bool, typer.Option(help="Run the encrypted training round after the queries.")
    ] = True,
    generation: Annotated[
        bool, typer.Option(help="Generate text privately with tiny-lm after the queries.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """`zkai up`, private queries checked against the plaintext models, a private generation by
    the language model tiny-lm (its two parts on different nodes), then a training round.

    The round: three contributors upload CKKS-encrypted updates, the key holder decrypts only
    their sum and publishes version 2 of `digits`, which is queried, and the contributors
    claim their rewards.
    """
    network = LocalNetwork(say=say)
    try:
        status_now = network.up(_options(nodes, shares, rpc_port, api_port, node_port))
    except ZKAIError as exc:
        raise fail(str(exc)) from None
    if not as_json:
        _print_up(status_now)

    names = {a.lower(): n for n, a in dict(status_now.get("nodes", {})).items()}

    def show(q: DemoQuery) -> None:
        mark = "[green]ok[/]" if q.ok else f"[red]FAILED[/] {q.error or ''}"
        served = "; ".join(
            f"part {p} by " + ", ".join(names.get(a.lower(), a[:10]) for a in nodes)
            for p, nodes in sorted(q.served_by.items())
        )
        say(
            f"{q.model} #{q.sample}: answer {q.answer} (plaintext {q.expected}), "
            f"{served or 'no node'}, {q.latency_s:.2f} s {mark}"
        )

    try:
        report = run_demo_queries(samples, on_query=show)
        if generation:
            report.generation = _demo_generation(names, streamed=not as_json)
            report.seconds += report.generation.seconds
        if training:
            say("encrypted training round on digits with three contributors")
            report.training = run_demo_training(samples=min(samples, 2), say=say, on_query=show)
            report.seconds += report.training.seconds
    except ZKAIError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    else:
        table = Table(
            "model",
            "#",
            "answer",
            "exact",
            "proven",
            "nodes",
            "s: answer/all",
            "claim gas",
            title="private queries (exact = the plaintext quantised model's answer)",
        )
        for q in report.queries:
            table.add_row(
                q.model,
                str(q.sample),
                str(q.answer),
                "yes" if q.exact else f"[red]no[/] ({q.expected})",
                "yes" if q.verified else "[red]no[/]",
                f"{q.nodes} in {q.parts}",
                f"{q.answer_s:.1f}/{q.latency_s:.1f}",
                f"{max(q.claim_gas):,}" if q.claim_gas else (q.error or "-"),
            )
        out.print(table)
        out.print(
            f"{sum(q.ok for q in report.queries)}/{len(report.queries)} queries exact and verified."
        )
        if report.generation is not None:
            _print_generation(report.generation)
        if report.training is not None:
            _print_training(report.training)
        out.print(
            f"Done in {report.seconds:.1f} s. The network keeps running: `zkai down` stops it."
        )
    if not report.ok:
        raise typer.Exit(1)


def _demo_generation(names: dict[str, str], *, streamed: bool) -> DemoGeneration:
    say(
        f"{LANGUAGE_MODEL} writes {DEMO_TOKENS} characters after {DEMO_PROMPT!r}: the prompt "
        "is secret-shared, each part's nodes see only their shares, every chunk is proven"
    )
    if streamed:
        out.print(f"[bold]{DEMO_PROMPT}[/]", end="")

    def piece(text: str) -> None:
        if streamed:
            out.print(text, end="", markup=False, highlight=False)

    g = run_demo_generation(on_token=piece)
    if streamed:
        out.print()
    served = "; ".join(
        f"part {p} by " + ", ".join(names.get(a.lower(), a[:10]) for a in nodes)
        for p, nodes in sorted(g.served_by.items())
    )
    mark = "[green]ok[/]" if g.ok else f"[red]FAILED[/] {g.error or ''}"
    say(f"{g.model}: {served or 'no node'}, {g.seconds:.1f} s {mark}")
    return g


def _print_generation(g: DemoGeneration) -> None:
    rate = f"{g.tokens_per_s:.2f}" if g.tokens_per_s is not None else "-"
    after = (
        f"{g.proofs_after_last_token_s:.1f} s" if g.proofs_after_last_token_s is not None else "-"
    )
    out.print(
        f"{g.model}: {g.prompt!r} -> {g.text!r}\n"
        f"  exact (= the plaintext quantised model's greedy text): "
        f"{'yes' if g.exact else '[red]no[/] (' + repr(g.expected) + ')'}; "
        f"proven: {'yes' if g.verified else '[red]no[/]'}; {rate} tokens/s streamed; "
        f"every proof on-chain {after} after the last token; {g.claims} chunk claims; "
        f"{g.gas:,} gas; cost {format_amount(g.cost)} ZKAI, refund {format_amount(g.refund)}"
    )


def _print_training(t: DemoTraining) -> None:
    if t.error:
        out.print(f"[red]training round failed:[/] {t.error}")
    accuracy = (
        f"held-out accuracy {t.old_accuracy:.4f} -> {t.new_accuracy:.4f}; "
        if t.old_accuracy is not None and t.new_accuracy is not None
        else ""
    )
    verdict = "[green]accepted[/]" if t.accepted else f"[red]not accepted[/] ({t.reason})"
    out.print(
        f"training round {t.round_id}: {verdict}; {accuracy}{t.model} version "
        f"{t.base_version} -> {t.version}; reward epoch {t.epoch}, pool "
        f"{format_amount(t.pool)} ZKAI"
    )
    table = Table(
        "contributor",
        "samples",
        "update",
        "weight",
        "reward ZKAI",
        "claimed ZKAI",
        title="contributors",
    )
    for c in t.contributors:
        table.add_row(
            c.address,
            str(c.samples),
            c.status,
            str(c.weight),
            f"{format_amount(c.reward)}",
            f"{format_amount(c.claimed)}",
        )
    out.print(table)
    exact = sum(q.ok and q.version == t.version for q in t.queries)
    out.print(
        f"{exact}/{len(t.queries)} queries on version {t.version} exact and verified, "
        "served by nodes started before it existed"
    )
