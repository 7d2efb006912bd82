from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from .models import Stock, StockMove


def stock_ledger_drift() -> list[dict]:
    """Stock rows whose on-hand or reserved figure differs from the sum of their ledger rows."""
    zero = Value(0, output_field=DecimalField(max_digits=14, decimal_places=2))

    def ledger_sum(field):
        return Coalesce(
            Subquery(
                StockMove.objects.filter(stock=OuterRef("pk")).values("stock").annotate(s=Sum(field)).values("s")
            ),
            zero,
        )

    rows = Stock.objects.annotate(ledger_on_hand=ledger_sum("on_hand_delta"), ledger_reserved=ledger_sum("reserved_delta"))
    return [
        {
            "product_id": row.product_id,
            "on_hand": row.on_hand,
            "ledger_on_hand": row.ledger_on_hand,
            "reserved": row.reserved,
            "ledger_reserved": row.ledger_reserved,
        }
        for row in rows.iterator(chunk_size=2000)
        if row.on_hand != row.ledger_on_hand or row.reserved != row.ledger_reserved
    ]
