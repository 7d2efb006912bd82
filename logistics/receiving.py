"""Receiving: goods come into the warehouse as a receipt of batches, each batch on stock.

Services (writes): `receipt_create`.
Selectors (reads): `receipt_get`, `receipts_recent`, `batch_for_trace`, `product_for_scan`,
`receiving_choices`, `batch_trace_path`.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from catalog.models import Product
from core.errors import NotFound, ValidationFailed
from core.inputs import id_from_text

from .models import Batch, PurchaseTask, Receipt, Supplier
from .purchasing import parse_decimal
from .services import stock_receive

MAX_LINES = 100
CODE_ATTEMPTS = 5
# "B" + yymmdd + a 4-digit number counted per local day: B2506180001.
BATCH_CODE = re.compile(r"^B\d{10}$")
# The traceability path as printed on labels (/t/<code>/), found anywhere in a scanned text.
TRACE_IN_TEXT = re.compile(r"/t/([A-Za-z0-9]{1,20})/?(?:[?#].*)?$")


@dataclass(frozen=True)
class ReceiptLineInput:
    """One product as typed or scanned: text straight from the form, or typed values in tests."""

    product_id: object
    quantity: object
    unit_cost: object
    weight: object = None
    production_date: object = None
    expiry_date: object = None


@dataclass(frozen=True)
class _CheckedLine:
    product: Product
    quantity: Decimal
    unit_cost: Decimal
    weight: Decimal | None
    production_date: date | None
    expiry_date: date | None


def _parse_date(raw, *, label: str) -> date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        raise ValidationFailed(f"{label}格式不正确（如 2025-06-18）", code="invalid_date") from None


def _check_line(raw: ReceiptLineInput, product: Product | None, today: date) -> _CheckedLine:
    if product is None:
        raise ValidationFailed("请选择商品", code="product_required")
    quantity = parse_decimal(raw.quantity, label="数量", allow_zero=False)
    weight = parse_decimal(raw.weight, label="重量(斤)", required=False, allow_zero=False)
    if product.catch_weight and weight is None:
        raise ValidationFailed("按实重计价的商品必须填写重量(斤)", code="weight_required")
    unit_cost = parse_decimal(raw.unit_cost, label="单位成本", places=4)
    production = _parse_date(raw.production_date, label="生产日期")
    expiry = _parse_date(raw.expiry_date, label="保质期")
    if production and production > today:
        raise ValidationFailed("生产日期不能晚于今天", code="invalid_date")
    if production and expiry and expiry < production:
        raise ValidationFailed("保质期不能早于生产日期", code="invalid_date")
    if expiry and expiry < today:
        raise ValidationFailed("已过保质期，不能入库", code="expired")
    return _CheckedLine(product=product, quantity=quantity, unit_cost=unit_cost, weight=weight,
                        production_date=production, expiry_date=expiry)


def _to_int(raw) -> int | None:
    return id_from_text(str(raw))


def receipt_check(*, supplier_id, lines: list[ReceiptLineInput], purchase_task_id=None, today: date | None = None,
                  ) -> tuple[Supplier, PurchaseTask | None, list[_CheckedLine]]:
    """Every input checked before anything is written; all problems reported at once, in Chinese."""
    today = today or timezone.localdate()
    problems: list[str] = []
    details: dict = {"fields": {}, "lines": {}}

    supplier = None
    supplier_pk = _to_int(supplier_id)
    if supplier_pk is None:
        details["fields"]["supplier"] = "请选择供应商"
    else:
        supplier = Supplier.objects.filter(pk=supplier_pk).first()
        if supplier is None:
            details["fields"]["supplier"] = "供应商不存在"
        elif not supplier.is_active:
            details["fields"]["supplier"] = "该供应商已停用"
            supplier = None

    task = None
    if purchase_task_id not in (None, ""):
        task_pk = _to_int(purchase_task_id)
        task = PurchaseTask.objects.filter(pk=task_pk).first() if task_pk else None
        if task is None:
            details["fields"]["purchase_task"] = "采购任务不存在"
        elif supplier is not None and task.supplier_id != supplier.pk:
            details["fields"]["purchase_task"] = "采购任务的供应商与所选供应商不一致"
    problems.extend(details["fields"].values())

    if not lines:
        problems.append("请至少添加一个商品")
    elif len(lines) > MAX_LINES:
        problems.append(f"一张入库单最多 {MAX_LINES} 个商品")
    ids = {pk for pk in (_to_int(line.product_id) for line in lines[:MAX_LINES]) if pk}
    products = Product.objects.in_bulk(ids) if ids else {}
    checked: list[_CheckedLine] = []
    for number, raw in enumerate(lines[:MAX_LINES], start=1):
        product = products.get(_to_int(raw.product_id))
        try:
            checked.append(_check_line(raw, product, today))
        except ValidationFailed as error:
            label = f"第 {number} 行" + (f"（{product.name}）" if product else "")
            details["lines"][number] = error.message
            problems.append(f"{label}：{error.message}")

    if problems:
        raise ValidationFailed("；".join(problems), code="receipt_invalid", details=details)
    return supplier, task, checked


def batch_codes_next(day: date, count: int) -> list[str]:
    """The next `count` batch codes of `day` (B + yymmdd + 4 digits), after the last one used."""
    prefix = "B" + day.strftime("%y%m%d")
    last = (Batch.objects.filter(code__startswith=prefix).order_by("-code").values_list("code", flat=True).first())
    start = int(last[len(prefix):]) + 1 if last and last[len(prefix):].isdigit() else 1
    if start + count - 1 > 9999:
        raise ValidationFailed("今日批次号已用完，请联系管理员", code="batch_codes_exhausted")
    return [f"{prefix}{number:04d}" for number in range(start, start + count)]


def receipt_create(*, received_by, supplier_id, lines: list[ReceiptLineInput], purchase_task_id=None,
                   note: str = "") -> Receipt:
    """Receive goods: one receipt, one batch per line, each batch put on stock (ledger row with
    the batch code as reference, moving average cost updated) — all in one transaction.

    Nothing is stored when any input is wrong. Batch codes are "B" + yymmdd + a 4-digit number
    per local day; when another receipt takes the same numbers at the same moment, the whole
    receipt is retried with fresh numbers.
    """
    note = (note or "").strip()
    if len(note) > 200:
        raise ValidationFailed("备注最多 200 字", code="note_too_long")
    supplier, task, checked = receipt_check(supplier_id=supplier_id, lines=lines, purchase_task_id=purchase_task_id)
    day = timezone.localdate()
    for _attempt in range(CODE_ATTEMPTS):
        codes = batch_codes_next(day, len(checked))
        try:
            with transaction.atomic():
                return _receipt_write(received_by=received_by, supplier=supplier, task=task, checked=checked,
                                      codes=codes, note=note)
        except IntegrityError:
            if not Batch.objects.filter(code__in=codes).exists():
                raise  # not a clash of batch codes: a real error
    raise ValidationFailed("入库人数较多，批次号分配失败，请重新提交", code="batch_code_clash")


def _receipt_write(*, received_by, supplier, task, checked, codes, note) -> Receipt:
    receipt = Receipt.objects.create(supplier=supplier, purchase_task=task, received_by=received_by, note=note)
    batches = Batch.objects.bulk_create([
        Batch(receipt=receipt, product=line.product, code=code, quantity=line.quantity, weight=line.weight,
              production_date=line.production_date, expiry_date=line.expiry_date, unit_cost=line.unit_cost)
        for line, code in zip(checked, codes, strict=True)
    ])
    for batch in batches:
        stock_receive(product_id=batch.product_id, quantity=batch.quantity, unit_cost=batch.unit_cost,
                      reference=batch.code, note=f"入库单 #{receipt.pk}")
    return receipt


# --- Reads ------------------------------------------------------------------------------------

def receipt_get(*, receipt_id: int) -> Receipt:
    """A receipt with its batches, their products and the supplier: two queries."""
    receipt = (Receipt.objects.select_related("supplier", "purchase_task", "received_by")
               .prefetch_related("batches__product").filter(pk=receipt_id).first())
    if receipt is None:
        raise NotFound("入库单不存在", code="receipt_not_found")
    return receipt


def receipt_batches(*, receipt: Receipt) -> list[Batch]:
    """A receipt's batches in entry order, each with product and receipt (for labels)."""
    batches = sorted(receipt.batches.all(), key=lambda batch: batch.pk)
    for batch in batches:
        batch.receipt = receipt  # already loaded: saves one query per label
    return batches


