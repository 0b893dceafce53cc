"""Token amounts as people type them (ZKAI, decimals allowed), as contracts take them (wei), and
as the command lines show them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from zkai.errors import InvalidAmountError

__all__ = ["ETHER", "TOKEN_DECIMALS", "format_amount", "tokens_to_wei"]

TOKEN_DECIMALS = 18
ETHER: int = 10**TOKEN_DECIMALS
"""One ZKAI in wei, and one ether (both have 18 decimals): Solidity's `1 ether`."""


def format_amount(wei: int) -> str:
    """An 18-decimal amount (ZKAI or ETH) for people, in whole units to six significant digits:
    `2`, `1.5`, `0.333333`. The API's exact decimal strings are `zkai.api.schemas.Amount`."""
    return f"{wei / ETHER:g}"


def tokens_to_wei(amount: str) -> int:
    """'1.5' -> 1.5e18; `InvalidAmountError` for anything that is not a finite, non-negative
    amount with at most 18 decimals."""
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise InvalidAmountError(f"not an amount: {amount!r} (write ZKAI, e.g. 2.5)") from None
    if not value.is_finite() or value < 0:
        raise InvalidAmountError(f"not a valid ZKAI amount: {amount!r}")
    wei = value.scaleb(TOKEN_DECIMALS)
    if wei != wei.to_integral_value():
        raise InvalidAmountError(f"{amount!r} has more than {TOKEN_DECIMALS} decimals")
    return int(wei)
