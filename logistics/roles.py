"""Who may do what in the warehouse and on the road. Roles are Django groups (set in admin);
drivers also have a Driver row (kind, vehicle, capacity)."""

from django.contrib.auth.models import Group

from core.errors import PermissionDenied

from .models import Driver

WAREHOUSE_GROUP = "仓管"
PURCHASING_GROUP = "进货司机"
DELIVERY_GROUP = "送货司机"


def is_warehouse_clerk(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active
                and (user.is_superuser or user.groups.filter(name=WAREHOUSE_GROUP).exists()))


def require_warehouse_clerk(user) -> None:
    if not is_warehouse_clerk(user):
        raise PermissionDenied("仅限仓库人员", code="not_warehouse")


def driver_for_user(user, *, kind: str) -> Driver:
    """The active driver of this kind behind a login; anyone else is refused."""
    driver = getattr(user, "driver", None) if user and user.is_authenticated else None
    if driver is None or driver.kind != kind or not driver.is_active or not user.is_active:
        label = dict(Driver.Kind.choices)[kind]
        raise PermissionDenied(f"仅限在职{label}使用", code="not_a_driver")
    if driver.is_suspended:  # even if someone switched the login back on by hand
        raise PermissionDenied("账号已被暂停，请联系管理人员", code="driver_suspended")
    return driver


def ensure_groups() -> None:
    for name in (WAREHOUSE_GROUP, PURCHASING_GROUP, DELIVERY_GROUP):
        Group.objects.get_or_create(name=name)