def receipts_recent(*, limit: int = 20) -> list[Receipt]:
    return list(Receipt.objects.select_related("supplier", "received_by").annotate(batch_count=Count("batches"))
                .order_by("-created_at", "-pk")[:limit])


def receiving_choices(*, today: date | None = None) -> dict:
    """What the receiving form offers: active suppliers, and purchase tasks of yesterday to
    tomorrow (the goods a driver brings back today)."""
    today = today or timezone.localdate()
    suppliers = list(Supplier.objects.filter(is_active=True).order_by("name", "pk").values("pk", "name"))
    tasks = list(PurchaseTask.objects.filter(for_date__range=(today - timedelta(days=1), today + timedelta(days=1)))
                 .select_related("supplier", "driver").order_by("for_date", "supplier__name", "pk"))
    return {"suppliers": suppliers, "purchase_tasks": tasks}


def batch_for_trace(*, code: str) -> Batch:
    batch = (Batch.objects.select_related("product", "receipt__supplier")
             .filter(code=(code or "").strip().upper()).first())
    if batch is None:
        raise NotFound("未找到该批次", code="batch_not_found")
    return batch


def batch_trace_path(code: str) -> str:
    return reverse("batch-trace", kwargs={"code": code})


def batch_trace_url(code: str) -> str:
    """The absolute address printed in a label's QR code (SITE_URL, not the request's host: a
    label outlives the browser that printed it)."""
    return settings.SITE_URL.rstrip("/") + batch_trace_path(code)


def product_for_scan(*, text: str) -> Product:
    """The product behind a scanned or typed code: a SKU code, a batch code, or a traceability
    address (…/t/<batch code>/) as printed on our labels. Inactive products are found too:
    goods arrive whether or not they are on sale."""
    text = (text or "").strip()
    if not text or len(text) > 500:
        raise NotFound("未识别的编码", code="code_not_found")
    found = TRACE_IN_TEXT.search(text)
    code = found.group(1) if found else text
    products = Product.objects.select_related("default_supplier")
    # Exact SKU code first (the unique index), then a batch code, then the SKU code in any case.
    product = (products.filter(code=code).first()
               or products.filter(batches__code=code.upper()).first()
               or products.filter(code__iexact=code).order_by("pk").first())
    if product is None:
        raise NotFound(f"未找到编码为 {code} 的商品", code="code_not_found")
    return product


def product_scan_payload(product: Product) -> dict:
    return {
        "id": product.pk, "code": product.code, "name": product.name, "spec": product.spec,
        "unit": product.unit, "unit_label": product.get_unit_display(), "catch_weight": product.catch_weight,
        "nominal_weight": str(product.nominal_weight) if product.nominal_weight is not None else None,
        "default_supplier_id": product.default_supplier_id, "is_active": product.is_active,
    }
