"""What the benchmark sections share: statistics, timing, memory, versions and the demo input.

Standard library only at import time: the ezkl stage children import this module too
(`percentile`), and their memory is measured.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

__all__ = [
    "JSONDict",
    "Progress",
    "SampleStats",
    "installed_version",
    "ms",
    "peak_rss_mib",
    "percentile",
    "ratio",
    "reset_peak_rss",
    "rss_mib",
    "sample_input",
    "stats_ms",
    "time_call",
    "tool_version",
]

JSONDict = dict[str, Any]
Progress = Callable[[str], None]


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 1]) of a non-empty sample (numpy's default)."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ms(seconds: float) -> float:
    """Seconds as milliseconds, rounded to the microsecond."""
    return round(seconds * 1000.0, 3)


def ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    """a / b rounded, or None when either is unknown or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return round(a / b, digits)


@dataclass(frozen=True)
class SampleStats:
    """A sample of durations in ms: median, p90, extremes and size."""

    median: float
    p90: float
    min: float
    max: float
    samples: int


def stats_ms(samples_s: Sequence[float]) -> SampleStats:
    """The statistics of a sample of durations given in seconds, in ms."""
    values = [s * 1000.0 for s in samples_s]
    return SampleStats(
        median=round(statistics.median(values), 3),
        p90=round(percentile(values, 0.9), 3),
        min=round(min(values), 3),
        max=round(max(values), 3),
        samples=len(values),
    )


def time_call(
    call: Callable[[], object], *, budget_s: float = 0.2, max_iter: int = 20_000
) -> float:
    """Median seconds per call of a fast function, from batches that fill about `budget_s`."""
    call()
    started = time.perf_counter()
    call()
    once = max(time.perf_counter() - started, 1e-7)
    per_batch = max(1, min(max_iter, int(0.02 / once)))
    batches: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(batches) < 5 or (time.perf_counter() < deadline and len(batches) < 50):
        t0 = time.perf_counter()
        for _ in range(per_batch):
            call()
        batches.append((time.perf_counter() - t0) / per_batch)
    return statistics.median(batches)


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident set (or another /proc/self/status field) in MiB; NaN off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def peak_rss_mib() -> float:
    """This process's resident-set high-water mark (VmHWM) in MiB."""
    return rss_mib("VmHWM")


def reset_peak_rss() -> None:
    """Reset this process's VmHWM (Linux: writing 5 to clear_refs); no-op where unsupported."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def installed_version(package: str) -> str | None:
    """The installed distribution's version, or None when it is not installed."""
    try:
        return package_version(package)
    except PackageNotFoundError:
        return None


def tool_version(command: list[str]) -> str | None:
    """The first line with a version number that `command` prints, or None if it cannot run."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    for line in lines:
        if re.search(r"\d+\.\d+\.\d+", line):
            return line.strip()
    return lines[0].strip() if lines else None


def sample_input(name: str) -> list[float]:
    """The first test input of a demo model, as floats."""
    from zkai.models.demo import load_split

    return [float(v) for v in load_split(name).x_test[0]]
