"""Background processes that outlive the command that started them, and exact teardown.

Each process runs in its own session (process group), writes to its own log file and is recorded
in the local network's state file (`zkai.localnet_state`), so `zkai down` stops exactly what
`zkai up` started, including children (a node's Celery worker and its pool), and nothing else.
The whole group is stopped, not only the recorded process: a child whose parent was killed
outright (a node's worker after `kill -9` of the node service) is still in it, and stopped too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from zkai.liveness import process_group_alive, process_start_ticks
from zkai.localnet_state import ProcessRecord


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
    return ProcessRecord(
        name, process.pid, command, str(log_path), start_ticks=process_start_ticks(process.pid)
    )


def _group_alive(record: ProcessRecord) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(record.pid, os.WNOHANG)  # reap it if it is our own child
    return not record.reused and process_group_alive(record.pid)


def stop_process(record: ProcessRecord, timeout: float = 15.0) -> bool:
    """SIGTERM the record's process group (the process and everything left in its group, also
    when the process itself is gone), SIGKILL what is left after `timeout`. True if anything of
    it ran."""
    if not _group_alive(record):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(record.pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _group_alive(record):
                return True
            time.sleep(0.1)
    return True


def tail(path: str | Path, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
