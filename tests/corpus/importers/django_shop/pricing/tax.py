"""VAT arithmetic for invoices, kept free of Django so scripts can use it."""

from __future__ import annotations

from decimal import Decimal

RATES = {"standard": Decimal("0.20"), "reduced": Decimal("0.05"), "zero": Decimal("0")}


def vat(net: Decimal, rate: str = "standard") -> Decimal:
    """VAT due on a net amount at a named rate, rounded to cents."""
    return (net * RATES[rate]).quantize(Decimal("0.01"))


class Basket:
    """Lines of (net amount, rate name) on one invoice."""

    def __init__(self) -> None:
        self.lines: list[tuple[Decimal, str]] = []

    def add(self, net: Decimal, rate: str = "standard") -> None:
        """Add a line; an unknown rate name raises KeyError at once, not at checkout."""
        RATES[rate]
        self.lines.append((net, rate))

    def gross(self) -> Decimal:
        """Total of the lines with their VAT."""
        return sum((net + vat(net, rate) for net, rate in self.lines), Decimal("0"))
