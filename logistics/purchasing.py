"""Purchasing: paid orders roll up into one task per supplier and delivery date; the purchasing
driver confirms what was collected.

Services (writes): `purchase_tasks_build`, `purchase_task_confirm`.
Selectors (reads): `purchase_tasks_for_driver`, `purchase_task_for_driver`.
"""

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Sum
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from orders.models import Order, OrderLine

from .models import Driver, PurchaseTask, PurchaseTaskLine

logger = logging.getLogger(__name__)

# Orders whose goods still have to be found: paid, or being packed (not yet packed).
DEMAND_STATUSES = (Order.Status.PAID, Order.Status.PACKING)

# A supplier hands over whole boxes, bags, fish...; loose goods by the 斤 or kg are weighed and
# bought to the half unit. Any other purchase unit typed in admin (件, 桶...) counts as whole units.
COUNTABLE_UNITS = frozenset({"箱", "袋", "盒", "包", "条", "只"})
WEIGHED_UNITS = frozenset({"斤", "kg"})
WHOLE = Decimal("1")
HALF = Decimal("0.5")

MAX_QUANTITY = Decimal("999999")


def parse_decimal(raw, *, label: str, places: int = 2, required: bool = True, minimum: Decimal | None = Decimal("0"),
                  allow_zero: bool = True) -> Decimal | None:
    """A number typed on a phone, checked with a message that names the field.

    Accepts Decimal, int or text ("12.5", " 3 "); refuses more decimal places than the column
    holds rather than rounding a quantity or a cost silently.
    """
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if required:
            raise ValidationFailed(f"请填写{label}", code="required")
        return None
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{label}必须是数字", code="invalid_number") from None
    if not value.is_finite():
        raise ValidationFailed(f"{label}必须是数字", code="invalid_number")
    # Bounds first: quantizing a number as large as 1e30 would overflow the decimal context.
    if value > MAX_QUANTITY:
        raise ValidationFailed(f"{label}过大", code="invalid_number")
    if minimum is not None and value < minimum:
        raise ValidationFailed(f"{label}不能小于 {minimum}", code="invalid_number")
    if not allow_zero and value == 0:
        raise ValidationFailed(f"{label}必须大于 0", code="invalid_number")
    step = Decimal(1).scaleb(-places)
    if value != value.quantize(step):
        raise ValidationFailed(f"{label}最多 {places} 位小数", code="invalid_number")
    return value.quantize(step)


def purchase_step(unit: str) -> Decimal:
    return HALF if unit in WEIGHED_UNITS else WHOLE


def purchase_quantity_for(*, net_quantity: Decimal, purchase_factor: Decimal, purchase_unit: str) -> Decimal:
    """Net requirement in sale units → what to buy in purchase units, rounded up (never short).

    Countable purchase units (箱/袋/盒/包/条/只, and any unknown unit) round up to a whole unit;
    斤 and kg round up to the half unit.
    """
    if net_quantity <= 0:
        return Decimal("0.00")
    step = purchase_step(purchase_unit)
    steps = (net_quantity / purchase_factor / step).to_integral_value(rounding=ROUND_CEILING)
    return (steps * step).quantize(Decimal("0.01"))


@dataclass
class PurchaseBuildReport:
    """What one run of `purchase_tasks_build` did, and what it could not place."""

    for_date: date
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    lines: int = 0
    # Products with a requirement but no (active) default supplier: nobody would buy them.
    no_supplier: list[dict] = field(default_factory=list)
    # Suppliers whose task for the date is already collected: left as they are.
    locked: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "for_date": self.for_date.isoformat(), "created": self.created, "updated": self.updated,
            "deleted": self.deleted, "unchanged": self.unchanged, "lines": self.lines,
            "no_supplier": self.no_supplier, "locked": self.locked,
        }


def _requirements(*, for_date: date) -> list[dict]:
    """Per SKU ordered for the date: ordered quantity, stock now and the product's purchasing
    facts, in one grouped query (no per-product reads)."""
    return list(
        OrderLine.objects.filter(order__delivery_date=for_date, order__status__in=DEMAND_STATUSES)
        .values(
            "product_id", "product__code", "product__name", "product__unit", "product__purchase_unit",
            "product__purchase_factor", "product__default_supplier_id", "product__default_supplier__is_active",
            "product__stock__on_hand", "product__stock__reserved",
        )
        .annotate(ordered=Sum("quantity"))
        .order_by("product_id")
    )


