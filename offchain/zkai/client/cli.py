"""`zkai wallet ...`, `zkai query ...` and `zkai generate ...`: the user's commands."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from zkai.chain.client import ChainClient, connect, with_retries
from zkai.client.generate import GenerationClient, GenerationOutcome
from zkai.client.query import (
    DEFAULT_ROUND_WINDOW_S,
    QueryClient,
    QueryIncompleteError,
    QueryOutcome,
)
from zkai.client.settlement import describe_query, queries_of, settle_query
from zkai.cliutil import ask_passphrase, err, fail, keystore, out, unlock_account
from zkai.errors import QueryError, ZKAIError
from zkai.localnet_state import local_network_wallet
from zkai.models.catalog import ModelCatalog, current_version
from zkai.units import format_amount, tokens_to_wei

wallet_app = typer.Typer(
    help="Encrypted wallets: create, import, list, balances.", no_args_is_help=True
)

_CHECKING_KEY = "checking the model's validity key against its circuit (once per key)"


def chain_client() -> ChainClient:
    return connect()


@wallet_app.command("new")
def wallet_new(name: Annotated[str, typer.Argument(help="A name for the wallet.")]) -> None:
    """Create a wallet; its recovery phrase is shown once."""
    info, mnemonic = keystore().create_wallet(name, ask_passphrase(confirm=True))
    out.print(f"wallet [bold]{name}[/] {info.address}\nkeystore {info.path}")
    err.print(
        "[yellow]Recovery phrase (write it down; it is not stored in clear anywhere):[/]\n"
        f"{mnemonic}"
    )


@wallet_app.command("import")
def wallet_import(
    name: Annotated[str, typer.Argument(help="A name for the wallet.")],
    mnemonic: Annotated[
        bool, typer.Option("--mnemonic", help="Import a BIP-39 phrase instead of a key.")
    ] = False,
    account_index: Annotated[int, typer.Option(help="HD account index (with --mnemonic).")] = 0,
) -> None:
    """Import a private key or a recovery phrase, read from standard input or a hidden prompt."""
    what = "recovery phrase" if mnemonic else "private key"
    if sys.stdin.isatty():
        secret = str(typer.prompt(what.capitalize(), hide_input=True))
    else:
        secret = sys.stdin.readline().strip()
    if not secret:
        raise fail(f"no {what} given on standard input")
    passphrase = ask_passphrase(confirm=True)
    store = keystore()
    info = (
        store.import_mnemonic(name, secret, passphrase, account_index)
        if mnemonic
        else store.import_private_key(name, secret, passphrase)
    )
    out.print(f"wallet [bold]{name}[/] {info.address}\nkeystore {info.path}")


@wallet_app.command("list")
def wallet_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List wallets (no passphrase needed)."""
    wallets = keystore().list_wallets()
    if as_json:
        typer.echo(json.dumps([{"name": w.name, "address": w.address} for w in wallets]))
        return
    table = Table("name", "address", "keystore")
    for w in wallets:
        table.add_row(w.name, w.address, str(w.path))
    out.print(table if wallets else "no wallets yet: `zkai wallet new NAME`")


