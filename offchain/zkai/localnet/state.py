"""Where the local network started by `zkai up` lives, for every other command to find it."""

from __future__ import annotations

import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from zkai.config import get_settings
from zkai.localnet.processes import LocalnetState

# anvil's default, publicly known test mnemonic: its accounts hold value on no real chain.
# Local networks only; `zkai up` refuses to run when ZKAI_ENVIRONMENT=production.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
DEPLOYER_INDEX, DEMO_USER_INDEX, FIRST_NODE_INDEX = 0, 1, 2

Account.enable_unaudited_hdwallet_features()


def anvil_account(index: int) -> LocalAccount:
    account: LocalAccount = Account.from_mnemonic(
        ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}"
    )
    return account


def state_path(data_dir: Path | None = None) -> Path:
    return (data_dir or get_settings().data_dir) / "localnet" / "state.json"


def load_state(data_dir: Path | None = None) -> LocalnetState:
    return LocalnetState.load(state_path(data_dir))


def apply_local_network_env() -> bool:
    """Point this process at the running local network, for settings the user did not set.

    `zkai up` records the ZKAI_* variables of its network (RPC, Redis, deployment records); every
    other command calls this first, so `zkai query` in another shell finds the network by itself.
    Returns whether a running local network was found.
    """
    state = load_state()
    if not any(p.running for p in state.processes):
        return False
    changed = False
    for key, value in dict(state.info.get("env", {})).items():
        if key not in os.environ:
            os.environ[key] = str(value)
            changed = True
    if changed:
        get_settings.cache_clear()
    return True


def local_network_wallet() -> LocalAccount | None:
    """The demo user of a running local network (an anvil test account), if one is up."""
    state = load_state()
    if not state.endpoints.get("rpc") or not any(p.running for p in state.processes):
        return None
    return anvil_account(DEMO_USER_INDEX)


def local_network_deployer() -> LocalAccount | None:
    """The deployer of a running local network: it owns the demo models and may post epochs."""
    state = load_state()
    if not state.endpoints.get("rpc") or not any(p.running for p in state.processes):
        return None
    return anvil_account(DEPLOYER_INDEX)
