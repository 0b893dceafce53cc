"""`zkai wallet ...` and `zkai query ...`: the user's commands."""

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
from zkai.client.query import DEFAULT_DEADLINE_S, QueryClient, QueryOutcome
from zkai.cliutil import ask_passphrase, err, fail, keystore, out, unlock_account
from zkai.errors import QueryError, ZKAIError
from zkai.localnet_state import local_network_wallet
from zkai.models.catalog import ModelCatalog, current_version
from zkai.units import format_amount

wallet_app = typer.Typer(
    help="Encrypted wallets: create, import, list, balances.", no_args_is_help=True
)


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


def print_outcome(outcome: QueryOutcome) -> None:
    if outcome.expired:
        out.print(
            f"[yellow]query {outcome.query_id} expired[/] with {len(outcome.shares)} of its "
            f"shares proven; refunded {format_amount(outcome.refund)} ZKAI"
        )
        return
    assert outcome.prediction is not None
    p = outcome.prediction
    answer = p.label_name or (str(p.label) if p.label is not None else str(list(p.scores)))
    out.print(f"[bold green]{outcome.model}[/] says: [bold]{answer}[/]")
    if p.probability is not None:
        out.print(f"probability {p.probability:.4f}")
    table = Table("share", "node", "tx", "gas used", title=f"query {outcome.query_id}")
    for s in outcome.shares:
        table.add_row(str(s.index), s.node, s.tx_hash, f"{s.gas_used:,}")
    out.print(table)
    out.print(
        f"fee {format_amount(outcome.fee)} ZKAI · request gas {outcome.request_gas:,} · "
        f"latency {outcome.latency_s:.2f} s · every share verified on-chain: {outcome.verified}"
    )


def query(
    model: Annotated[str, typer.Option("--model", "-m", help="Model name (or id).")],
    input_file: Annotated[
        str, typer.Option("--input", "-i", help="JSON array of numbers: a file, or - for stdin.")
    ],
    wallet: Annotated[str | None, typer.Option(help="Paying wallet (zkai wallet list).")] = None,
    ape_alias: Annotated[str | None, typer.Option(help="Pay from an ape account.")] = None,
    nodes: Annotated[
        str | None, typer.Option(help="Comma-separated node addresses (default: random).")
    ] = None,
    deadline: Annotated[
        int, typer.Option(help="Seconds the nodes have to prove.")
    ] = DEFAULT_DEADLINE_S,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Pay for one private query: share, encrypt, pay with a permit, wait for proofs, decode."""
    try:
        x = read_input_vector(input_file)
        account = unlock_account(wallet, ape_alias)
        chain = chain_client()
        entry = ModelCatalog(chain.deployment.chain_id).get(model)
        manifest, _version = current_version(chain, entry)
        client = QueryClient(chain, account)
        pending = client.submit(
            entry.name,
            manifest,
            entry.model_id,
            x,
            nodes=nodes.split(",") if nodes else None,
            deadline_s=deadline,
        )
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} shares proven"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json,
        ) as progress:
            task = progress.add_task(
                f"query {pending.query_id}: nodes proving", total=len(pending.nodes)
            )
            outcome = client.wait(
                pending,
                manifest,
                on_progress=lambda done, _k: progress.update(task, completed=done),
            )
    except ZKAIError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(outcome.as_json()))
    else:
        print_outcome(outcome)
    if outcome.expired or not outcome.verified:
        raise typer.Exit(2)
