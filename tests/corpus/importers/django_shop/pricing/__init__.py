"""Invoice pricing, importable from the package."""

from .tax import Basket, vat

__all__ = ["Basket", "vat"]
