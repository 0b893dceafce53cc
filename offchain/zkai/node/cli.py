"""`zkai node ...`: a node operator's commands (identity, registration, stake, claims, run).

Passphrases come from ZKAI_PASSPHRASE or a hidden prompt. Token amounts on the command line are
in ZKAI (decimals allowed); the library (`zkai.node.operator`) works in token wei.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from zkai.chain.client import ChainClient, connect
from zkai.cliutil import ask_passphrase, err, fail, keystore, out
from zkai.config import get_settings
from zkai.errors import InvalidAmountError, ZKAIError
from zkai.models.catalog import ModelCatalog
from zkai.node import operator
from zkai.node.service import NodeService
from zkai.node.state import NodeState
from zkai.units import format_amount, tokens_to_wei
from zkai.wallet.keystore import NodeIdentity

node_app = typer.Typer(
    help="Run and manage an inference node: identity, stake, claims, the service.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The node's name (its keystore).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _passphrase(confirm: bool = False) -> str:
    return ask_passphrase(confirm, prompt="Node passphrase")


def _wei(amount: str) -> int:
    try:
        return tokens_to_wei(amount)
    except InvalidAmountError as exc:
        raise fail(str(exc)) from None


def _unlock(name: str) -> NodeIdentity:
    return keystore().unlock_node(name, _passphrase())


def _chain() -> ChainClient:
    return connect()


def _run(action: Any) -> Any:
    try:
        return action()
    except ZKAIError as exc:
        raise fail(str(exc)) from None


def _model_ids(chain: ChainClient, models: list[str]) -> list[int]:
    catalog = ModelCatalog(chain.deployment.chain_id)
    return [int(m) if m.isdigit() else catalog.get(m).model_id for m in models]


@node_app.command("init")
def init(
    name: NameArg,
    private_key: Annotated[
        str | None, typer.Option(help="Use this account instead of a new one (hex).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create the node's encrypted identity: an Ethereum account and a share-encryption key."""
    info = _run(lambda: operator.init_node(keystore(), name, _passphrase(True), private_key))
    public_key = keystore().node_public_key(name).hex()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "name": name,
                    "address": info.address,
                    "path": str(info.path),
                    "encryption_key": "0x" + public_key,
                }
            )
        )
        return
    out.print(
        f"node [bold]{name}[/] {info.address}\nkeystore {info.path}\nencryption key 0x{public_key}"
    )
    err.print("Fund the address with ETH (gas) and ZKAI (stake), then `zkai node register`.")


@node_app.command("register")
def register(
    name: NameArg,
    model: Annotated[
        list[str], typer.Option("--model", "-m", help="Model name or id served (repeat).")
    ],
    stake: Annotated[str, typer.Option(help="Stake in ZKAI (default: the minimum).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Publish the encryption key and metadata, approve and stake (idempotent)."""
    identity = _unlock(name)
    chain = _run(_chain)

    def go() -> operator.NodeRecord:
        amount = (
            _wei(stake)
            if stake
            else int(chain.call(chain.contract("NodeRegistry").functions.minStake()))
        )
        return operator.register_node(
            chain, identity, models=_model_ids(chain, model), stake=amount
        )

    record = _run(go)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "address": record.address,
                    "stake": record.stake,
                    "models": record.models,
                    "metadata": record.metadata,
                }
            )
        )
        return
    out.print(
        f"registered {record.address}: stake {format_amount(record.stake)} ZKAI, "
        f"models {record.models}"
    )


@node_app.command("stake")
def stake(name: NameArg, amount: Annotated[str, typer.Argument(help="ZKAI to add.")]) -> None:
    """Add to the node's stake (approves the registry first)."""
    identity = _unlock(name)
    chain = _run(_chain)
    _run(lambda: operator.add_stake(chain, identity.account, _wei(amount)))
    record = _run(lambda: operator.node_record(chain, identity.account.address))
    out.print(f"stake {format_amount(record.stake)} ZKAI")


@node_app.command("unstake")
def unstake(name: NameArg) -> None:
    """Start unbonding the whole stake. Shares already assigned must still be served."""
    identity = _unlock(name)
    chain = _run(_chain)
    unlock = _run(lambda: operator.request_unstake(chain, identity.account))
    out.print(
        f"unbonding; withdrawable after unix time {unlock}. Keep `zkai node run` going "
        "until the shares already assigned are proven, or they are slashed."
    )


@node_app.command("withdraw")
def withdraw(name: NameArg) -> None:
    """Withdraw the unbonded stake after the unbonding period."""
    identity = _unlock(name)
    chain = _run(_chain)
    amount = _run(lambda: operator.withdraw(chain, identity.account))
    out.print(f"withdrew {format_amount(amount)} ZKAI")


@node_app.command("claim")
def claim(name: NameArg, as_json: JsonOpt = False) -> None:
    """Claim the payouts of every proven, unpaid share (one transaction)."""
    identity = _unlock(name)
    chain = _run(_chain)
    payout, shares, tx_hash = _run(lambda: operator.claim_payouts(chain, identity.account))
    if as_json:
        typer.echo(json.dumps({"payout": payout, "shares": shares, "tx_hash": tx_hash}))
        return
    out.print(
        f"claimed {format_amount(payout)} ZKAI for {len(shares)} shares"
        + (f" ({tx_hash})" if tx_hash else "")
    )


@node_app.command("status")
def status(name: NameArg, as_json: JsonOpt = False) -> None:
    """Address, registration, stake, eligibility, earnings, listener heartbeat, queue, workers.

    Exits with code 1 when the node is not registered or its service is not running.
    """
    settings = get_settings()
    store = keystore()
    nodes = {n.name: n for n in store.list_nodes()}
    if name not in nodes:
        raise fail(f"no node {name!r} in {settings.data_dir}; run `zkai node init {name}`")
    chain = _run(_chain)

    def collect() -> dict[str, Any]:
        state = NodeState.for_chain(store.node_dir(name), chain)
        return operator.node_status(
            chain,
            nodes[name].address,
            node_name=name,
            state=state,
            redis_url=settings.node_broker,
        )

    facts = _run(collect)
    if as_json:
        typer.echo(json.dumps(facts, default=str))
    else:
        table = Table("", "")
        for key, value in facts.items():
            if key == "listener":
                continue
            shown = (
                f"{format_amount(value)} ZKAI"
                if key in ("stake", "claimable", "min_stake", "token_balance")
                else value
            )
            table.add_row(key, str(shown))
        out.print(table)
    if not (facts["registered"] and facts["running"]):
        raise typer.Exit(1)


@node_app.command("run")
def run(
    name: NameArg,
    concurrency: Annotated[
        int | None, typer.Option(help="Worker processes (default ZKAI_NODE_CONCURRENCY).")
    ] = None,
) -> None:
    """Run the node: chain listener plus Celery workers, until SIGTERM or Ctrl-C.

    Logs are JSON lines on stderr. Needs ZKAI_PASSPHRASE (or a terminal), a reachable RPC and
    Redis (ZKAI_RPC_URL, ZKAI_REDIS_URL), and the served models' manifests: in the model
    catalogue, the manifest store, or from the API (ZKAI_API_URL). New model versions are picked
    up while it runs.
    """
    service = NodeService(name, _passphrase(), get_settings(), concurrency=concurrency)
    code = _run(service.run)
    raise typer.Exit(code)
