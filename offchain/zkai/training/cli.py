"""`zkai train ...` (the key holder), `zkai contribute` and `zkai rewards ...` (contributors).

Token amounts on the command line are in ZKAI (decimals allowed). Passphrases come from
ZKAI_PASSPHRASE or a hidden prompt: the key holder's passphrase seals the round's CKKS secret key
and unlocks its wallet. Contributors and `zkai train rounds` talk to the API (ZKAI_API_URL; a
running `zkai up` network is found by itself); the key holder also uses the round store (Redis)
and the chain directly.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address
from rich.table import Table

from zkai.chain.client import connect
from zkai.cliutil import ask_passphrase, fail, keystore, out, say, unlock_account
from zkai.config import get_settings
from zkai.errors import UpdateRejectedError
from zkai.localnet_state import local_network_deployer, local_network_wallet
from zkai.models.store import parse_commitment, resolve_manifest
from zkai.rewards.claims import claim_rewards, rewards_of
from zkai.training.aggregate import QUEUE
from zkai.training.client import TrainingApi, contribute, read_training_csv
from zkai.training.keyholder import finalise_training_round, open_training_round
from zkai.training.local import LocalTrainingConfig
from zkai.training.store import RoundResultRecord, RoundStore
from zkai.units import format_amount, tokens_to_wei

train_app = typer.Typer(
    help="Encrypted training rounds: open, list, close, finalise; the aggregation worker.",
    no_args_is_help=True,
)
rewards_app = typer.Typer(help="Contributor rewards: show and claim.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
WalletOpt = Annotated[str | None, typer.Option(help="Wallet to sign with (zkai wallet list).")]
ApeAliasOpt = Annotated[str | None, typer.Option(help="Sign with an ape account instead.")]


def _key_holder_account(wallet: str | None, ape_alias: str | None) -> LocalAccount:
    """The model owner's wallet (it signs the round, publishes the version, posts the epoch)."""
    return unlock_account(
        wallet, ape_alias, local=local_network_deployer, local_role="deployer (model owner)"
    )


def _api() -> TrainingApi:
    return TrainingApi(get_settings().api_base_url)


# -- key holder -----------------------------------------------------------------------------


@train_app.command("open")
def train_open(
    model: Annotated[str, typer.Option("--model", "-m", help="Model name (or id) to train.")],
    contributors: Annotated[
        str, typer.Option(help="Comma-separated wallet addresses allowed to contribute.")
    ],
    duration: Annotated[
        int, typer.Option(help="Seconds the round accepts updates.", min=10, max=30 * 86_400)
    ] = 600,
    round_id: Annotated[str | None, typer.Option(help="Round id (default model-vN-time).")] = None,
    min_updates: Annotated[
        int, typer.Option(help="Fewest updates whose sum may be decrypted.", min=2)
    ] = 2,
    clip_norm: Annotated[
        float, typer.Option(help="L2 bound of one contributor's delta.", min=1e-6, max=1e6)
    ] = 2.0,
    max_weight: Annotated[
        int, typer.Option(help="A contributor's weight cap (samples).", min=1, max=100_000)
    ] = 500,
    wallet: WalletOpt = None,
    ape_alias: ApeAliasOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a training round on a model's current version for allow-listed contributors.

    Generates the round's CKKS keys: the secret one is sealed in the keystore under your
    passphrase, the public context is published through the API.
    """
    owner = _key_holder_account(wallet, ape_alias)
    passphrase = ask_passphrase(confirm=sys.stdin.isatty())
    addresses = [a.strip() for a in contributors.split(",") if a.strip()]
    config = LocalTrainingConfig(clip_norm=clip_norm, max_weight=max_weight)
    opened = open_training_round(
        connect(),
        owner,
        model=model,
        contributors=addresses,
        duration_s=duration,
        passphrase=passphrase,
        round_id=round_id,
        config=config,
        min_updates=min_updates,
    )
    info = opened.info
    if as_json:
        typer.echo(
            json.dumps(
                {"round_id": info.round_id, "deadline": info.deadline, "key": str(opened.key_path)}
            )
        )
        return
    out.print(
        f"round [bold]{info.round_id}[/]: {info.model_name} version {info.base_version} "
        f"({info.parameter_count} parameters), {len(info.contributors)} contributors, open "
        f"until {time.ctime(info.deadline)}\nsecret key sealed in {opened.key_path}\n"
        f"contributors run: zkai contribute --model {info.model_name} --data FILE.csv"
    )


@train_app.command("rounds")
def train_rounds(
    all_rounds: Annotated[bool, typer.Option("--all", help="Closed and finalised too.")] = False,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List training rounds published by the API (open ones unless --all)."""
    rounds = _api().rounds(state=None if all_rounds else "open", model=model)
    if as_json:
        typer.echo(json.dumps(rounds))
        return
    if not rounds:
        out.print("no open training rounds" if not all_rounds else "no training rounds")
        return
    table = Table(
        "round",
        "model",
        "version",
        "state",
        "deadline",
        "accepted",
        "rejected",
        "pending",
        "contributors",
    )
    for r in rounds:
        table.add_row(
            r["round_id"],
            r["model_name"],
            str(r["base_version"]),
            r["state"],
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["deadline"])),
            str(r["accepted"]),
            str(r["rejected"]),
            str(r["pending"]),
            str(len(r["contributors"])),
        )
    out.print(table)


