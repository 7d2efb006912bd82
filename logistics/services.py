from decimal import Decimal
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import InsufficientStock, ValidationFailed
from core.sql import column, insert_statement, prep, table

from .models import Stock, StockMove


def stock_adjust(
    *, product_id: int, on_hand_delta: Decimal, kind: str = StockMove.Kind.ADJUSTMENT, reference: str = "",
    note: str = "",
) -> Stock:
    """Change on-hand stock of one SKU and write the ledger row, in one transaction.

    A conditional UPDATE keeps on-hand from going below what is reserved, whatever runs beside it.
    """
    if kind not in {StockMove.Kind.OPENING, StockMove.Kind.RECEIPT, StockMove.Kind.ADJUSTMENT, StockMove.Kind.RETURN}:
        raise ValidationFailed("该类型不能直接调整在库数量", code="invalid_stock_move")
    delta = Decimal(on_hand_delta)
    if delta == 0:
        raise ValidationFailed("调整数量不能为 0", code="invalid_stock_move")
    with transaction.atomic():
        stock, _ = Stock.objects.get_or_create(product_id=product_id)
        updated = Stock.objects.filter(pk=stock.pk, on_hand__gte=F("reserved") - delta).update(
            on_hand=F("on_hand") + delta
        )
        if not updated:
            raise InsufficientStock("调整后在库将少于已预留数量", details={"product_id": product_id})
        StockMove.objects.create(stock=stock, kind=kind, on_hand_delta=delta, reference=reference, note=note)
        stock.refresh_from_db(fields=["on_hand", "reserved", "updated_at"])
    return stock


def _lock_stocks(product_ids) -> list[Stock]:
    # A fixed lock order (by product) so two orders for the same SKUs can never deadlock.
    return list(Stock.objects.select_for_update().filter(product_id__in=sorted(product_ids)).order_by("product_id"))


def stock_reserve(*, items: dict[int, Decimal], reference: str, labels: dict[int, str] | None = None) -> None:
    """Reserve stock for an order: all lines or none. Call inside the order's transaction.

    Rows are locked (in product order) before they are read, so concurrent reservations can never
    take the same unit twice; the writes are `stock_reservation_statements`, the ones checkout's
    SQLite path runs (its PostgreSQL path runs the same as `stock_reservation_ctes`).
    """
    if not items:
        return
    stocks = {stock.product_id: stock for stock in _lock_stocks(items)}
    short = []
    for product_id in sorted(items):
        stock = stocks.get(product_id)
        available = stock.available if stock else Decimal("0")
        if items[product_id] > available:
            short.append({"product_id": product_id, "available": str(available), "wanted": str(items[product_id])})
    if short:
        labels = labels or {}
        names = "、".join(labels.get(row["product_id"], str(row["product_id"])) for row in short)
        raise InsufficientStock(f"库存不足：{names}", details={"lines": short})
    reservations = {stock.pk: items[product_id] for product_id, stock in stocks.items()}
    with connection.cursor() as cursor:
        for sql, params in stock_reservation_statements(reservations=reservations, reference=reference,
                                                        now=timezone.now()):
            cursor.execute(sql, params)


@lru_cache(maxsize=256)
def _reservation_sql(vendor: str, count: int) -> str:
    cases = " ".join(["WHEN %s THEN %s"] * count)
    return (f"UPDATE {table(Stock)} SET {column(Stock, 'reserved')} = {column(Stock, 'reserved')} + "
            f"CASE {column(Stock, 'id')} {cases} END, {column(Stock, 'updated_at')} = %s "
            f"WHERE {column(Stock, 'id')} IN ({', '.join(['%s'] * count)})")


def stock_reservation_statements(*, reservations: dict[int, Decimal], reference: str, now) -> list[tuple[str, list]]:
    """The writes of a reservation whose stock rows the caller has locked and checked: (sql, params).

    `reservations` maps stock row id -> units. Checkout runs these with its other writes in one
    round trip (core.sql.StatementBatch); `stock_reserve` runs them after its own locks and
    checks. Reserved up, one ledger row per SKU. The table's CHECK constraints still refuse
    reserved > on hand.
    """
    if not reservations:
        return []
    ids = list(reservations)
    update = _reservation_sql(connection.vendor, len(ids))
    params = [value for stock_id in ids for value in (stock_id, prep(Stock, "reserved", reservations[stock_id]))]
    params += [prep(Stock, "updated_at", now), *ids]
    ledger = insert_statement(
        StockMove, ("stock_id", "kind", "on_hand_delta", "reserved_delta", "reference", "note", "created_at"),
        [(stock_id, StockMove.Kind.RESERVATION, Decimal("0"), units, reference, "", now)
         for stock_id, units in reservations.items()],
    )
    return [(update, params), ledger]


