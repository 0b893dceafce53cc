"""A manifest's part: the blocks one set of nodes hosts, in the order its rounds evaluate them.

Part p's round i evaluates block `schedule[(i-1) % len(schedule)]`. `max_rounds` (R_max) is the slot
count of the part's circuit; `max_budget` (>= R_max) the most rounds one assignment may buy, claimed
in chunks of R_max rounds when it exceeds R_max (PROTOCOL.md step 4, "Chunks"), which needs
R_max % len(schedule) == 0 so that every chunk's circuit slots hold the same blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zkai.errors import ModelFormatError

__all__ = ["MAX_ROUNDS", "Part", "parse_part"]

MAX_ROUNDS = 1024


@dataclass(frozen=True)
class Part:
    """A group of blocks that one set of nodes hosts, its circuit's slot count R_max, and the
    largest budget an assignment of it may get (`max_budget`, default R_max).

    A budget above R_max is claimed in chunks of at most R_max rounds; chunk slot j is round
    n0 + j + 1 with n0 a multiple of R_max, so such a part needs R_max % len(schedule) == 0 for
    the circuit's constant block schedule to line up with every chunk.
    """

    index: int
    schedule: tuple[int, ...]
    max_rounds: int
    max_budget: int = 0  # 0: equal to max_rounds (set in __post_init__)

    def __post_init__(self) -> None:
        if self.max_budget == 0:
            object.__setattr__(self, "max_budget", self.max_rounds)
        budget = self.max_budget
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise ModelFormatError(f"part {self.index}: max_budget must be an integer")
        if not self.max_rounds <= budget <= MAX_ROUNDS:
            raise ModelFormatError(
                f"part {self.index}: max_budget must be in max_rounds..{MAX_ROUNDS} "
                f"({self.max_rounds}..{MAX_ROUNDS}), got {budget}"
            )
        if budget > self.max_rounds and self.max_rounds % len(self.schedule) != 0:
            raise ModelFormatError(
                f"part {self.index}: max_budget {budget} > max_rounds {self.max_rounds} needs "
                f"max_rounds to be a multiple of the schedule length {len(self.schedule)} "
                "(chunks start at multiples of max_rounds); raise max_rounds to a multiple "
                "or set max_budget to max_rounds"
            )

    @property
    def chunked(self) -> bool:
        """Whether an assignment of this part may be claimed in more than one chunk."""
        return self.max_budget > self.max_rounds

    def block_for_round(self, i: int) -> int:
        """The block round i (1-based) evaluates: schedule[(i-1) % len(schedule)]."""
        if not isinstance(i, int) or isinstance(i, bool) or i < 1:
            raise ModelFormatError(f"rounds are numbered from 1, got {i!r}")
        return self.schedule[(i - 1) % len(self.schedule)]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schedule": list(self.schedule), "max_rounds": self.max_rounds}
        if self.max_budget != self.max_rounds:
            data["max_budget"] = self.max_budget
        return data


_PART_FIELDS = frozenset({"schedule", "max_rounds"})


def parse_part(data: object, index: int, blocks: int) -> Part:
    if (
        not isinstance(data, Mapping)
        or not set(data) >= _PART_FIELDS
        or not set(data) <= _PART_FIELDS | {"max_budget"}
    ):
        raise ModelFormatError(
            f"part {index} must be an object with schedule and max_rounds (and optionally "
            "max_budget)"
        )
    schedule, max_rounds = data["schedule"], data["max_rounds"]
    if (
        not isinstance(schedule, Sequence)
        or isinstance(schedule, str)
        or not schedule
        or not all(isinstance(b, int) and not isinstance(b, bool) for b in schedule)
    ):
        raise ModelFormatError(f"part {index}: schedule must be a non-empty list of block indices")
    for b in schedule:
        if not 0 <= b < blocks:
            raise ModelFormatError(f"part {index}: block {b} does not exist (0..{blocks - 1})")
    if not isinstance(max_rounds, int) or isinstance(max_rounds, bool):
        raise ModelFormatError(f"part {index}: max_rounds must be an integer")
    if not 1 <= max_rounds <= MAX_ROUNDS:
        raise ModelFormatError(f"part {index}: max_rounds must be in 1..{MAX_ROUNDS}")
    max_budget = data.get("max_budget", max_rounds)
    if not isinstance(max_budget, int) or isinstance(max_budget, bool):
        raise ModelFormatError(f"part {index}: max_budget must be an integer")
    if max_budget == 0:
        raise ModelFormatError(f"part {index}: max_budget must be in max_rounds..{MAX_ROUNDS}")
    return Part(index, tuple(schedule), max_rounds, max_budget)