@train_app.command("show")
def train_show(
    round_id: Annotated[str, typer.Argument(help="The round's id.")], as_json: JsonOpt = False
) -> None:
    """One round: accepted updates, refusals with their reasons, and the verdict."""
    data = _api().round(round_id)
    if as_json:
        typer.echo(json.dumps(data))
        return
    out.print(
        f"round [bold]{data['round_id']}[/] ({data['state']}): {data['model_name']} "
        f"version {data['base_version']}, deadline {time.ctime(data['deadline'])}"
    )
    for u in data["updates"]:
        out.print(f"  [green]accepted[/] {u['address']} weight {u['weight']}")
    for r in data["rejections"]:
        out.print(f"  [red]refused[/]  {r['address']} ({r['reason']}): {r['detail']}")
    result = data.get("result")
    if result:
        verdict = "[green]accepted[/]" if result["accepted"] else "[red]rejected[/]"
        out.print(
            f"verdict: {verdict} ({result['reason']}); version {result['version']}, "
            f"epoch {result['epoch']}, pool {result['pool']['tokens']} ZKAI"
        )


@train_app.command("close")
def train_close(round_id: Annotated[str, typer.Argument(help="The round's id.")]) -> None:
    """Stop a round taking updates before its deadline (finalise closes it too)."""
    RoundStore.from_url(get_settings().redis_url).close(round_id)
    out.print(f"round {round_id} closed")


@train_app.command("finalise")
def train_finalise(
    round_id: Annotated[str, typer.Argument(help="The round's id.")],
    held_out: Annotated[
        Path, typer.Option(help="The key holder's held-out CSV (features..., label).")
    ],
    wallet: WalletOpt = None,
    ape_alias: ApeAliasOpt = None,
    pool: Annotated[
        str | None, typer.Option(help="ZKAI to distribute (default: all that is available).")
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(help="Largest held-out accuracy drop accepted (0.01: 1 point).", min=0, max=1),
    ] = 0.01,
    as_json: JsonOpt = False,
) -> None:
    """Close a round, decrypt only the sum, validate, publish the new version and rewards.

    The new weights are checked on your held-out set; if the model is no worse (within
    --tolerance) the new version (circuit, verifier, registry entry) and the reward epoch's
    Merkle root are published, and the round's secret key is destroyed either way.
    """
    chain = connect()
    account = _key_holder_account(wallet, ape_alias)
    passphrase = ask_passphrase()
    store = RoundStore.from_url(get_settings().redis_url)
    info = store.info(round_id)
    if info is None:
        raise fail(f"no training round {round_id!r} (`zkai train rounds --all` lists them)")
    base = resolve_manifest(parse_commitment(info.base_manifest_hash))
    x, y = read_training_csv(held_out, base.input_size)
    record = finalise_training_round(
        chain,
        round_id=round_id,
        passphrase=passphrase,
        held_out_x=x,
        held_out_y=y,
        signer=account,
        pool=None if pool is None else tokens_to_wei(pool),
        tolerance=tolerance,
        say=say,
    )
    if as_json:
        typer.echo(json.dumps(record))
    else:
        _print_record(record)
    if not record["accepted"]:
        raise typer.Exit(2)


def _print_record(record: RoundResultRecord) -> None:
    verdict = "[green]accepted[/]" if record["accepted"] else "[red]rejected[/]"
    out.print(f"round {record['round_id']}: {verdict} ({record['reason']})")
    if record.get("old_accuracy") is not None:
        out.print(f"held-out accuracy {record['old_accuracy']:.4f} -> {record['new_accuracy']:.4f}")
    if record["accepted"]:
        out.print(
            f"model {record['model_id']} version {record['version']} published; reward "
            f"epoch {record['epoch']}"
        )
        table = Table("contributor", "weight", "reward ZKAI")
        weights = {c["address"]: c["weight"] for c in record["contributions"]}
        for address, amount in record["rewards"]:
            table.add_row(address, str(weights.get(address, "")), f"{format_amount(int(amount))}")
        out.print(table)


