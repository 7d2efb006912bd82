"""Phone pages for purchasing drivers, the warehouse and delivery drivers. Each part keeps its
own views module and URL list so they can grow independently."""

from django.urls import include, path

from .views import delivery, packing, purchasing, receiving

app_name = "logistics"
urlpatterns = [
    path("", include(purchasing.login_urlpatterns)),  # /ops/login/, /ops/logout/ for every staff page
    path("purchasing/", include(purchasing.urlpatterns)),
    path("receiving/", include(receiving.urlpatterns)),
    path("packing/", include(packing.urlpatterns)),
    path("delivery/", include(delivery.urlpatterns)),
]
