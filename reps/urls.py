from django.contrib.auth.views import LogoutView
from django.urls import path

from . import views

app_name = "rep"
urlpatterns = [
    path("", views.assistant, name="assistant"),
    path("login/", views.RepLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(next_page="rep:login"), name="logout"),
    path("customers/<int:customer_id>/", views.customer_page, name="customer"),
    path("nearby/", views.nearby, name="nearby"),
    path("qr.png", views.qr_png, name="qr"),
    path("contact-qr.png", views.contact_qr, name="contact-qr"),
    path("card/", views.card, name="card"),
]
