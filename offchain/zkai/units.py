"""Token amounts as people type them (ZKAI, decimals allowed) and as contracts take them (wei)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from zkai.errors import InvalidAmountError

__all__ = ["TOKEN_DECIMALS", "tokens_to_wei"]

TOKEN_DECIMALS = 18


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
