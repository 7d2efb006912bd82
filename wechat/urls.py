from django.urls import path

from . import views

app_name = "wechat"
urlpatterns = [
    path("login", views.dev_login, name="dev-login"),
]
