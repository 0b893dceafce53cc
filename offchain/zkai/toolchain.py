"""Locating the external tools the project drives: solc (via py-solc-x's lookup), anvil, node."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from zkai.errors import ToolchainError

SOLC_VERSION = "0.8.37"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ToolStatus:
    name: str
    path: str | None
    version: str | None
    fix: str

    @property
    def ok(self) -> bool:
        return self.path is not None and self.version is not None


def solc_path() -> Path:
    """Where py-solc-x and ape-solidity look for the pinned compiler."""
    base = Path(os.environ.get("SOLCX_BINARY_PATH", Path.home() / ".solcx"))
    return base / f"solc-v{SOLC_VERSION}"


def _first_line(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line for line in out.splitlines() if line.strip()]
    return lines[-1].strip() if lines else None


def _search_path() -> str:
    """PATH with this interpreter's bin folder first: the set-up step links anvil there."""
    return os.pathsep.join([str(Path(sys.prefix) / "bin"), os.environ.get("PATH", "")])


def check_tools() -> list[ToolStatus]:
    """What `zkai doctor` reports: each tool, where it is, its version, and how to fix it."""
    setup_fix = "run `make setup` in the repository"
    solc = solc_path()
    statuses = [
        ToolStatus(
            "solc",
            str(solc) if solc.exists() else None,
            _first_line([str(solc), "--version"]) if solc.exists() else None,
            setup_fix,
        )
    ]
    for name, fix in (
        ("anvil", setup_fix),
        ("node", "install Node.js >= 18 (Debian: apt-get install nodejs npm)"),
        ("redis-server", "install Redis (Debian: apt-get install redis-server)"),
    ):
        found = shutil.which(name, path=_search_path())
        version = _first_line([found, "--version"]) if found else None
        statuses.append(ToolStatus(name, found, version, fix))
    return statuses


def require_tool(name: str) -> str:
    """The path of an external tool, or a `ToolchainError` that says how to install it."""
    for status in check_tools():
        if status.name == name:
            if not status.ok or status.path is None:
                raise ToolchainError(f"{name} is not available: {status.fix}")
            return status.path
    raise ToolchainError(f"unknown tool {name!r}")


def load_module_from_path(name: str, path: Path) -> ModuleType:
    """Import a repository file by path (ape scripts, test helpers).

    Used where a package name would be ambiguous: an unrelated `tests` package installed in
    site-packages can shadow the repository's own.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ToolchainError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
