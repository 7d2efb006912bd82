from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from campaigns.views import campaign_link
from core.views import favicon, healthz, media, readyz
from logistics.views.receiving import batch_trace
from orders.api import wechatpay_notify
from reps.wecom_views import wecom_callback

admin.site.site_header = "海鲜批发 · 运营后台"
admin.site.site_title = "海鲜批发后台"
admin.site.index_title = "运营管理"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="catalog:shop", permanent=False)),
    path("admin/company-dashboard/", include("dashboard.urls")),  # 公司经营看板 (before admin's catch-all)
    path("admin/", admin.site.urls),
    path("api/v1/", include(("seafood_b2b.api_urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script for the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("favicon.ico", favicon, name="favicon"),
    path("payments/wechatpay/notify", wechatpay_notify, name="wechatpay-notify"),
    path("wecom/callback", wecom_callback, name="wecom-callback"),
    path("shop/complaints/", include("complaints.urls")),
    path("shop/", include("catalog.urls")),
    path("rep/", include("reps.urls")),
    path("ops/", include("logistics.urls")),
    path("t/<str:code>/", batch_trace, name="batch-trace"),
    path("go/<str:token>", campaign_link, name="campaign-link"),
]

# The dev backend's stand-ins for the WeChat client (log in as anyone, confirm a payment without
# paying) exist only while that backend is on; with WECHAT_BACKEND=real these addresses are 404s.
if settings.WECHAT_BACKEND == "dev":
    urlpatterns.append(path("wechat-dev/", include("wechat.urls")))

if settings.SERVE_MEDIA:
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", media, name="media")]

handler400 = "core.views.bad_request"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
handler403 = "core.views.permission_denied"
