"""What the command lines share: their consoles, the error exit, passphrases, the signing account.

Below every command line (`zkai.client.cli`, `zkai.training.cli`, `zkai.node.cli`,
`zkai.localnet.cli`), so none of them imports another for these.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
from eth_account.signers.local import LocalAccount
from rich.console import Console

from zkai.config import get_settings
from zkai.localnet_state import local_network_wallet
from zkai.wallet import Keystore, load_ape_account, passphrase_from_env

__all__ = ["ask_passphrase", "err", "fail", "keystore", "out", "say", "unlock_account"]

err = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as an error; the caller raises the returned exit."""
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def say(message: str) -> None:
    """A progress line on stderr (standard output stays for results and --json)."""
    err.print(f"[bold blue]•[/] {message}")


def keystore() -> Keystore:
    """The keystore in the data folder."""
    return Keystore(get_settings().data_dir)


def ask_passphrase(confirm: bool = False, *, prompt: str = "Passphrase") -> str:
    """ZKAI_PASSPHRASE, or a hidden prompt when a terminal is attached."""
    value = passphrase_from_env()
    if value:
        return value
    if not sys.stdin.isatty():
        raise fail("no passphrase: set ZKAI_PASSPHRASE or run in a terminal to be prompted")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def unlock_account(
    wallet: str | None,
    ape_alias: str | None,
    *,
    local: Callable[[], LocalAccount | None] = local_network_wallet,
    local_role: str = "demo wallet",
) -> LocalAccount:
    """The signing account: an ape alias, a zkai wallet, or the running local network's account
    for this role (its demo wallet unless said otherwise)."""
    if ape_alias:
        return load_ape_account(ape_alias, ask_passphrase())
    if wallet:
        return keystore().unlock_wallet(wallet, ask_passphrase())
    account = local()
    if account is None:
        raise fail("no wallet given: use --wallet NAME (see `zkai wallet list`) or --ape-alias")
    err.print(f"[dim]using the local network's {local_role} {account.address}[/]")
    return account
