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
from zkai.liveness import pid_alive, process_group_members, process_start_ticks

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
    """A process `zkai up` started, leader of its own process group (its session): whatever it
    starts stays in that group, also after the process itself died."""

    name: str
    pid: int
    command: list[str]
    log: str
    started_at: float = field(default_factory=time.time)
    start_ticks: int = 0
    """The process's start time (clock ticks since boot; 0 in state files written before it was
    recorded): tells the process from a later one that reused its pid."""

    @property
    def running(self) -> bool:
        if not pid_alive(self.pid):
            return False
        return not self.start_ticks or process_start_ticks(self.pid) == self.start_ticks

    @property
    def reused(self) -> bool:
        """Whether the pid now names another process (so the group is not ours either)."""
        return bool(self.start_ticks) and pid_alive(self.pid) and not self.running

    def group(self) -> list[int]:
        """The live processes of this record's process group (the process included)."""
        return [] if self.reused else process_group_members(self.pid)

    def orphans(self) -> list[int]:
        """Processes of the group left running by a process that died (killed outright, say)."""
        return [] if self.running else self.group()


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
        """What runs: each process, its group's live members (`group`, the process included)
        and, for a process that died, what it left running (`orphans`: `zkai down` stops them)."""
        processes = []
        for p in self.processes:
            group = p.group()
            running = p.running
            processes.append(
                {
                    "name": p.name,
                    "pid": p.pid,
                    "running": running,
                    "group": group,
                    "orphans": [] if running else group,
                    "log": p.log,
                }
            )
        return {
            "state_file": str(self.path),
            "running": any(p["running"] for p in processes),
            "orphans": any(p["orphans"] for p in processes),
            "processes": processes,
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
