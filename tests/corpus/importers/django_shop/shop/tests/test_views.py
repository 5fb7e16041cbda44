from decimal import Decimal

from django.test import RequestFactory, TestCase

from shop.models import Product
from shop.views import product_detail


class ProductDetailTests(TestCase):
    def test_detail_as_json(self):
        tea = Product.objects.create(name="Green tea", sku="TEA-0042", price=Decimal("10.00"))
        response = product_detail(RequestFactory().get("/"), tea.pk)
        self.assertEqual(response.status_code, 200)
