"""`bench/checkout.py --price-list`: the bench visitors' restaurants priced from one price list.

The list covers every SKU of the pool: a fixed price (90% of the list price) for every other
pool SKU, and 5% off each pool SKU's shelf, so both kinds of entry are read on every checkout.
Without the option the same restaurants are left without a list (the runs compare like for like).
"""

from __future__ import annotations

from decimal import Decimal

NAME = "压测大客户价"


def assign_price_list(*, customer_ids: list[int], pool_product_ids: list[int], enabled: bool) -> int:
    """Give (or take away) the bench list; returns the number of entries the list has."""
    from catalog.models import PriceList, PriceListEntry, Product
    from customers.models import Customer

    if not enabled:
        Customer.objects.filter(pk__in=customer_ids).update(own_price_list=None, price_list=None)
        return 0
    price_list, _ = PriceList.objects.update_or_create(name=NAME, defaults={"is_active": True, "valid_from": None,
                                                                           "valid_to": None})
    PriceListEntry.objects.filter(price_list=price_list).delete()
    products = list(Product.objects.filter(pk__in=pool_product_ids).values_list("pk", "price", "category_id"))
    entries = [PriceListEntry(price_list=price_list, product_id=pk, price=(price * Decimal("0.9")).quantize(
        Decimal("0.01"))) for n, (pk, price, _) in enumerate(products) if n % 2 == 0]
    entries += [PriceListEntry(price_list=price_list, category_id=category_id, percent_off=Decimal("5"))
                for category_id in sorted({category for _, _, category in products})]
    PriceListEntry.objects.bulk_create(entries)
    # Their own list, and so the list in force (catalog.price_lists: no tag brings another here).
    Customer.objects.filter(pk__in=customer_ids).update(own_price_list=price_list, price_list=price_list)
    return len(entries)
