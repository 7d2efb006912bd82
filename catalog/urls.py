from django.urls import path

from . import views

app_name = "catalog"
urlpatterns = [
    path("", views.shop, name="shop"),
    path("p/<str:code>/", views.product_detail, name="product"),
    path("cart/", views.cart, name="cart"),
]
