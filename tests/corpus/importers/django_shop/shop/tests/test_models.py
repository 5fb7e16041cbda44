from decimal import Decimal

from django.core.exceptions import ValidationError
from django.test import TestCase

from shop.models import Product
from shop.utils import format_price


class ProductTests(TestCase):
    def setUp(self):
        self.tea = Product.objects.create(name="Green tea", sku="TEA-0042", price=Decimal("10.00"))

    def test_discounted_price(self):
        self.assertEqual(self.tea.discounted_price(15), Decimal("8.50"))

    def test_discount_above_100_is_refused(self):
        with self.assertRaises(ValueError):
            self.tea.discounted_price(120)

    def test_clean_refuses_negative_price(self):
        self.tea.price = Decimal("-1.00")
        with self.assertRaises(ValidationError):
            self.tea.clean()

    def test_clean_refuses_sku_without_family(self):
        self.tea.sku = "0042"
        with self.assertRaises(ValidationError):
            self.tea.clean()


class FormatPriceTests(TestCase):
    def test_whole_amount_gets_cents(self):
        self.assertEqual(format_price(Decimal("7")), "7.00 EUR")
