"""What one `zkai bench` run measures: the command's options."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ROUNDS_MAX", "BenchOptions"]

ROUNDS_MAX = 4
"""The slot count of the multi-round circuit (the digits block)."""


@dataclass(frozen=True)
class BenchOptions:
    repeats: int = 10
    queries: int = 10
    users: int = 4
    quick: bool = False
    skip_gas: bool = False
    skip_e2e: bool = False
    skip_ezkl: bool = False
    skip_reliability: bool = False

    @property
    def round_counts(self) -> tuple[int, ...]:
        """Active rounds proved in the R_max circuit."""
        return (1, ROUNDS_MAX) if self.quick else tuple(range(1, ROUNDS_MAX + 1))

    @property
    def gas_queries(self) -> int:
        return 2 if self.quick else max(2, min(self.queries, 5))