def stock_reservation_ctes(*, stock_ids: str, units: str, reference: str, now: str) -> list[str]:
    """`stock_reservation_statements` as parts of one PostgreSQL statement (`WITH a AS (...), ...`),
    for a prepared write whose parameters are arrays: `stock_ids` (bigint[]) and `units`
    (numeric[], the same length) are SQL expressions naming them, `reference` and `now` too.
    Same effect: reserved up on each stock row the caller has locked and checked, one ledger
    row per SKU in the arrays' order; the CHECK constraints still refuse reserved > on hand."""
    s, m = table(Stock), table(StockMove)
    pairs = f"unnest({stock_ids}, {units}) WITH ORDINALITY AS r(stock_id, units, n)"
    return [
        f"stock_reserved AS (UPDATE {s} AS s SET {column(Stock, 'reserved')} = s.{column(Stock, 'reserved')} + r.units, "
        f"{column(Stock, 'updated_at')} = {now} FROM {pairs} WHERE s.{column(Stock, 'id')} = r.stock_id)",
        f"stock_ledger AS (INSERT INTO {m} ({column(StockMove, 'stock_id')}, {column(StockMove, 'kind')}, "
        f"{column(StockMove, 'on_hand_delta')}, {column(StockMove, 'reserved_delta')}, {column(StockMove, 'reference')}, "
        f"{column(StockMove, 'note')}, {column(StockMove, 'created_at')}) "
        f"SELECT r.stock_id, '{StockMove.Kind.RESERVATION.value}', 0, r.units, {reference}, '', {now} "
        f"FROM {pairs} ORDER BY r.n)",
    ]


def stock_release(*, items: dict[int, Decimal], reference: str) -> None:
    """Give reserved stock back (an unpaid order expired or was cancelled). Inside a transaction."""
    if not items:
        return
    stocks = _lock_stocks(items)
    now = timezone.now()
    for stock in stocks:
        quantity = items[stock.product_id]
        if quantity > stock.reserved:
            raise InsufficientStock("释放数量超过已预留数量", details={"product_id": stock.product_id})
        stock.reserved -= quantity
        stock.updated_at = now
    Stock.objects.bulk_update(stocks, ["reserved", "updated_at"])
    StockMove.objects.bulk_create(
        StockMove(stock=stock, kind=StockMove.Kind.RELEASE, reserved_delta=-items[stock.product_id], reference=reference)
        for stock in stocks
    )


def stock_receive(*, product_id: int, quantity: Decimal, unit_cost: Decimal, reference: str, note: str = "") -> Stock:
    """Goods in: on-hand up, the moving average cost updated, one ledger row. Inside a transaction."""
    quantity, unit_cost = Decimal(quantity), Decimal(unit_cost)
    if quantity <= 0:
        raise ValidationFailed("入库数量必须大于 0", code="invalid_quantity")
    if unit_cost < 0:
        raise ValidationFailed("成本不能为负", code="invalid_cost")
    Stock.objects.get_or_create(product_id=product_id)
    stock = Stock.objects.select_for_update().get(product_id=product_id)
    value_before = stock.on_hand * stock.average_cost
    stock.average_cost = ((value_before + quantity * unit_cost) / (stock.on_hand + quantity)).quantize(
        Decimal("0.0001"))
    stock.on_hand += quantity
    stock.save(update_fields=["on_hand", "average_cost", "updated_at"])
    StockMove.objects.create(stock=stock, kind=StockMove.Kind.RECEIPT, on_hand_delta=quantity, unit_cost=unit_cost,
                             reference=reference, note=note)
    return stock


def stock_ship(*, product_id: int, reserved_quantity: Decimal, shipped_quantity: Decimal, reference: str) -> Stock:
    """Goods out at packing: the order's reservation ends and what was really packed leaves stock.

    `reserved_quantity` is what the order reserved; `shipped_quantity` what went into the box (less
    when short-packed, or a catch-weight product's actual weight). Any difference goes back on sale.
    Inside a transaction; one SHIPMENT row (valued at the average cost) and, if needed, one RELEASE.
    """
    reserved_quantity, shipped_quantity = Decimal(reserved_quantity), Decimal(shipped_quantity)
    if shipped_quantity < 0 or reserved_quantity <= 0:
        raise ValidationFailed("出库数量无效", code="invalid_quantity")
    stock = Stock.objects.select_for_update().get(product_id=product_id)
    if reserved_quantity > stock.reserved:
        raise InsufficientStock("出库数量超过该订单的预留", details={"product_id": product_id})
    if shipped_quantity > stock.on_hand:
        raise InsufficientStock("在库数量不足以出库", details={"product_id": product_id,
                                                      "on_hand": str(stock.on_hand)})
    # What was shipped leaves both figures; what was reserved but not shipped is released.
    shipped_from_reservation = min(shipped_quantity, reserved_quantity)
    released = reserved_quantity - shipped_from_reservation
    stock.on_hand -= shipped_quantity
    stock.reserved -= reserved_quantity
    if stock.reserved > stock.on_hand:
        raise InsufficientStock("出库后在库数量少于其他订单的预留", details={"product_id": product_id})
    stock.save(update_fields=["on_hand", "reserved", "updated_at"])
    StockMove.objects.create(stock=stock, kind=StockMove.Kind.SHIPMENT, on_hand_delta=-shipped_quantity,
                             reserved_delta=-shipped_from_reservation, unit_cost=stock.average_cost,
                             reference=reference)
    if released:
        StockMove.objects.create(stock=stock, kind=StockMove.Kind.RELEASE, reserved_delta=-released,
                                 reference=reference, note="少发，释放预留")
    return stock
