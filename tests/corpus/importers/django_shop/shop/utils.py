"""Small helpers shared by the shop's views and reports."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def format_price(amount: Decimal, currency: str = "EUR") -> str:
    """Format an amount with two decimals and its currency code, e.g. '12.50 EUR'."""
    return f"{_round_cents(amount)} {currency}"


def parse_quantity(text: str) -> int:
    """Read a quantity a customer typed: a whole number from 1 to 99, spaces allowed.

    Anything else raises ValueError.
    """
    value = int(text.strip())
    if not 1 <= value <= 99:
        raise ValueError(f"quantity out of range: {value}")
    return value


def split_sku(sku: str) -> tuple[str, int]:
    """Split a SKU such as 'TEA-0042' into its family and its number."""
    family, _, number = sku.partition("-")
    return family, int(number)


def _round_cents(amount: Decimal) -> Decimal:
    """Round half up to whole cents."""
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def normalise_sku(sku):
    return sku.strip().upper()
