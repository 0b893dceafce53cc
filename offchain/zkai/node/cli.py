"""`zkai node ...`: a node operator's commands (keys, registration, parts, stake, run).

Passphrases come from ZKAI_PASSPHRASE or a hidden prompt; no command prints a secret. Token
amounts on the command line are in ZKAI (decimals allowed); the library (`zkai.node.operator`)
works in token wei. Parts are MODEL:PART: a model id and a 0-based part index.
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
from zkai.node import operator
from zkai.node.chainview import NodeOnChain
from zkai.node.keys import NodeKeys, UnlockedNode, unlock
from zkai.node.operator import PartRef, parse_part
from zkai.node.service import NodeService
from zkai.node.state import NodeState
from zkai.units import format_amount, tokens_to_wei

node_app = typer.Typer(
    help="Run and manage an inference node: keys, registration, parts, stake, the service.",
    no_args_is_help=True,
)
parts_app = typer.Typer(help="The model parts this node hosts (MODEL:PART).", no_args_is_help=True)
node_app.add_typer(parts_app, name="parts")

NameArg = Annotated[str, typer.Argument(help="The node's name (its keystore).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
PartsArg = Annotated[list[str], typer.Argument(help="Parts as MODEL:PART, e.g. 1:0 (repeat).")]


def _passphrase(confirm: bool = False) -> str:
    return ask_passphrase(confirm, prompt="Node passphrase")


def _wei(amount: str) -> int:
    try:
        return tokens_to_wei(amount)
    except InvalidAmountError as exc:
        raise fail(str(exc)) from None


def _run(action: Any) -> Any:
    try:
        return action()
    except ZKAIError as exc:
        raise fail(str(exc)) from None


def _unlock(name: str) -> UnlockedNode:
    node: UnlockedNode = _run(lambda: unlock(keystore(), name, _passphrase()))
    return node


def _chain() -> ChainClient:
    chain: ChainClient = _run(connect)
    return chain


def _parts(texts: list[str]) -> list[PartRef]:
    return [_run(lambda t=t: parse_part(t)) for t in texts]


@node_app.command("init")
def init(
    name: NameArg,
    private_key: Annotated[
        str | None, typer.Option(help="Use this operator account instead of a new one (hex).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create the node's encrypted keys: operator account, ack signer, encryption key."""
    store = keystore()
    info = _run(lambda: operator.init_node(store, name, _passphrase(True), private_key))
    (keys,) = NodeKeys(store, name).public()
    facts = {
        "name": name,
        "address": info.address,
        "path": str(info.path),
        "ack_signer": keys["ack_signer"],
        "encryption_key": keys["encryption_key"],
    }
    if as_json:
        typer.echo(json.dumps(facts))
        return
    out.print("\n".join(f"{k} {v}" for k, v in facts.items()))
    err.print(
        "Fund the address with ETH (gas) and ZKAI (stake), then `zkai node register "
        f"{name} --stake <ZKAI> --endpoint <URL> --part <MODEL:PART>`."
    )


