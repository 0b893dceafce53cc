"""The run's metadata: when, where, on what machine load, with which versions and options."""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import asdict, dataclass

from zkai.bench.common import JSONDict, installed_version, tool_version
from zkai.bench.options import BenchOptions
from zkai.errors import ZKAIError

__all__ = ["RunMetadata", "collect_metadata"]


@dataclass(frozen=True)
class RunMetadata:
    """The machine and software a run measured, and its options; the run's duration and the
    load at its end once it is over."""

    date: str
    host: str
    platform: str
    cpu_count: int | None
    load_average_at_start: tuple[float, ...]
    cpu_note: str | None
    python: str
    versions: dict[str, str | None]
    options: BenchOptions
    duration_s: float | None = None
    load_average_at_end: tuple[float, ...] | None = None

    def to_json(self) -> JSONDict:
        data: JSONDict = {
            "date": self.date,
            "host": self.host,
            "platform": self.platform,
            "cpu_count": self.cpu_count,
            "load_average_at_start": list(self.load_average_at_start),
            "cpu_note": self.cpu_note,
            "python": self.python,
            "versions": dict(self.versions),
            "options": asdict(self.options),
        }
        if self.duration_s is not None:
            data["duration_s"] = self.duration_s
        if self.load_average_at_end is not None:
            data["load_average_at_end"] = list(self.load_average_at_end)
        return data


def load_average() -> tuple[float, ...]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return tuple(round(v, 2) for v in os.getloadavg())


def collect_metadata(options: BenchOptions) -> RunMetadata:
    """The metadata at the start of a run (solc and anvil asked for their versions)."""
    from zkai.toolchain import require_tool, solc_path

    anvil: str | None
    try:
        anvil = tool_version([require_tool("anvil"), "--version"])
    except ZKAIError:
        anvil = None
    load = os.getloadavg()
    return RunMetadata(
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        host=platform.node(),
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        load_average_at_start=tuple(round(v, 2) for v in load),
        cpu_note="2-core machine shared with other jobs; times include that contention"
        if (os.cpu_count() or 0) <= 2 or load[0] > 0.5
        else None,
        python=platform.python_version(),
        versions={
            "groth16py": installed_version("groth16py"),
            "ezkl": installed_version("ezkl"),
            "tenseal": installed_version("tenseal"),
            "numpy": installed_version("numpy"),
            "web3": installed_version("web3"),
            "solc": tool_version([str(solc_path()), "--version"]),
            "anvil": anvil,
        },
        options=options,
    )
