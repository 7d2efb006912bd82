"""The mini-site's pages. They are shells: data and every cart change go through /api/v1/."""

from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from . import selectors


@ensure_csrf_cookie
def shop(request):
    return render(request, "shop/shop.html", {"categories": selectors.category_tree()})


@ensure_csrf_cookie
def product_detail(request, code: str):
    return render(request, "shop/product.html", {"code": code})


@ensure_csrf_cookie
def cart(request):
    return render(request, "shop/cart.html", {})
