"""Links into the running demo: the shop as a rep's QR code opens it, the back office, the API docs."""

from urllib.parse import quote, urlencode

from django.urls import reverse

from reps.models import Rep

# WeChat's scene value for "scanned a mini-program code" (扫描小程序码).
LAUNCH_SCENE_SCAN = 1047


def rep_entry_url(*, rep: Rep, host: str) -> str:
    """What a scan of the rep's mini-program code opens: the shop with the code's `scene`."""
    query = urlencode({"scene": rep.scene, "launch_scene": LAUNCH_SCENE_SCAN}, quote_via=quote)
    return f"http://{host}{reverse('catalog:shop')}?{query}"


def demo_reps(*, limit: int) -> list[Rep]:
    """The active reps whose links the demo shows, first by name."""
    return list(Rep.objects.filter(is_active=True).select_related("user").order_by("name", "id")[:limit])


def admin_url(*, host: str) -> str:
    return f"http://{host}{reverse('admin:index')}"


def api_docs_url(*, host: str) -> str:
    return f"http://{host}{reverse('api-docs')}"
