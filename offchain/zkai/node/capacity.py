"""Check (f) of a round: can the node's prover still finish every proof it owes in time?

A simple model of the prover's queue. Every open assignment owes one proof, which costs the part's
measured proving time (a proof costs R_max slots whatever the round count; until a part has been
proven once, a configured estimate), and can start once the assignment is complete: at once when
its budget is reached, else at its round deadline t_R. The `workers` claim workers take the jobs
earliest proof deadline first; the node accepts a new round only if, with the new assignment
added, every job finishes `margin_s` before its t_P.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ProofJob", "first_late_job"]


@dataclass(frozen=True)
class ProofJob:
    key: str
    ready_at: float
    seconds: float
    deadline: float


def first_late_job(
    jobs: Sequence[ProofJob], *, now: float, workers: int, margin_s: float
) -> tuple[ProofJob, float] | None:
    """The first job that would finish after its deadline minus the margin, with its finish
    time; None if every job is on time."""
    free = [now] * max(1, workers)
    heapq.heapify(free)
    for job in sorted(jobs, key=lambda j: (j.deadline, j.ready_at)):
        start = max(heapq.heappop(free), job.ready_at, now)
        finish = start + job.seconds
        heapq.heappush(free, finish)
        if finish > job.deadline - margin_s:
            return job, finish
    return None
