from django.urls import path

from aftersales import views as aftersales_views
from coupons import views as coupons_views
from notifications import views as notifications_views
from usuals import views as usuals_views

from . import views

app_name = "catalog"
urlpatterns = [
    path("", views.shop, name="shop"),
    path("p/<str:code>/", views.product_detail, name="product"),
    path("cart/", views.cart, name="cart"),
    path("checkout/", views.checkout, name="checkout"),
    path("orders/", views.orders, name="orders"),
    path("usuals/", usuals_views.usuals, name="usuals"),
    path("coupons/", coupons_views.coupons, name="coupons"),
    path("messages/", notifications_views.messages_page, name="messages"),
    path("orders/<uuid:order_id>/", views.order_detail, name="order"),
    path("orders/<uuid:order_id>/aftersales/", aftersales_views.aftersales_new, name="aftersales-new"),
    path("aftersales/", aftersales_views.aftersales_list, name="aftersales-list"),
    path("aftersales/<int:request_id>/", aftersales_views.aftersales_detail, name="aftersales"),
]
