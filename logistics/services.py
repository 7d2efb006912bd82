from decimal import Decimal

from django.db import transaction
from django.db.models import F

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
