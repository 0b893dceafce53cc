"""Token amounts: the parser, the one wei-per-token constant, the display formatter."""

from __future__ import annotations

import pytest

from zkai.errors import InvalidAmountError
from zkai.units import ETHER, format_amount, tokens_to_wei


def test_ETHER_is_ten_to_the_eighteen() -> None:
    assert ETHER == 1_000_000_000_000_000_000


@pytest.mark.parametrize(
    ("wei", "shown"),
    [
        (0, "0"),
        (2 * 10**18, "2"),
        (15 * 10**17, "1.5"),
        (10**18 // 3, "0.333333"),
        (10_000 * 10**18, "10000"),
        (123_456_789 * 10**12, "123.457"),
    ],
)
def test_format_amount_shows_six_significant_digits(wei: int, shown: str) -> None:
    assert format_amount(wei) == shown


def test_tokens_to_wei_inverts_format_amount_for_short_amounts() -> None:
    for text in ("0", "1", "1.5", "2000", "0.000001"):
        assert format_amount(tokens_to_wei(text)) == f"{float(text):g}"


@pytest.mark.parametrize("text", ["abc", "-1", "inf", "1.0000000000000000001"])
def test_tokens_to_wei_refuses_what_is_not_an_amount(text: str) -> None:
    with pytest.raises(InvalidAmountError):
        tokens_to_wei(text)
