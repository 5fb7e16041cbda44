from decimal import Decimal

import pytest
from pricing import Basket, tax


@pytest.fixture
def basket():
    return Basket()


def test_vat_standard_rate():
    assert tax.vat(Decimal("100")) == Decimal("20.00")


def test_vat_reduced_rate():
    assert tax.vat(Decimal("10"), "reduced") == Decimal("0.50")


class TestBasket:
    def test_gross_adds_vat_per_line(self, basket):
        basket.add(Decimal("100"))
        basket.add(Decimal("10"), "zero")
        assert basket.gross() == Decimal("130.00")

    def test_unknown_rate_is_refused_on_add(self, basket):
        with pytest.raises(KeyError):
            basket.add(Decimal("1"), "luxury")
