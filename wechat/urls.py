from django.urls import path

from . import views

app_name = "wechat"
urlpatterns = [
    path("login", views.dev_login, name="dev-login"),
    path("phone-code", views.dev_phone_code, name="dev-phone-code"),
    path("pay/confirm", views.dev_pay_confirm, name="dev-pay-confirm"),
    path("pay/<str:prepay_id>", views.dev_pay_sheet, name="dev-pay-sheet"),
    path("wecom/add/<str:config_id>", views.dev_wecom_add, name="dev-wecom-add"),
]
