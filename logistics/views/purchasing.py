"""Pages of the purchasing driver (/ops/purchasing/), and the staff login shared by the
warehouse and driver pages (/ops/login/).

A driver sees the tasks assigned to them for today and tomorrow, goes to each supplier (address
and a map link) and confirms what was collected. Another driver's task is a 404.
"""

from datetime import timedelta
from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView, LogoutView
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError, NotFound
from core.errors import PermissionDenied as NotAllowed

from ..models import Driver, PurchaseTask
from ..purchasing import CollectedLine, purchase_task_confirm, purchase_task_for_driver, purchase_tasks_for_driver
from ..roles import driver_for_user, is_warehouse_clerk

LOGIN_URL = "logistics:ops-login"


# --- Login shared by the staff phone pages -----------------------------------------------------

def _landing(user) -> str | None:
    """Where a staff member starts: their own part of the warehouse pages."""
    driver = getattr(user, "driver", None)
    if driver is not None and driver.is_active:
        if driver.kind == Driver.Kind.PURCHASING:
            return reverse("logistics:purchasing-tasks")
        return "/ops/delivery/"
    if is_warehouse_clerk(user):
        return reverse("logistics:receiving-new")
    return None


class OpsAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "账号或密码不正确",
        "not_staff": "此账号不是仓库人员或司机，无法登录",
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if _landing(user) is None:
            raise forms.ValidationError(self.error_messages["not_staff"], code="not_staff")


class OpsLoginView(LoginView):
    template_name = "ops/login.html"
    authentication_form = OpsAuthenticationForm

    def get_default_redirect_url(self):
        return _landing(self.request.user) or reverse(LOGIN_URL)


def forbidden(request, message: str):
    return render(request, "ops/forbidden.html", {"message": message}, status=403)


def staff_page(check):
    """Signed in (else to /ops/login/), and `check(user)` passes (else a 403 page with a way out).
    `check` returns what the view needs (the driver) or raises core's PermissionDenied."""

    def decorator(view):
        @login_required(login_url=LOGIN_URL)
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                who = check(request.user)
            except NotAllowed as error:
                return forbidden(request, error.message)
            return view(request, who, *args, **kwargs)

        return wrapped

    return decorator


def _purchasing_driver(user):
    return driver_for_user(user, kind=Driver.Kind.PURCHASING)


# --- Pages ------------------------------------------------------------------------------------

def supplier_map_url(supplier) -> str:
    """Amap (高德) link: a marker when the supplier has coordinates (GCJ-02), else a search."""
    if supplier.latitude is not None and supplier.longitude is not None:
        return "https://uri.amap.com/marker?" + urlencode({
            "position": f"{supplier.longitude},{supplier.latitude}", "name": supplier.name,
            "coordinate": "gaode", "callnative": 1, "src": "seafood_b2b",
        })
    if supplier.address:
        return "https://uri.amap.com/search?" + urlencode({"keyword": supplier.address, "callnative": 1,
                                                           "src": "seafood_b2b"})
    return ""


@staff_page(_purchasing_driver)
def task_list(request, driver):
    today = timezone.localdate()
    dates = [today, today + timedelta(days=1)]
    tasks = purchase_tasks_for_driver(driver=driver, dates=dates)
    days = [{"date": day, "is_today": day == today,
             "tasks": [task for task in tasks if task.for_date == day]} for day in dates]
    for task in tasks:
        task.map_url = supplier_map_url(task.supplier)
    return render(request, "ops/purchasing/tasks.html", {"driver": driver, "days": days})


def _collected_from_post(post) -> dict[int, CollectedLine]:
    lines = {}
    for key in post:
        if not key.startswith("quantity-"):
            continue
        try:
            line_id = int(key.removeprefix("quantity-"))
        except ValueError:
            continue
        lines[line_id] = CollectedLine(quantity=post.get(key), weight=post.get(f"weight-{line_id}"),
                                       shortfall_reason=post.get(f"reason-{line_id}", ""))
    return lines


@require_http_methods(["GET", "POST"])
@staff_page(_purchasing_driver)
def task_detail(request, driver, task_id: int):
    try:
        task = purchase_task_for_driver(driver=driver, task_id=task_id)
    except NotFound as error:
        return render(request, "ops/purchasing/not_found.html", {"message": error.message}, status=404)
    error = None
    line_errors: dict = {}
    if request.method == "POST":
        if task.status != PurchaseTask.Status.OPEN:
            messages.info(request, "该任务已确认提货")
            return redirect("logistics:purchasing-task", task_id=task.pk)
        try:
            task = purchase_task_confirm(driver=driver, task_id=task.pk, lines=_collected_from_post(request.POST))
        except ApplicationError as failure:
            error = failure.message
            line_errors = (failure.details or {}).get("lines", {}) if isinstance(failure.details, dict) else {}
        else:
            messages.success(request, f"已确认：{task.supplier.name}（{task.get_status_display()}）")
            return redirect("logistics:purchasing-tasks")
    posted = request.POST if request.method == "POST" else {}
    rows = [{
        "line": line,
        "quantity": posted.get(f"quantity-{line.pk}", ""),
        "weight": posted.get(f"weight-{line.pk}", ""),
        "reason": posted.get(f"reason-{line.pk}", ""),
        "error": line_errors.get(line.pk, ""),
        "short": line.collected_quantity is not None and line.collected_quantity < line.purchase_quantity,
    } for line in task.lines.all()]
    return render(request, "ops/purchasing/task.html", {
        "driver": driver, "task": task, "rows": rows, "error": error, "map_url": supplier_map_url(task.supplier),
        "is_open": task.status == PurchaseTask.Status.OPEN,
    }, status=400 if error else 200)


urlpatterns = [
    path("", task_list, name="purchasing-tasks"),
    path("<int:task_id>/", task_detail, name="purchasing-task"),
]

# Mounted at /ops/ by logistics/urls.py: one sign-in for every staff phone page.
login_urlpatterns = [
    path("login/", OpsLoginView.as_view(), name="ops-login"),
    path("logout/", LogoutView.as_view(next_page=LOGIN_URL), name="ops-logout"),
]
