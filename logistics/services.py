from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import InsufficientStock, ValidationFailed

from .models import Stock, StockMove


def stock_adjust(
    *, product_id: int, on_hand_delta: Decimal, kind: str = StockMove.Kind.ADJUSTMENT, reference: str = "",
    note: str = "",
) -> Stock:
    """Change on-hand stock of one SKU and write the ledger row, in one transaction.

    A conditional UPDATE keeps on-hand from going below what is reserved, whatever runs beside it.
    """
    if kind not in {StockMove.Kind.OPENING, StockMove.Kind.RECEIPT, StockMove.Kind.ADJUSTMENT}:
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

    Rows are locked (in product order) before they are read, so concurrent checkouts can never
    reserve the same unit twice; the ledger gets one row per SKU.
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
    now = timezone.now()
    for product_id, stock in stocks.items():
        stock.reserved += items[product_id]
        stock.updated_at = now
    Stock.objects.bulk_update(list(stocks.values()), ["reserved", "updated_at"])
    StockMove.objects.bulk_create(
        StockMove(stock=stock, kind=StockMove.Kind.RESERVATION, reserved_delta=items[product_id], reference=reference)
        for product_id, stock in stocks.items()
    )


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
