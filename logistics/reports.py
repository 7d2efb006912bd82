"""Stock figures for managers: inventory value snapshots and inventory turnover.

Turnover over a period = cost of goods shipped in the period / average inventory value in the
period. Costs are the moving average cost at the moment of shipment (written on each SHIPMENT
ledger row); the average inventory value is the mean of the nightly snapshots in the period
(end-of-day value = on hand × average cost), or today's value when there is no snapshot yet.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Avg, DecimalField, ExpressionWrapper, F, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Category

from .models import InventoryValueSnapshot, Stock, StockMove

ZERO = Decimal("0.00")


def _aisle_of(category_id_field: str):
    """The top-level category of a product's shelf (the shelf itself when it is top-level)."""
    return Coalesce(F(f"{category_id_field}__parent_id"), F(category_id_field))


def inventory_values() -> dict[int | None, Decimal]:
    """Current value per top-level category, and under None the whole warehouse. One query."""
    value = ExpressionWrapper(F("on_hand") * F("average_cost"), output_field=DecimalField(max_digits=18, decimal_places=4))
    rows = (Stock.objects.annotate(aisle=_aisle_of("product__category"), value=value)
            .values("aisle").annotate(total=Sum("value")))
    values = {row["aisle"]: (row["total"] or ZERO).quantize(Decimal("0.01")) for row in rows}
    values[None] = sum(values.values(), ZERO)
    return values


def inventory_value_snapshot(*, day: date | None = None) -> int:
    """Record today's values (idempotent: a rerun the same day overwrites with fresh figures)."""
    day = day or timezone.localdate()
    values = inventory_values()
    for category_id, value in values.items():
        InventoryValueSnapshot.objects.update_or_create(day=day, category_id=category_id, defaults={"value": value})
    return len(values)


@dataclass(frozen=True)
class TurnoverRow:
    category_id: int | None
    name: str
    cost_of_goods_shipped: Decimal
    average_inventory: Decimal
    turnover: Decimal | None  # None when there was no inventory to turn
    days_of_inventory: Decimal | None


def inventory_turnover(*, start: date, end: date) -> list[TurnoverRow]:
    """Per top-level category, then the whole warehouse (category None). A few queries."""
    if end < start:
        start, end = end, start
    tz = timezone.get_current_timezone()
    since = datetime.combine(start, time.min, tzinfo=tz)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    cost = ExpressionWrapper(-F("on_hand_delta") * Coalesce(F("unit_cost"), Decimal("0")),
                             output_field=DecimalField(max_digits=18, decimal_places=4))
    shipped = (StockMove.objects.filter(kind=StockMove.Kind.SHIPMENT, created_at__gte=since, created_at__lt=until)
               .annotate(aisle=_aisle_of("stock__product__category"), cost=cost)
               .values("aisle").annotate(total=Sum("cost")))
    cogs = {row["aisle"]: row["total"] or ZERO for row in shipped}
    cogs[None] = sum(cogs.values(), ZERO)
    averages = {row["category_id"]: row["avg"] for row in InventoryValueSnapshot.objects.filter(
        day__gte=start, day__lte=end).values("category_id").annotate(avg=Avg("value"))}
    if not averages:
        averages = inventory_values()
    days = Decimal((end - start).days + 1)
    names = dict(Category.objects.filter(parent__isnull=True).values_list("pk", "name"))
    rows = []
    for category_id in [*sorted(set(names) & (set(cogs) | set(averages))), None]:
        goods = Decimal(cogs.get(category_id, ZERO)).quantize(Decimal("0.01"))
        average = Decimal(averages.get(category_id) or ZERO).quantize(Decimal("0.01"))
        turnover = (goods / average).quantize(Decimal("0.01")) if average > 0 else None
        days_of_inventory = (days / turnover).quantize(Decimal("0.1")) if turnover else None
        rows.append(TurnoverRow(category_id, names.get(category_id, "全部"), goods, average, turnover,
                                days_of_inventory))
    return rows
