from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models


class Product(models.Model):
    """A product in the catalogue."""

    name = models.CharField(max_length=80)
    sku = models.CharField(max_length=20, unique=True)
    price = models.DecimalField(max_digits=8, decimal_places=2)

    def __str__(self) -> str:
        """The product's name, as the admin lists it."""
        return self.name

    def clean(self) -> None:
        """Refuse a negative price, or a SKU without a family prefix such as TEA-0042."""
        if self.price is not None and self.price < 0:
            raise ValidationError({"price": "Price cannot be negative."})
        if "-" not in self.sku:
            raise ValidationError({"sku": "A SKU needs a family prefix, e.g. TEA-0042."})

    def discounted_price(self, percent: int) -> Decimal:
        """Price after a percentage discount, rounded to cents; percent must be from 0 to 100."""
        if not 0 <= percent <= 100:
            raise ValueError(f"discount out of range: {percent}")
        return (self.price * (100 - percent) / 100).quantize(Decimal("0.01"))