def purchase_tasks_build(*, for_date: date) -> PurchaseBuildReport:
    """Roll the paid orders for `for_date` up into one purchase task per supplier.

    For each SKU: ordered = the quantities of paid and packing orders for the date; available =
    on-hand − reserved now; net = max(0, ordered − available), in sale units (the issue's rule).
    Paid orders already hold their reservations, so `available` is the stock nobody has been
    promised: the task buys back what these orders take beyond that free stock. The net is
    converted to the product's purchase unit with `purchase_quantity_for`.

    Safe to run again: lines of tasks still open are recomputed (added, changed, removed), an open
    task left without lines is deleted, and a task already collected is never touched (its
    supplier is reported in `locked`). Products without an active default supplier are reported
    in `no_supplier` and logged, not dropped silently.
    """
    report = PurchaseBuildReport(for_date=for_date)
    wanted: dict[int, dict[int, dict]] = {}  # supplier id → product id → line values
    for row in _requirements(for_date=for_date):
        ordered = row["ordered"]
        available = (row["product__stock__on_hand"] or Decimal("0")) - (row["product__stock__reserved"] or Decimal("0"))
        net = max(Decimal("0"), ordered - available)
        if net <= 0:
            continue
        unit = row["product__purchase_unit"] or row["product__unit"]
        quantity = purchase_quantity_for(net_quantity=net, purchase_factor=row["product__purchase_factor"],
                                         purchase_unit=unit)
        values = {"ordered_quantity": ordered, "available_quantity": available, "net_quantity": net,
                  "purchase_unit": unit, "purchase_quantity": quantity}
        supplier_id = row["product__default_supplier_id"]
        if supplier_id is None or not row["product__default_supplier__is_active"]:
            report.no_supplier.append({
                "product_id": row["product_id"], "code": row["product__code"], "name": row["product__name"],
                "net_quantity": net, "purchase_unit": unit, "purchase_quantity": quantity,
                "reason": "无默认供应商" if supplier_id is None else "默认供应商已停用",
            })
            continue
        wanted.setdefault(supplier_id, {})[row["product_id"]] = values

    try:
        with transaction.atomic():
            _apply(for_date=for_date, wanted=wanted, report=report)
    except IntegrityError:
        # Another run created a task for the same supplier and date at the same moment.
        raise Conflict("采购任务正在由另一操作生成，请稍后再试", code="purchase_build_conflict") from None

    for row in report.no_supplier:
        logger.warning("purchase tasks %s: %s %s needs %s %s but has no supplier (%s)", for_date, row["code"],
                       row["name"], row["purchase_quantity"], row["purchase_unit"], row["reason"])
    logger.info("purchase tasks %s built: %s", for_date, report.as_dict())
    return report


def _apply(*, for_date: date, wanted: dict[int, dict[int, dict]], report: PurchaseBuildReport) -> None:
    # Lock the date's tasks first, so a driver confirming one waits for the rebuild (or the other way).
    tasks = {task.supplier_id: task for task in
             PurchaseTask.objects.select_for_update(of=("self",)).select_related("supplier")
             .filter(for_date=for_date).order_by("pk")}
    open_ids = [task.pk for task in tasks.values() if task.status == PurchaseTask.Status.OPEN]
    existing: dict[int, dict[int, PurchaseTaskLine]] = {}
    for line in PurchaseTaskLine.objects.filter(task_id__in=open_ids).order_by("pk"):
        existing.setdefault(line.task_id, {})[line.product_id] = line

    new_tasks, to_create, to_update, to_delete_lines, changed_ids = [], [], [], [], []
    fields = ["ordered_quantity", "available_quantity", "net_quantity", "purchase_unit", "purchase_quantity"]
    for supplier_id, products in wanted.items():
        task = tasks.get(supplier_id)
        if task is None:
            task = PurchaseTask(supplier_id=supplier_id, for_date=for_date)
            new_tasks.append((task, products))
            continue
        if task.status != PurchaseTask.Status.OPEN:
            report.locked.append({"task_id": task.pk, "supplier_id": supplier_id, "supplier": task.supplier.name,
                                  "status": task.status})
            continue
        current = existing.get(task.pk, {})
        changed = False
        for product_id, values in products.items():
            line = current.get(product_id)
            if line is None:
                to_create.append(PurchaseTaskLine(task=task, product_id=product_id, **values))
                changed = True
            elif any(getattr(line, name) != values[name] for name in fields):
                for name in fields:
                    setattr(line, name, values[name])
                to_update.append(line)
                changed = True
        gone = [line.pk for product_id, line in current.items() if product_id not in products]
        to_delete_lines.extend(gone)
        if changed or gone:
            changed_ids.append(task.pk)
        else:
            report.unchanged += 1
        report.lines += len(products)

    # Open tasks whose supplier has nothing left to buy for the date.
    emptied = [task.pk for supplier_id, task in tasks.items()
               if supplier_id not in wanted and task.status == PurchaseTask.Status.OPEN]
    # Collected tasks for suppliers without a requirement any more are also left alone.
    report.locked.extend(
        {"task_id": task.pk, "supplier_id": supplier_id, "supplier": task.supplier.name, "status": task.status}
        for supplier_id, task in tasks.items()
        if supplier_id not in wanted and task.status != PurchaseTask.Status.OPEN
    )

    if new_tasks:
        PurchaseTask.objects.bulk_create([task for task, _ in new_tasks])
        for task, products in new_tasks:
            to_create.extend(PurchaseTaskLine(task=task, product_id=product_id, **values)
                             for product_id, values in products.items())
            report.lines += len(products)
        report.created = len(new_tasks)
    if to_delete_lines:
        PurchaseTaskLine.objects.filter(pk__in=to_delete_lines).delete()
    if to_update:
        PurchaseTaskLine.objects.bulk_update(to_update, fields, batch_size=500)
    if to_create:
        PurchaseTaskLine.objects.bulk_create(to_create, batch_size=500)
    if emptied:
        PurchaseTask.objects.filter(pk__in=emptied, status=PurchaseTask.Status.OPEN).delete()
        report.deleted = len(emptied)
    if changed_ids:
        PurchaseTask.objects.filter(pk__in=changed_ids).update(updated_at=timezone.now())
        report.updated = len(changed_ids)


