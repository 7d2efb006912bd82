"""Warehouse packing pages: the day's paid orders, one order's packing form, the result.

Thin over logistics.packing. The form's live preview is only a preview: the amounts and the
refund are what order_pack computes on submit.
"""

from datetime import date
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError, NotFound, PermissionDenied

from .. import packing
from ..privacy import customer_fields_for
from ..roles import require_warehouse_clerk
from .purchasing import LOGIN_URL as OPS_LOGIN_URL

PAGE_SIZE = 20


def clerk_required(view):
    """Signed in (else to the login page) and a warehouse clerk (else a 403 page)."""

    @login_required(login_url=OPS_LOGIN_URL)
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            require_warehouse_clerk(request.user)
        except PermissionDenied as error:
            return render(request, "ops/packing/forbidden.html", {"message": error.message}, status=403)
        return view(request, *args, **kwargs)

    return wrapped


def _order_or_404(order_id):
    try:
        return packing.packing_order_get(order_id=order_id)
    except NotFound:
        raise Http404("订单不存在")


def _parse_date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@require_GET
@clerk_required
def order_list(request):
    default = packing.packing_default_date()
    chosen = _parse_date(request.GET.get("date"))
    if request.GET.get("date") and chosen is None:
        messages.error(request, "日期格式不正确，已显示明天的订单")
    day = chosen or default
    page = Paginator(packing.packing_orders(delivery_date=day), PAGE_SIZE).get_page(request.GET.get("page"))
    together = packing.same_day_orders(page)
    return render(request, "ops/packing/list.html", {
        "day": day, "page": page, "is_default_day": day == default,
        "rows": [{"order": order, "customer": customer_fields_for(order, user=request.user),
                  "together": together.get(order.pk, [])} for order in page],
    })


def _entries_from_post(order, data) -> list[dict]:
    """One entry per line of the order; an empty box is sent as None so the service can say what is missing."""
    entries = []
    for line in order.lines.all():
        entry = {"line_id": line.pk}
        if line.catch_weight:
            entry["actual_weight"] = data.get(f"weight_{line.pk}") or None
            if data.get(f"none_{line.pk}"):
                entry["packed_quantity"] = "0"
                entry["actual_weight"] = None
            elif line.unit not in packing.WEIGHT_UNITS:
                entry["packed_quantity"] = data.get(f"qty_{line.pk}") or None
        else:
            entry["packed_quantity"] = data.get(f"qty_{line.pk}") or None
        entries.append(entry)
    return entries


def _form_context(order, *, user, data=None, error: ApplicationError | None = None) -> dict:
    line_errors = (error.details.get("lines", {}) if error and isinstance(error.details, dict) else {})
    rows = []
    for line in order.lines.all():
        rows.append({
            "line": line,
            "by_weight": line.unit in packing.WEIGHT_UNITS,
            "nominal_total": line.quantity * line.nominal_weight if line.catch_weight else None,
            "weight": (data or {}).get(f"weight_{line.pk}", ""),
            "qty": (data or {}).get(f"qty_{line.pk}", ""),
            "none": bool((data or {}).get(f"none_{line.pk}")),
            "error": line_errors.get(str(line.pk), ""),
        })
    preview = {
        "total": str(order.total), "deliveryFee": str(order.delivery_fee), "discount": str(order.discount),
        "tolerance": str(packing.refund_tolerance()),
        "lines": [{
            "id": line.pk, "catchWeight": line.catch_weight, "byWeight": line.unit in packing.WEIGHT_UNITS,
            "unitPrice": str(line.unit_price), "quantity": str(line.quantity), "amount": str(line.amount),
            "nominalWeight": str(line.nominal_weight or ""),
        } for line in order.lines.all()],
    }
    return {"order": order, "customer": customer_fields_for(order, user=user), "rows": rows, "preview": preview,
            "error": error, "together": packing.same_day_orders([order]).get(order.pk, []),
            "tolerance": packing.refund_tolerance(), "max_factor": packing.MAX_WEIGHT_FACTOR}


@require_http_methods(["GET", "POST"])
@clerk_required
def order_page(request, order_id):
    order = _order_or_404(order_id)
    if order.status not in packing.PACKABLE_STATUSES:
        return redirect("logistics:packing_result", order_id=order.pk)
    if request.method == "POST":
        try:
            packing.order_pack(order_id=order.pk, lines=_entries_from_post(order, request.POST), user=request.user)
        except ApplicationError as error:
            order = _order_or_404(order_id)
            if order.status not in packing.PACKABLE_STATUSES:  # packed by someone else meanwhile
                messages.error(request, error.message)
                return redirect("logistics:packing_result", order_id=order.pk)
            context = _form_context(order, user=request.user, data=request.POST, error=error)
            return render(request, "ops/packing/order.html", context, status=error.status_code)
        return redirect("logistics:packing_result", order_id=order.pk)
    return render(request, "ops/packing/order.html", _form_context(order, user=request.user))


@require_POST
@clerk_required
def order_start(request, order_id):
    try:
        packing.order_pack_start(order_id=order_id, user=request.user)
    except NotFound:
        raise Http404("订单不存在")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("logistics:packing_order", order_id=order_id)


@require_GET
@clerk_required
def order_result(request, order_id):
    order = _order_or_404(order_id)
    if order.status in packing.PACKABLE_STATUSES:
        return redirect("logistics:packing_order", order_id=order.pk)
    lines = list(order.lines.all())
    packed = all(line.packed_at for line in lines)
    return render(request, "ops/packing/result.html", {
        "order": order, "customer": customer_fields_for(order, user=request.user), "lines": lines, "packed": packed,
        "actual_total": packing.order_actual_total(order=order, amounts=(
            line.actual_amount for line in lines if line.actual_amount is not None)) if packed else None,
        "refund": packing.packing_refund(order=order),
    })


urlpatterns = [
    path("", order_list, name="packing_list"),
    path("<uuid:order_id>/", order_page, name="packing_order"),
    path("<uuid:order_id>/start/", order_start, name="packing_start"),
    path("<uuid:order_id>/result/", order_result, name="packing_result"),
]
