"""`zkai down`'s teardown and `zkai status` on real processes: a recorded process killed outright
leaves its child running in its process group; status shows that orphan and stopping the record
stops it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from zkai.liveness import pid_alive
from zkai.localnet.processes import start_background, stop_process
from zkai.localnet_state import LocalnetState


def test_stop_process_stops_the_orphans_of_a_killed_parent(tmp_path: Path) -> None:
    record = start_background(
        "parent",
        ["bash", "-c", "sleep 300 & echo $! > child.pid; wait"],
        tmp_path / "parent.log",
        cwd=tmp_path,
    )
    pid_file = tmp_path / "child.pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the parent did not start its child"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    os.kill(record.pid, signal.SIGKILL)  # the parent dies; its child stays in its group
    os.waitpid(record.pid, 0)
    assert pid_alive(child)

    state = LocalnetState(tmp_path / "state.json", [record])
    (shown,) = state.as_status()["processes"]
    assert shown["running"] is False
    assert shown["orphans"] == [child]
    assert state.as_status()["orphans"] is True

    assert stop_process(record, timeout=5), "the orphan was found and stopped"
    deadline = time.monotonic() + 10
    while pid_alive(child):
        assert time.monotonic() < deadline, "the orphan outlived stop_process"
        time.sleep(0.05)
    assert state.as_status()["orphans"] is False
    assert stop_process(record) is False, "nothing is left to stop"
