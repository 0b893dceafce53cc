"""What one `zkai bench` run measures: the command's options."""

from __future__ import annotations

from dataclasses import dataclass

from zkai.circuits.prove import WitnessPath

__all__ = ["BenchOptions"]


@dataclass(frozen=True)
class BenchOptions:
    repeats: int = 10
    queries: int = 10
    users: int = 4
    quick: bool = False
    full: bool = False
    skip_e2e: bool = False
    skip_ezkl: bool = False
    witness: WitnessPath = "auto"
