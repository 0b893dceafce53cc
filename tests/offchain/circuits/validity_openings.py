"""Round 1's openings as the client deals them, for the validity circuit tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zkai.crypto.field import encode_signed_vector
from zkai.crypto.sharing import random_field_element, random_vector, split
from zkai.models.rule import ValidityRule


@dataclass(frozen=True)
class Opening:
    share: tuple[int, ...]
    mask: tuple[int, ...]
    salt: int


def deal_openings(
    rule: ValidityRule, x: Sequence[int], k: int = 2, salt: int | None = None
) -> list[Opening]:
    """Shares of the signed input x for k nodes, each with a fresh mask and salt (or all with
    `salt`: a language model's round 1, whose salt is the prompt's digest)."""
    return [
        Opening(
            tuple(s),
            tuple(random_vector(rule.mask_size)),
            random_field_element() if salt is None else salt,
        )
        for s in split(encode_signed_vector(list(x)), k)
    ]


def fresh_tags(k: int = 2) -> list[int]:
    """k random assignment tags (the market's are field elements)."""
    return [random_field_element() for _ in range(k)]
