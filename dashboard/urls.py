from django.contrib import admin
from django.urls import path

from . import views

app_name = "dashboard"

# Under /admin/, through the admin site's own login and staff check (admin_view).
urlpatterns = [
    path("", admin.site.admin_view(views.company_dashboard_view), name="company"),
    path("<slug:table>.csv", admin.site.admin_view(views.company_dashboard_csv), name="company-csv"),
]
