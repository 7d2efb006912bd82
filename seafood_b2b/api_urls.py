"""Version 1 of the JSON API: what a real WeChat mini program calls."""

from django.urls import path

from catalog import api as catalog_api
from customers import api as customers_api

urlpatterns = [
    path("auth/session", customers_api.SessionApi.as_view(), name="auth-session"),
    path("catalog/categories", catalog_api.CategoryListApi.as_view(), name="category-list"),
    path("catalog/products", catalog_api.ProductListApi.as_view(), name="product-list"),
    path("catalog/products/<str:code>", catalog_api.ProductDetailApi.as_view(), name="product-detail"),
    path("cart", catalog_api.CartApi.as_view(), name="cart"),
    path("cart/lines", catalog_api.CartLineListApi.as_view(), name="cart-lines"),
    path("cart/lines/<int:product_id>", catalog_api.CartLineDetailApi.as_view(), name="cart-line"),
]