@train_app.command("worker")
def train_worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
) -> None:
    """Run the aggregation worker: adds uploaded updates to their round's encrypted sum.

    Celery on ZKAI_REDIS_URL. It holds public contexts only and never decrypts anything.
    """
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "zkai.training.aggregate:app",
        "worker",
        "-Q",
        QUEUE,
        "-c",
        str(concurrency),
        "-n",
        "zkai-aggregator@%h",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
    ]
    os.execv(sys.executable, command)  # noqa: S606 - becomes the worker; fixed arguments


# -- contributors ---------------------------------------------------------------------------


def contribute_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Model name the round trains.")],
    data: Annotated[Path, typer.Option(help="Your private CSV: features..., label per row.")],
    wallet: WalletOpt = None,
    ape_alias: ApeAliasOpt = None,
    round_id: Annotated[
        str | None, typer.Option("--round", help="Round id (default: the open one).")
    ] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the workers' verdict (0: do not wait).")
    ] = 120.0,
    as_json: JsonOpt = False,
) -> None:
    """Train on your private data, encrypt the clipped update (CKKS) and upload it, signed.

    Only the ciphertext leaves this machine; the aggregator adds it to the round's encrypted sum.
    """
    account = unlock_account(wallet, ape_alias)
    try:
        result = contribute(
            _api(),
            connect(),
            account,
            model=model,
            data=data,
            round_id=round_id,
            wait_s=wait,
            say=(lambda _m: None) if as_json else say,
        )
    except UpdateRejectedError as exc:
        raise fail(f"the API refused the update ({exc.reason}): {exc.detail}") from None
    if as_json:
        typer.echo(json.dumps(result.as_json()))
    elif result.status == "accepted":
        out.print(
            f"[green]accepted[/] into round {result.round_id} with weight {result.weight} "
            f"({result.samples} samples, update norm {result.delta_norm:.3f} before "
            "clipping)"
        )
    elif result.status == "pending":
        out.print(
            f"uploaded to round {result.round_id}; the workers have not decided yet "
            f"(`zkai train show {result.round_id}`)"
        )
    else:
        out.print(f"[red]rejected[/] ({result.reason}): {result.detail}")
    if result.status == "rejected":
        raise typer.Exit(2)


# -- rewards --------------------------------------------------------------------------------


def _address_of(address: str | None, wallet: str | None) -> str:
    if address:
        if not is_address(address):
            raise fail(f"{address!r} is not an address (0x and 40 hex digits)")
        return address
    if wallet:
        known = {w.name: w.address for w in keystore().list_wallets()}
        if wallet not in known:
            raise fail(f"no wallet {wallet!r}; `zkai wallet list` shows the wallets")
        return known[wallet]
    demo = local_network_wallet()
    if demo is None:
        raise fail("name a contributor: --address 0x... or --wallet NAME")
    return str(demo.address)


@rewards_app.command("show")
def rewards_show(
    address: Annotated[str | None, typer.Option(help="The contributor's address.")] = None,
    wallet: Annotated[str | None, typer.Option(help="Or a wallet's name.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A contributor's rewards per epoch: allocated, claimed, unclaimed (from the API)."""
    data = rewards_of(get_settings().api_base_url, _address_of(address, wallet))
    if as_json:
        typer.echo(json.dumps(data))
        return
    out.print(
        f"{data['address']}: allocated {data['allocated']['tokens']} ZKAI, claimed "
        f"{data['claimed']['tokens']}, unclaimed {data['unclaimed']['tokens']}"
    )
    if data["rewards"]:
        table = Table("epoch", "amount ZKAI", "status", "claim deadline")
        for r in data["rewards"]:
            table.add_row(
                str(r["epoch"]), r["amount"]["tokens"], r["status"], time.ctime(r["claim_deadline"])
            )
        out.print(table)


@rewards_app.command("claim")
def rewards_claim(
    wallet: WalletOpt = None,
    ape_alias: ApeAliasOpt = None,
    epoch: Annotated[list[int] | None, typer.Option(help="Only these epochs.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Claim your unclaimed rewards: Merkle proofs built locally, checked against the chain."""
    account = unlock_account(wallet, ape_alias)
    claims = claim_rewards(
        connect(), account, get_settings().api_base_url, epochs=set(epoch) if epoch else None
    )
    if as_json:
        typer.echo(json.dumps([c.__dict__ for c in claims]))
        return
    if not claims:
        out.print(f"{account.address} has no unclaimed rewards")
    for c in claims:
        if c.error:
            out.print(
                f"[red]epoch {c.epoch}: {format_amount(c.amount)} ZKAI not claimed:[/] {c.error}"
            )
            continue
        what = f"tx {c.tx_hash}, gas {c.gas_used:,}" if c.tx_hash else "already claimed"
        out.print(f"epoch {c.epoch}: {format_amount(c.amount)} ZKAI to {c.contributor} ({what})")
    if any(c.error for c in claims):
        raise typer.Exit(1)
