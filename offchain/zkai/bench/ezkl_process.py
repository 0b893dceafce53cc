"""The parent side of the ezkl baseline: a run's folders, and one stage run in a child
interpreter with a timeout, its result file read back and its own peak RSS.

The child reports `VmHWM` from /proc/self/status, which the kernel resets at exec (`ru_maxrss`
from `wait4` would include the parent's size inherited at fork, so a large caller such as `zkai
bench` would inflate it). Stage times are measured inside the child around the ezkl call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkai.bench.ezkl_stages import STAGE_FLAG
from zkai.errors import BenchmarkError

__all__ = ["MODULE", "Layout", "StageRun", "progress", "run_child"]

MODULE = "zkai.bench.ezkl_baseline"
_SOURCE_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_CHARS = 2000

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class Layout:
    """A run's folders under its workdir: the run's files, the SRS cache, logs, stage files and
    the HOME that ezkl's verifier generation runs with."""

    root: Path
    run: Path
    srs: Path
    logs: Path
    stages: Path
    evm_home: Path

    @classmethod
    def create(cls, workdir: Path) -> Layout:
        root = workdir.resolve()
        layout = cls(
            root=root,
            run=root / "run",
            srs=root / "srs",
            logs=root / "logs",
            stages=root / "stages",
            evm_home=root / "evm-home",
        )
        for folder in (layout.run, layout.srs, layout.logs, layout.stages):
            folder.mkdir(parents=True, exist_ok=True)
        return layout


@dataclass(frozen=True)
class StageRun:
    """A stage's result and the child's own peak RSS."""

    result: JSONDict
    peak_rss_mib: float


def progress(message: str) -> None:
    print(f"[ezkl-baseline] {message}", file=sys.stderr, flush=True)


def _log_tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-LOG_TAIL_CHARS:]


def run_child(
    layout: Layout,
    stage: str,
    args: JSONDict,
    *,
    label: str | None = None,
    home: Path | None = None,
    timeout_s: float,
) -> StageRun:
    """Run `stage` in a child interpreter; its result and its own peak RSS."""
    name = label or stage
    request_path = layout.stages / f"{name}.request.json"
    result_path = layout.stages / f"{name}.result.json"
    log_path = layout.logs / f"{name}.log"
    result_path.unlink(missing_ok=True)
    request_path.write_text(
        json.dumps({"stage": stage, "args": args, "result": str(result_path)}, indent=1)
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_SOURCE_ROOT), env.get("PYTHONPATH", "")) if p
    )
    if home is not None:
        env["HOME"] = str(home)
    command = [sys.executable, "-m", MODULE, STAGE_FLAG, str(request_path)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=layout.run
        )
        timed_out = threading.Event()

        def kill_on_timeout() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout_s, kill_on_timeout)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
    try:
        payload = json.loads(result_path.read_text())
    except (OSError, ValueError):
        cause = f"killed after {timeout_s:g} s" if timed_out.is_set() else "the process died"
        payload = {"ok": False, "error": f"no result ({cause})"}
    if not payload.get("ok") or process.returncode != 0:
        raise BenchmarkError(
            f"ezkl stage {name!r} failed (exit code {process.returncode}): "
            f"{payload.get('error', 'no error reported')}\n"
            f"log {log_path}:\n{_log_tail(log_path)}"
        )
    result: JSONDict = payload["result"]
    # KiB on Linux; ru_maxrss only without /proc (it may include the caller's size).
    peak_kib = payload.get("peak_rss_kib") or usage.ru_maxrss
    return StageRun(result=result, peak_rss_mib=peak_kib / 1024)
