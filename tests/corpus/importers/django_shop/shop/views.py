from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404

from .models import Product


def product_detail(request: HttpRequest, pk: int) -> JsonResponse:
    """One product's name, SKU and price as JSON; 404 when there is no such product."""
    product = get_object_or_404(Product, pk=pk)
    return JsonResponse({"name": product.name, "sku": product.sku, "price": str(product.price)})
