"""Background processes that outlive the command that started them, and exact teardown.

Each process runs in its own session (process group), writes to its own log file and is recorded
in the local network's state file, so `zkai down` stops exactly what `zkai up` started, including
children (Celery's worker pool), and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


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


def start_background(
    name: str,
    command: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> ProcessRecord:
    """Start `command` detached in a new session, stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    return ProcessRecord(name, process.pid, command, str(log_path))


def stop_process(record: ProcessRecord, timeout: float = 15.0) -> bool:
    """SIGTERM the record's process group, SIGKILL what is left after `timeout`. True if it ran."""
    if not record.running:
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(record.pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(record.pid, os.WNOHANG)
            if not record.running:
                return True
            time.sleep(0.1)
    return True


def tail(path: str | Path, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


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
