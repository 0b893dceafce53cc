"""Whether a process on this machine still lives, its process group, and dying with a parent.

Below every part that starts or watches processes: the node's locks (is a lock's holder gone?),
the node service's worker (it dies with the service), and `zkai down` (a killed parent's
children are still in its process group). Linux `/proc` answers; elsewhere the answers stay on
the safe side (a process is assumed alive, a group's members unknown).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

__all__ = [
    "die_with_parent",
    "pid_alive",
    "process_group_alive",
    "process_group_members",
    "process_start_ticks",
]

_PR_SET_PDEATHSIG = 1


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state is field 0), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    return fields is None or fields[0] != "Z"


def process_start_ticks(pid: int) -> int:
    """When `pid` started, in clock ticks since boot (0 if unknown): with the pid, it names a
    process for good, since a pid is reused once its process is gone."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return 0
    return int(fields[19])


def process_group_members(pgid: int) -> list[int]:
    """The live processes of process group `pgid` (its leader included, if alive)."""
    members = []
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            fields = _stat_fields(int(entry.name))
            alive = fields is not None and len(fields) > 2 and fields[0] != "Z"
            if alive and fields is not None and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return sorted(members)


def process_group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` runs (a group of zombies does not)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc").is_dir():
        return True
    return bool(process_group_members(pgid))


def die_with_parent(expected_parent: int | None, sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux), and exit now
    if the parent is already gone (its pid is no longer our parent's: we were reparented)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if expected_parent is not None and os.getppid() != expected_parent:
        raise SystemExit(f"parent process {expected_parent} is gone")
