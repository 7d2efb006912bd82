"""Pages of warehouse receiving (/ops/receiving/) and the public traceability page (/t/<code>/).

The clerk identifies each product by scanning (a SKU code, or one of our labels) or by search,
types quantity, weight, dates and cost, and submits the whole receipt at once; then prints the
labels as one PDF.
"""

from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods

from catalog.models import Product
from core.errors import ApplicationError, NotFound
from core.inputs import id_from_text

from ..labels import MAX_COPIES, labels_pdf
from ..receiving import (
    ReceiptLineInput,
    batch_for_trace,
    product_for_scan,
    product_scan_payload,
    receipt_batches,
    receipt_create,
    receipt_get,
    receipts_recent,
    receiving_choices,
)
from ..roles import require_warehouse_clerk
from .purchasing import staff_page

LINE_FIELDS = ("product", "quantity", "weight", "production_date", "expiry_date", "unit_cost")


def _clerk(user):
    require_warehouse_clerk(user)
    return user


def _lines_from_post(post) -> list[dict]:
    """The form's rows (parallel lists, one entry per row); rows left entirely blank are dropped."""
    columns = {name: post.getlist(name) for name in LINE_FIELDS}
    count = max((len(values) for values in columns.values()), default=0)
    rows = []
    for index in range(count):
        row = {name: (values[index] if index < len(values) else "").strip() for name, values in columns.items()}
        if any(row.values()):
            rows.append(row)
    return rows


def _form_state(rows: list[dict]) -> list[dict]:
    """Rows as the page's script rebuilds them after a refused submit: typed text plus the product."""
    ids = [pk for pk in (id_from_text(row["product"]) for row in rows) if pk]
    products = Product.objects.in_bulk(ids) if ids else {}
    state = []
    for row in rows:
        product = products.get(id_from_text(row["product"]))
        state.append({**{name: row[name] for name in LINE_FIELDS if name != "product"},
                      "product": product_scan_payload(product) if product else None})
    return state


@require_http_methods(["GET", "POST"])
@staff_page(_clerk)
def receipt_new(request, clerk):
    error, details, rows = None, {}, []
    form = {"supplier": "", "purchase_task": request.GET.get("task", ""), "note": ""}
    if request.method == "POST":
        rows = _lines_from_post(request.POST)
        form = {name: request.POST.get(name, "").strip() for name in ("supplier", "purchase_task", "note")}
        lines = [ReceiptLineInput(product_id=row["product"], quantity=row["quantity"], unit_cost=row["unit_cost"],
                                  weight=row["weight"], production_date=row["production_date"],
                                  expiry_date=row["expiry_date"]) for row in rows]
        try:
            receipt = receipt_create(received_by=clerk, supplier_id=form["supplier"], lines=lines,
                                     purchase_task_id=form["purchase_task"] or None, note=form["note"])
        except ApplicationError as failure:
            error = failure.message
            details = failure.details if isinstance(failure.details, dict) else {}
        else:
            messages.success(request, f"已入库：{len(lines)} 个批次")
            return redirect("logistics:receiving-detail", receipt_id=receipt.pk)
    choices = receiving_choices()
    if form["purchase_task"] and not form["supplier"]:
        # Opened from a purchase task (?task=…): its supplier is the receipt's.
        chosen = [task for task in choices["purchase_tasks"] if str(task.pk) == form["purchase_task"]]
        form["supplier"] = str(chosen[0].supplier_id) if chosen else ""
    return render(request, "ops/receiving/new.html", {
        "form": form, "error": error, "field_errors": details.get("fields", {}),
        "problems": [message for message in error.split("；")] if error else [],
        "state": {"lines": _form_state(rows), "supplier": form["supplier"], "purchase_task": form["purchase_task"],
                  "lookup_url": reverse("logistics:receiving-lookup"), "search_url": reverse("api:product-list")},
        "suppliers": choices["suppliers"], "purchase_tasks": choices["purchase_tasks"],
        "recent": receipts_recent(limit=10),
    }, status=400 if error else 200)


@require_GET
@staff_page(_clerk)
def receipt_detail(request, clerk, receipt_id: int):
    try:
        receipt = receipt_get(receipt_id=receipt_id)
    except NotFound as error:
        return render(request, "ops/receiving/not_found.html", {"message": error.message}, status=404)
    return render(request, "ops/receiving/detail.html", {
        "receipt": receipt, "batches": receipt_batches(receipt=receipt), "copies_max": MAX_COPIES,
    })


@require_GET
@staff_page(_clerk)
def receipt_labels(request, clerk, receipt_id: int):
    try:
        receipt = receipt_get(receipt_id=receipt_id)
    except NotFound as error:
        return render(request, "ops/receiving/not_found.html", {"message": error.message}, status=404)
    raw = request.GET.get("copies", "1")
    copies = id_from_text(raw) or 0
    if not 1 <= copies <= MAX_COPIES:
        return HttpResponse(f"份数应为 1 到 {MAX_COPIES}", status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(labels_pdf(receipt_batches(receipt=receipt), copies=copies),
                            content_type="application/pdf")
    # Inline: the phone or PC opens it in the viewer, from where it goes to the label printer.
    response["Content-Disposition"] = f'inline; filename="labels-receipt-{receipt.pk}.pdf"'
    return response


@require_GET
@staff_page(_clerk)
def product_lookup(request, clerk):
    """What the scanner read (a SKU code or one of our labels' addresses) → the product, as JSON."""
    try:
        product = product_for_scan(text=request.GET.get("code", ""))
    except ApplicationError as error:
        return JsonResponse(error.as_dict(), status=error.status_code)
    return JsonResponse({"product": product_scan_payload(product)})


@require_GET
def batch_trace(request, code: str):
    """Public: what a customer sees on scanning a label. Nothing private (no cost, no quantity)."""
    try:
        batch = batch_for_trace(code=code)
    except NotFound:
        return render(request, "trace/not_found.html", {"code": code[:20]}, status=404)
    return render(request, "trace/batch.html", {"batch": batch, "product": batch.product,
                                                "supplier": batch.receipt.supplier})


urlpatterns = [
    path("", receipt_new, name="receiving-new"),
    path("lookup", product_lookup, name="receiving-lookup"),
    path("<int:receipt_id>/", receipt_detail, name="receiving-detail"),
    path("<int:receipt_id>/labels.pdf", receipt_labels, name="receiving-labels"),
]