# --- The driver's side -------------------------------------------------------------------------

def _driver_tasks(driver: Driver):
    lines = PurchaseTaskLine.objects.select_related("product").order_by("product__sort_order", "product_id")
    return (PurchaseTask.objects.filter(driver=driver).select_related("supplier")
            .prefetch_related(Prefetch("lines", queryset=lines)))


def purchase_tasks_for_driver(*, driver: Driver, dates: list[date]) -> list[PurchaseTask]:
    """The driver's own tasks for the given dates, with supplier and lines: three queries."""
    return list(_driver_tasks(driver).filter(for_date__in=dates).order_by("for_date", "supplier__name", "pk"))


def purchase_task_for_driver(*, driver: Driver, task_id: int) -> PurchaseTask:
    """One of the driver's own tasks; another driver's task does not exist for them."""
    task = _driver_tasks(driver).filter(pk=task_id).first()
    if task is None:
        raise NotFound("没有这个采购任务", code="purchase_task_not_found")
    return task


@dataclass(frozen=True)
class CollectedLine:
    """What the driver typed for one line: quantity in the purchase unit, weight in 斤."""

    quantity: object
    weight: object = None
    shortfall_reason: str = ""


def purchase_task_confirm(*, driver: Driver, task_id: int, lines: dict[int, CollectedLine]) -> PurchaseTask:
    """The driver confirms the pick-up: every line's collected quantity (and weight for goods sold
    by actual weight). Less than planned needs a reason; the task becomes 已提货 or 部分缺货.

    Refused as a whole when any line is wrong (the messages name the product); another driver's
    task is not found; a task already confirmed cannot be confirmed again.
    """
    with transaction.atomic():
        task = PurchaseTask.objects.select_for_update().filter(pk=task_id, driver=driver).first()
        if task is None:
            raise NotFound("没有这个采购任务", code="purchase_task_not_found")
        if task.status != PurchaseTask.Status.OPEN:
            raise Conflict("该采购任务已确认提货，不能重复提交", code="purchase_task_confirmed")
        task_lines = list(task.lines.select_related("product").order_by("pk"))
        if not task_lines:
            raise ValidationFailed("该采购任务没有明细", code="purchase_task_empty")
        unknown = set(lines) - {line.pk for line in task_lines}
        if unknown:
            raise ValidationFailed("提交的明细不属于该任务，请刷新页面", code="purchase_line_unknown")

        errors: dict[int, str] = {}
        short = False
        for line in task_lines:
            entry = lines.get(line.pk)
            name = line.product.name
            try:
                if entry is None:
                    raise ValidationFailed("请填写实提数量", code="required")
                quantity = parse_decimal(entry.quantity, label="实提数量")
                weight = parse_decimal(entry.weight, label="实提重量", required=False, allow_zero=False)
                if line.product.catch_weight and quantity > 0 and weight is None:
                    raise ValidationFailed("按实重计价的商品请填写实提重量(斤)", code="weight_required")
                reason = (entry.shortfall_reason or "").strip()
                if len(reason) > 100:
                    raise ValidationFailed("缺货原因最多 100 字", code="reason_too_long")
                if quantity < line.purchase_quantity and not reason:
                    raise ValidationFailed(
                        f"实提少于计划（{line.purchase_quantity.normalize():f}{line.purchase_unit}），请填写缺货原因",
                        code="shortfall_reason_required")
            except ValidationFailed as error:
                errors[line.pk] = f"{name}：{error.message}"
                continue
            line.collected_quantity = quantity
            line.collected_weight = weight
            line.shortfall_reason = reason if quantity < line.purchase_quantity else ""
            short = short or quantity < line.purchase_quantity
        if errors:
            raise ValidationFailed("；".join(errors.values()), code="purchase_confirm_invalid",
                                   details={"lines": errors})

        PurchaseTaskLine.objects.bulk_update(task_lines, ["collected_quantity", "collected_weight", "shortfall_reason"])
        task.status = PurchaseTask.Status.SHORT if short else PurchaseTask.Status.COLLECTED
        task.collected_at = timezone.now()
        task.save(update_fields=["status", "collected_at", "updated_at"])
    return task
