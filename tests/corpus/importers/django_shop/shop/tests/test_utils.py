from decimal import Decimal

import pytest

from shop.utils import format_price, parse_quantity


def test_format_price_rounds_half_up():
    assert format_price(Decimal("2.005")) == "2.01 EUR"


def test_format_price_other_currency():
    assert format_price(Decimal("10"), "USD") == "10.00 USD"


def test_parse_quantity_strips_spaces():
    assert parse_quantity(" 3 ") == 3


def test_parse_quantity_refuses_zero():
    with pytest.raises(ValueError):
        parse_quantity("0")


def test_parse_quantity_reads_words():
    # stale: written for a version that understood "two"; fails on the current code
    assert parse_quantity("two") == 2