@node_app.command("register")
def register(
    name: NameArg,
    endpoint: Annotated[
        str, typer.Option(help="The public URL of this node's round endpoint (https://...).")
    ],
    part: Annotated[
        list[str], typer.Option("--part", "-p", help="A part hosted, MODEL:PART (repeat).")
    ],
    stake: Annotated[str, typer.Option(help="Stake in ZKAI (default: the minimum).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Approve and stake, register the keys and endpoint, host the parts (idempotent)."""
    parts = _parts(part)
    node = _unlock(name)
    chain = _chain()

    def go() -> NodeOnChain:
        registry = chain.contract("NodeRegistry")
        amount = _wei(stake) if stake else int(chain.call(registry.functions.minStake()))
        return operator.register_node(
            chain, node, stake=amount, endpoint=endpoint, parts=parts, keystore=keystore()
        )

    record = _run(go)
    facts = {
        "address": record.address,
        "stake": record.stake,
        "endpoint": record.endpoint,
        "parts": [str(p) for p in parts],
    }
    if as_json:
        typer.echo(json.dumps(facts))
        return
    out.print(
        f"registered {record.address}: stake {format_amount(record.stake)} ZKAI, endpoint "
        f"{record.endpoint}, parts {', '.join(facts['parts'])}"
    )


@parts_app.command("add")
def parts_add(name: NameArg, parts: PartsArg) -> None:
    """Host more parts (NodeRegistry.setParts)."""
    refs = _parts(parts)
    node = _unlock(name)
    chain = _chain()
    hosted = _run(lambda: operator.set_parts(chain, node, refs, hosted=True, keystore=keystore()))
    out.print("hosting " + ", ".join(str(p) for p in hosted))


@parts_app.command("remove")
def parts_remove(name: NameArg, parts: PartsArg) -> None:
    """Stop hosting parts. Queries already assigned must still be served and claimed."""
    refs = _parts(parts)
    node = _unlock(name)
    chain = _chain()
    hosted = _run(lambda: operator.set_parts(chain, node, refs, hosted=False, keystore=keystore()))
    out.print("hosting " + (", ".join(str(p) for p in hosted) or "nothing"))


@node_app.command("update")
def update(
    name: NameArg,
    endpoint: Annotated[str, typer.Option(help="The new public URL of the round endpoint.")],
) -> None:
    """Change the registered endpoint (keys unchanged)."""
    node = _unlock(name)
    chain = _chain()
    record = _run(lambda: operator.update_endpoint(chain, node, endpoint))
    out.print(f"endpoint {record.endpoint}")


@node_app.command("rotate-keys")
def rotate_keys(name: NameArg, as_json: JsonOpt = False) -> None:
    """Register a new ack signer and encryption key (old keys are kept for queries in flight)."""
    chain = _chain()
    public = _run(lambda: operator.rotate_keys(chain, keystore(), name, _passphrase()))
    if as_json:
        typer.echo(json.dumps(public))
        return
    out.print(
        f"generation {public['generation']}: ack signer {public['ack_signer']}, encryption key "
        f"{public['encryption_key']}"
    )
    err.print("Restart `zkai node run` so the endpoint loads the new generation.")


@node_app.command("stake")
def stake(name: NameArg, amount: Annotated[str, typer.Argument(help="ZKAI to add.")]) -> None:
    """Add to the node's stake (approves the registry first)."""
    node = _unlock(name)
    chain = _chain()
    _run(lambda: operator.add_stake(chain, node.operator, _wei(amount)))
    record = _run(lambda: operator.node_record(chain, node.address))
    out.print(f"stake {format_amount(record.stake)} ZKAI")


@node_app.command("unstake")
def unstake(name: NameArg) -> None:
    """Start unbonding the whole stake. Assignments already made must still be claimed."""
    node = _unlock(name)
    chain = _chain()
    unlock_time = _run(lambda: operator.request_unstake(chain, node.operator))
    out.print(
        f"unbonding; withdrawable after unix time {unlock_time}. Keep `zkai node run` going "
        "until every assignment is claimed."
    )


@node_app.command("withdraw")
def withdraw(name: NameArg) -> None:
    """Withdraw the unbonded stake after the unbonding period."""
    node = _unlock(name)
    chain = _chain()
    amount = _run(lambda: operator.withdraw(chain, node.operator))
    out.print(f"withdrew {format_amount(amount)} ZKAI")


@node_app.command("status")
def status(name: NameArg, as_json: JsonOpt = False) -> None:
    """Address, registration, endpoint, stake, keys, parts, service heartbeat, queue.

    Exits with code 1 when the node is not registered or its service is not running.
    """
    settings = get_settings()
    store = keystore()
    nodes = {n.name: n for n in store.list_nodes()}
    if name not in nodes:
        raise fail(f"no node {name!r} in {settings.data_dir}; run `zkai node init {name}`")
    chain = _chain()

    def collect() -> dict[str, Any]:
        state = NodeState.for_chain(store.node_dir(name), chain)
        return operator.node_status(
            chain,
            nodes[name].address,
            node_name=name,
            keystore=store,
            heartbeat_path=state.heartbeat_path,
            redis_url=settings.node_broker,
        )

    facts = _run(collect)
    if as_json:
        typer.echo(json.dumps(facts, default=str))
    else:
        table = Table("", "")
        for key, value in facts.items():
            if key == "service":
                continue
            shown = (
                f"{format_amount(value)} ZKAI"
                if key in ("stake", "min_stake", "token_balance")
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
        int | None, typer.Option(help="Claim worker processes (default ZKAI_NODE_CONCURRENCY).")
    ] = None,
) -> None:
    """Run the node: round endpoint, claim scheduler and Celery claim workers, until SIGTERM.

    Logs are JSON lines on stderr. Needs ZKAI_PASSPHRASE (or a terminal), a reachable RPC and
    Redis (ZKAI_RPC_URL, ZKAI_REDIS_URL), the hosted parts' manifests in the manifest store, and
    a free ZKAI_NODE_HOST:ZKAI_NODE_PORT (default 127.0.0.1:8710) behind the registered endpoint.
    """
    service = NodeService(name, _passphrase(), get_settings(), concurrency=concurrency)
    code = _run(service.run)
    raise typer.Exit(code)
