"""Where the local network started by `zkai up` lives, for every other command to find it.

The state file (`<data dir>/localnet/state.json`: the processes `zkai up` started, their
endpoints, the ZKAI_* environment of the network) and anvil's well-known accounts. Below every
command line: `zkai query`, `zkai contribute` and the rest read it to use a running local network
by themselves; `zkai.localnet` writes it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from zkai.config import get_settings

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


@dataclass
class ProcessRecord:
    name: str
    pid: int
    command: list[str]
    log: str
    started_at: float = field(default_factory=time.time)

    @property
    def running(self) -> bool:
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) answers kill(0) but is not running.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class LocalnetState:
    """What `zkai up` started and where it listens; persisted as JSON in the data folder."""

    path: Path
    processes: list[ProcessRecord] = field(default_factory=list)
    endpoints: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> LocalnetState:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls(path)
        return cls(
            path,
            [ProcessRecord(**p) for p in data.get("processes", [])],
            dict(data.get("endpoints", {})),
            dict(data.get("info", {})),
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "processes": [asdict(p) for p in self.processes],
                    "endpoints": self.endpoints,
                    "info": self.info,
                },
                indent=2,
            )
        )
        os.replace(tmp, self.path)

    def add(self, record: ProcessRecord) -> None:
        self.processes.append(record)
        self.save()

    def as_status(self) -> dict[str, Any]:
        return {
            "state_file": str(self.path),
            "running": any(p.running for p in self.processes),
            "processes": [
                {"name": p.name, "pid": p.pid, "running": p.running, "log": p.log}
                for p in self.processes
            ],
            "endpoints": self.endpoints,
            **self.info,
        }


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
