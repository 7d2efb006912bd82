"""Links into the running demo: the shop as a rep's QR code opens it, the rep assistant, the
warehouse and drivers' pages, the back office, the API docs — with the demo logins for each."""

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.contrib.auth import get_user_model
from django.db.models import F
from django.urls import reverse

from reps.models import Rep

# WeChat's scene value for "scanned a mini-program code" (扫描小程序码).
LAUNCH_SCENE_SCAN = 1047


@dataclass(frozen=True)
class StaffLogin:
    role: str
    username: str
    password: str


def rep_entry_url(*, rep: Rep, host: str) -> str:
    """What a scan of the rep's mini-program code opens: the shop with the code's `scene`."""
    query = urlencode({"scene": rep.scene, "launch_scene": LAUNCH_SCENE_SCAN}, quote_via=quote)
    return f"http://{host}{reverse('catalog:shop')}?{query}"


def demo_reps(*, limit: int) -> list[Rep]:
    """The active reps whose links the demo shows: those with a login first, by username (rep01,
    rep02, …), so the entry link printed beside the login `rep01` is rep01's own code and an order
    placed through it reaches rep01's feed; reps without a login after them, by name."""
    return list(
        Rep.objects.filter(is_active=True).select_related("user")
        .order_by(F("user__username").asc(nulls_last=True), "name", "id")[:limit]
    )


def demo_staff_logins() -> list[StaffLogin]:
    """The first login of each warehouse and driver role present (clerk01, purchase01, delivery01)."""
    from logistics.roles import DELIVERY_GROUP, PURCHASING_GROUP, WAREHOUSE_GROUP

    from .logistics import CLERK_PASSWORD, DRIVER_PASSWORD

    roles = ((WAREHOUSE_GROUP, CLERK_PASSWORD), (PURCHASING_GROUP, DRIVER_PASSWORD), (DELIVERY_GROUP, DRIVER_PASSWORD))
    logins = []
    for group, password in roles:
        username = (get_user_model().objects.filter(groups__name=group, is_active=True).order_by("username")
                    .values_list("username", flat=True).first())
        if username:
            logins.append(StaffLogin(role=group, username=username, password=password))
    return logins


def rep_assistant_url(*, host: str) -> str:
    return f"http://{host}{reverse('rep:assistant')}"


def ops_login_url(*, host: str) -> str:
    return f"http://{host}{reverse('logistics:ops-login')}"


def admin_url(*, host: str) -> str:
    return f"http://{host}{reverse('admin:index')}"


def api_docs_url(*, host: str) -> str:
    return f"http://{host}{reverse('api-docs')}"
