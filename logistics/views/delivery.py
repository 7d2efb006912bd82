"""The delivery driver's phone pages: today's run in stop order, 出发, each stop completed with
proof or failed with a reason. Thin over logistics.delivery; everything shown of a customer goes
through `stop_card`, which masks phone numbers (logistics.privacy).
"""

from datetime import date
from functools import wraps

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, NotFound

from .. import delivery as service
from ..models import DeliveryRun, Driver, Stop
from ..roles import driver_for_user
from .purchasing import staff_page  # the login and 403 page shared by every staff phone page


def _delivery_driver(user):
    return driver_for_user(user, kind=Driver.Kind.DELIVERY)


def delivery_driver_required(view):
    """Signed in (else /ops/login/), an active delivery driver (else 403); another driver's run
    or stop is a plain 404."""

    @staff_page(_delivery_driver)
    @wraps(view)
    def wrapped(request, driver, *args, **kwargs):
        try:
            return view(request, driver, *args, **kwargs)
        except NotFound:
            return render(request, "ops/delivery/not_found.html", status=404)

    return wrapped


def _chosen_date(request) -> date:
    raw = request.GET.get("date", "")
    try:
        return date.fromisoformat(raw) if raw else service.local_today()
    except ValueError:
        return service.local_today()


@require_GET
@delivery_driver_required
def run_page(request, driver):
    day = _chosen_date(request)
    run = service.driver_run(driver=driver, delivery_date=day)
    return render(request, "ops/delivery/run.html", {
        "driver": driver, "day": day, "today": service.local_today(), "run": run,
        "card": service.run_card(run) if run else None,
        "previous_day": date.fromordinal(day.toordinal() - 1), "next_day": date.fromordinal(day.toordinal() + 1),
    })


@require_GET
@delivery_driver_required
def run_json(request, driver):
    run = service.driver_run(driver=driver, delivery_date=_chosen_date(request))
    return JsonResponse({"run": service.run_card(run) if run else None}, json_dumps_params={"ensure_ascii": False})


@require_POST
@delivery_driver_required
def run_start(request, driver, run_id: int):
    try:
        run = service.run_start(driver=driver, run_id=run_id)
    except NotFound:
        raise
    except ApplicationError as error:
        messages.error(request, error.message)
        day = DeliveryRun.objects.filter(pk=run_id, driver=driver).values_list("delivery_date", flat=True).first()
        return redirect(_run_url(day))
    messages.success(request, "已出发，订单已变为配送中")
    return redirect(_run_url(run.delivery_date))


def _run_url(day) -> str:
    url = reverse("logistics:delivery_run")
    return f"{url}?date={day.isoformat()}" if day else url


def _stop_page(request, driver, stop: Stop, *, error: str = "", status: int = 200, posted=None):
    return render(request, "ops/delivery/stop.html", {
        "driver": driver, "stop": stop, "card": service.stop_card(stop), "run": stop.run,
        "run_url": _run_url(stop.run.delivery_date), "error": error, "posted": posted or {},
        "max_photo_mb": service.MAX_PHOTO_BYTES // (1024 * 1024),
    }, status=status)


@require_GET
@delivery_driver_required
def stop_page(request, driver, stop_id: int):
    return _stop_page(request, driver, service.driver_stop(driver=driver, stop_id=stop_id))


@require_POST
@delivery_driver_required
def stop_complete(request, driver, stop_id: int):
    stop = service.driver_stop(driver=driver, stop_id=stop_id)  # 404 before reading the upload
    try:
        service.stop_complete(
            driver=driver, stop_id=stop.pk, proof_kind=request.POST.get("proof_kind", ""),
            signed_by=request.POST.get("signed_by", ""), left_at=request.POST.get("left_at", ""),
            photo=request.FILES.get("photo"), latitude=request.POST.get("latitude"),
            longitude=request.POST.get("longitude"), coordinate_system=request.POST.get("coordinate_system", "gcj02"),
        )
    except ApplicationError as error:
        return _stop_page(request, driver, service.driver_stop(driver=driver, stop_id=stop.pk), error=error.message,
                          status=error.status_code, posted=request.POST)
    messages.success(request, f"第 {stop.sequence} 站已送达，已通知客户")
    return redirect(_run_url(stop.run.delivery_date))


@require_POST
@delivery_driver_required
def stop_fail(request, driver, stop_id: int):
    stop = service.driver_stop(driver=driver, stop_id=stop_id)
    try:
        service.stop_fail(driver=driver, stop_id=stop.pk, reason=request.POST.get("reason", ""))
    except ApplicationError as error:
        return _stop_page(request, driver, service.driver_stop(driver=driver, stop_id=stop.pk), error=error.message,
                          status=error.status_code, posted=request.POST)
    messages.success(request, f"第 {stop.sequence} 站已记为未送达，订单退回仓库")
    return redirect(_run_url(stop.run.delivery_date))


urlpatterns = [
    path("", run_page, name="delivery_run"),
    path("run.json", run_json, name="delivery_run_json"),
    path("runs/<int:run_id>/start/", run_start, name="delivery_run_start"),
    path("stops/<int:stop_id>/", stop_page, name="delivery_stop"),
    path("stops/<int:stop_id>/complete/", stop_complete, name="delivery_stop_complete"),
    path("stops/<int:stop_id>/fail/", stop_fail, name="delivery_stop_fail"),
]