@wallet_app.command("balance")
def wallet_balance(
    name: Annotated[str | None, typer.Argument(help="Wallet name (or an address).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """ETH and ZKAI balances of a wallet or address."""
    address: str
    if name is None or not name.startswith("0x"):
        wallets = {w.name: w.address for w in keystore().list_wallets()}
        if name is None:
            demo = local_network_wallet()
            if demo is None:
                raise fail("name a wallet (see `zkai wallet list`) or an address")
            address = str(demo.address)
        elif name in wallets:
            address = wallets[name]
        else:
            raise fail(f"no wallet {name!r}; `zkai wallet list` shows the wallets")
    else:
        address = name
    chain = chain_client()
    eth = with_retries(lambda: chain.w3.eth.get_balance(chain.w3.to_checksum_address(address)))
    token = chain.contract("ZKAIToken")
    zkai = int(chain.call(token.functions.balanceOf(chain.w3.to_checksum_address(address))))
    if as_json:
        typer.echo(json.dumps({"address": address, "eth_wei": str(eth), "zkai_wei": str(zkai)}))
    else:
        out.print(f"{address}\n  ETH  {format_amount(eth)}\n  ZKAI {format_amount(zkai)}")


def read_input_vector(source: str) -> list[float]:
    """A JSON array of numbers from a file or `-` (standard input); clear errors otherwise."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise QueryError(f"cannot read the input {source!r}: {exc.strerror}") from None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QueryError(f"the input is not JSON: {exc}") from None
    if not isinstance(data, list) or not data:
        raise QueryError("the input must be a non-empty JSON array of numbers, e.g. [0, 3, 16]")
    values: list[float] = []
    for i, v in enumerate(data):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise QueryError(f"input element {i} is {v!r}, not a finite number")
        values.append(float(v))
    return values


def assignments_table(outcome: QueryOutcome) -> Table:
    """One row per assignment: rounds, claim chunks, gas, credit, whether its proof matched."""
    table = Table(
        "part", "node", "rounds", "chunks", "claim gas", "paid ZKAI", "proof", title="assignments"
    )
    for a in outcome.assignments:
        if a.claimed:
            proof = "[green]accepted[/]"
        elif a.claimed_rounds:
            proof = f"[yellow]{a.claimed_rounds} of {a.rounds} rounds[/]"
        else:
            proof = "[yellow]not claimed[/]"
        table.add_row(
            str(a.part),
            a.node,
            str(a.rounds),
            str(len(a.chunks)),
            f"{a.claim_gas:,}" if a.chunks else "-",
            format_amount(a.credit),
            proof,
        )
    return table


def print_outcome(outcome: QueryOutcome) -> None:
    assert outcome.prediction is not None
    p = outcome.prediction
    answer = p.label_name or (str(p.label) if p.label is not None else str(list(p.scores)))
    out.print(f"[bold green]{outcome.model}[/] says: [bold]{answer}[/]")
    if p.probability is not None:
        out.print(f"probability {p.probability:.4f}")
    if outcome.clamped:
        out.print(
            f"[yellow]{outcome.clamped} intermediate values were clamped to the model's range[/]"
        )
    out.print(assignments_table(outcome))
    out.print(
        f"query 0x{outcome.query_id.hex()[:16]}… · escrow {format_amount(outcome.escrow)} ZKAI · "
        f"cost {format_amount(outcome.cost)} ZKAI · request gas {outcome.request_gas:,} · "
        f"answer {outcome.answer_s:.2f} s · all proofs {outcome.latency_s:.2f} s · "
        f"every node's proof accepted on-chain: {outcome.verified}"
    )
    if outcome.cost < outcome.escrow:
        out.print(
            f"unused escrow {format_amount(outcome.escrow - outcome.cost)} ZKAI: "
            f"`zkai queries settle 0x{outcome.query_id.hex()}` after the proof deadline"
        )


# The paying and planning options `zkai query` and `zkai generate` share.
WalletOpt = Annotated[str | None, typer.Option(help="Paying wallet (zkai wallet list).")]
ApeAliasOpt = Annotated[str | None, typer.Option(help="Pay from an ape account.")]
NodesOpt = Annotated[
    str | None,
    typer.Option(
        help="Nodes per part: addresses separated by commas, parts by ';' (default: random)."
    ),
]
MaxFeeOpt = Annotated[str | None, typer.Option(help="Refuse to escrow more than this many ZKAI.")]
RoundWindowOpt = Annotated[
    int, typer.Option(help="Seconds for all rounds (the nodes prove after it, or sooner).")
]


def query(
    model: Annotated[str, typer.Option("--model", "-m", help="Model name (or id).")],
    input_file: Annotated[
        str, typer.Option("--input", "-i", help="JSON array of numbers: a file, or - for stdin.")
    ],
    wallet: WalletOpt = None,
    ape_alias: ApeAliasOpt = None,
    nodes: NodesOpt = None,
    max_fee: MaxFeeOpt = None,
    round_window: RoundWindowOpt = DEFAULT_ROUND_WINDOW_S,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Pay for one private query: rounds with the nodes of every part, then every proof on-chain."""
    try:
        x = read_input_vector(input_file)
        account = unlock_account(wallet, ape_alias)
        chain = chain_client()
        entry = ModelCatalog(chain.deployment.chain_id).get(model)
        manifest, _version = current_version(chain, entry)
        client = QueryClient(chain, account)
        per_part = [part.split(",") for part in nodes.split(";")] if nodes else None
        cap = tokens_to_wei(max_fee) if max_fee is not None else None
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json,
        ) as progress:
            blocks = len(manifest.blocks)
            rounds = progress.add_task("paying and sending the rounds", total=blocks)
            claims = progress.add_task("nodes proving and claiming", total=None)

            def on_progress(event: str, detail: dict[str, Any]) -> None:
                if event == "checking_validity_key":
                    progress.update(rounds, description=_CHECKING_KEY)
                elif event == "proving_validity":
                    progress.update(
                        rounds,
                        description=f"proving the input valid ({detail['constraints']:,} "
                        "constraints"
                        + (", development key" if detail.get("development_only") else "")
                        + "), then paying",
                    )
                elif event == "requested":
                    progress.update(rounds, description="rounds with the nodes")
                elif event == "block":
                    progress.advance(rounds)
                elif event == "claimed":
                    progress.advance(claims)

            outcome = client.run(
                entry.name,
                manifest,
                entry.model_id,
                x,
                nodes=per_part,
                max_fee=cap,
                round_window_s=round_window,
                on_progress=on_progress,
            )
    except ZKAIError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(outcome.as_json()))
    else:
        print_outcome(outcome)
    if not outcome.verified:
        raise typer.Exit(2)


def parse_nodes(nodes: str | None) -> list[list[str]] | None:
    return [part.split(",") for part in nodes.split(";")] if nodes else None


GENERATE_HELP = (
    "Generate text privately: the prompt is secret-shared to the nodes of every part of a "
    "language model, paid once (one request), streamed as it comes, and every node's proof is "
    "checked on-chain.\n\n"
    "Example, on the local network of `zkai up`:\n\n"
    '    zkai generate --model tiny-lm --prompt "the python " --tokens 32\n\n'
    "Greedy by default: exactly what the plaintext quantised model generates. "
    "--temperature 0.8 --seed 7 samples, reproducibly. "
    "The prompt may use only the model's characters and, with --tokens, must fit its context "
    "and the model's budget; all of that is checked before anything is paid."
)


def print_generation(g: GenerationOutcome) -> None:
    q = g.query
    assert q is not None
    out.print(assignments_table(q))
    rate = g.tokens_per_s
    first = g.time_to_first_token_s
    gas_claims = sum(a.claim_gas for a in q.assignments)
    chunks = sum(len(a.chunks) for a in q.assignments)
    accepted = sum(1 for a in q.assignments if a.claimed)
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("query", "0x" + q.query_id.hex())
    summary.add_row("tokens", f"{len(g.tokens)} ({len(g.prompt_tokens)} prompt characters)")
    summary.add_row(
        "speed",
        f"{rate:.2f} tokens/s as streamed" if rate is not None else "-",
    )
    summary.add_row("first token", f"{first:.2f} s after the request" if first else "-")
    summary.add_row(
        "cost",
        f"{format_amount(q.cost)} of {format_amount(q.escrow)} ZKAI escrowed "
        f"(refund {format_amount(q.refund)})",
    )
    summary.add_row(
        "gas",
        f"request {q.request_gas:,} · claims {gas_claims:,} in {chunks} chunks · "
        f"{(q.request_gas + gas_claims) // max(1, len(g.tokens)):,} per token",
    )
    summary.add_row("proofs", f"{accepted} of {len(q.assignments)} accepted on-chain")
    if g.proofs_after_last_token_s is not None:
        summary.add_row("all proofs", f"{g.proofs_after_last_token_s:.1f} s after the last token")
    summary.add_row(
        "verified",
        "[green]yes[/]: every node's proof matches this client's rounds"
        if g.verified
        else "[yellow]no[/]",
    )
    out.print(summary)
    if q.refund > 0 and g.proofs_after_last_token_s is not None:
        out.print(
            f"unused escrow {format_amount(q.refund)} ZKAI: "
            f"`zkai queries settle 0x{q.query_id.hex()}`"
        )


def generate(
    model: Annotated[str, typer.Option("--model", "-m", help="Language model name (or id).")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="The text to continue.")],
    tokens: Annotated[int, typer.Option("--tokens", "-n", help="New tokens to generate.")] = 32,
    temperature: Annotated[
        float, typer.Option(help="0 = greedy (default); above 0 samples (with --seed).")
    ] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the sampling (reproducible).")] = None,
    wallet: WalletOpt = None,
    ape_alias: ApeAliasOpt = None,
    nodes: NodesOpt = None,
    max_fee: MaxFeeOpt = None,
    round_window: Annotated[
        int | None,
        typer.Option(
            help="Seconds for all rounds (default: 10 s per forward pass, at least 120 s)."
        ),
    ] = None,
    no_wait: Annotated[
        bool,
        typer.Option("--no-wait", help="Stop after the text; do not wait for the proofs."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    try:
        account = unlock_account(wallet, ape_alias)
        chain = chain_client()
        entry = ModelCatalog(chain.deployment.chain_id).get(model)
        manifest, _version = current_version(chain, entry)
        client = GenerationClient(chain, account)
        cap = tokens_to_wei(max_fee) if max_fee is not None else None
        status = err.status("checking the prompt, planning and paying", spinner="dots")
        streaming = False

        def on_progress(event: str, detail: dict[str, Any]) -> None:
            nonlocal streaming
            if as_json:
                return
            if event == "checking_validity_key":
                status.update(_CHECKING_KEY)
            elif event == "proving_prompt":
                status.update(
                    f"proving prompt token {detail['token']} of {detail['of']} valid "
                    f"({detail['constraints']:,} constraints)"
                )
            elif event == "proving_validity":
                status.update(
                    f"proving the prompt's first token valid ({detail['constraints']:,} "
                    "constraints"
                    + (", development key" if detail.get("development_only") else "")
                    + "), then paying"
                )
            elif event == "requested":
                status.update(f"paid in {detail['tx'][:18]}…; first rounds with the nodes")
            elif event == "generated":
                if streaming:
                    out.print()
                    streaming = False
                status.update("waiting for every node's proof to be accepted on-chain")
                status.start()
            elif event in ("chunk", "claimed", "claimed_short"):
                status.update(
                    f"proofs: part {detail['part']} node {detail['node'][:10]}… has "
                    f"{detail['rounds']} rounds claimed"
                )

        def on_token(_i: int, _token: int, piece: str, _t: float) -> None:
            nonlocal streaming
            if as_json:
                return
            if not streaming:
                status.stop()
                out.print(prompt, style="dim", end="", markup=False, highlight=False)
                streaming = True
            out.print(piece, style="bold", end="", markup=False, highlight=False)

        if not as_json:
            status.start()
        try:
            outcome = client.generate(
                entry.name,
                manifest,
                entry.model_id,
                prompt,
                tokens,
                temperature=temperature,
                seed=seed,
                nodes=parse_nodes(nodes),
                max_fee=cap,
                round_window_s=round_window,
                wait_proofs=not no_wait,
                on_token=on_token,
                on_progress=on_progress,
            )
        finally:
            status.stop()
            if streaming:
                out.print()
    except QueryIncompleteError as exc:
        raise fail(str(exc), code=2) from None
    except ZKAIError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(outcome.as_json()))
    elif no_wait:
        q = outcome.query
        assert q is not None
        out.print(
            f"query 0x{q.query_id.hex()} · {outcome.tokens_per_s or 0:.2f} tokens/s · "
            f"escrow {format_amount(q.escrow)} ZKAI · not waiting for the proofs: "
            f"`zkai queries show 0x{q.query_id.hex()}` shows them"
        )
    else:
        print_generation(outcome)
    if not no_wait and not outcome.verified:
        raise typer.Exit(2)


generate.__doc__ = GENERATE_HELP


queries_app = typer.Typer(
    help="Your queries on-chain: list them, show one, settle one.", no_args_is_help=True
)


def _query_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise fail(f"{text!r} is not a query id (0x followed by 64 hex digits)")
    return raw


@queries_app.command("list")
def queries_list(
    wallet: Annotated[str | None, typer.Option(help="Whose queries (a wallet name).")] = None,
    address: Annotated[str | None, typer.Option(help="Whose queries (an address).")] = None,
    limit: Annotated[int, typer.Option(help="How many of the latest.")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Your latest queries, from the chain (no local state needed): escrow, claims, settled."""
    try:
        who = address or unlock_account(wallet, None).address
        rows = queries_of(chain_client(), who, limit=limit)
    except ZKAIError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(
        "query", "model", "escrow", "paid", "unclaimed", "settled", title=f"queries of {who}"
    )
    for r in rows:
        table.add_row(
            r["query_id"][:18] + "…",
            f"{r['model_id']} v{r['version']}",
            format_amount(int(r["escrow"])),
            format_amount(int(r["credits"])),
            str(r["unclaimed"]),
            "yes" if r["settled"] else "no",
        )
    out.print(table if rows else f"no queries by {who} on this chain")


@queries_app.command("show")
def queries_show(
    query_id: Annotated[str, typer.Argument(help="The query id (0x...).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A query's escrow, deadlines and every assignment's claim, read from the chain."""
    qid = _query_id(query_id)
    try:
        chain = chain_client()
        summary = describe_query(chain, qid)
    except ZKAIError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(summary))
        return
    out.print(
        f"query {query_id} by {summary['user']} · model {summary['model_id']} "
        f"v{summary['version']} · escrow {format_amount(int(summary['escrow']))} ZKAI · "
        f"credits {format_amount(int(summary['credits']))} ZKAI · settled {summary['settled']}"
    )
    table = Table("part", "node", "budget", "claimed rounds", "slashed")
    for a in summary["assignments"]:
        table.add_row(
            str(a["part"]), a["node"], str(a["budget"]), str(a["rounds"]), str(a["slashed"])
        )
    out.print(table)


@queries_app.command("settle")
def queries_settle(
    query_id: Annotated[str, typer.Argument(help="The query id (0x...).")],
    wallet: Annotated[str | None, typer.Option(help="Wallet that sends the transaction.")] = None,
    ape_alias: Annotated[str | None, typer.Option(help="Send from an ape account.")] = None,
) -> None:
    """Refund a query's unused escrow to its user (after its proof deadline, or once all
    claimed)."""
    qid = _query_id(query_id)
    try:
        account = unlock_account(wallet, ape_alias)
        result = settle_query(chain_client(), account, qid)
    except ZKAIError as exc:
        raise fail(str(exc)) from None
    if result.already:
        out.print(f"already settled; {format_amount(result.refund)} ZKAI were refunded")
    else:
        out.print(f"settled in {result.tx_hash}: {format_amount(result.refund)} ZKAI refunded")
