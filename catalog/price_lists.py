"""Which price list a customer buys at: its own, else one its tags bring (README "Price lists").

The rule, `list_in_force` (pure):

1. The candidates are the customer's own list (given on its admin page, Customer.own_price_list),
   then the lists of its tags (crm.Tag.price_list, manual and automatic tags alike), the list
   with the higher `priority` first, then the older list (smaller id).
2. The first candidate that applies today is in force: active, and today within its dates (Shanghai
   dates, both ends inclusive: `catalog.pricing.list_applies`). So an own list out of its dates
   gives way to a tag's list, and a customer whose lists all lie outside their dates buys at
   catalogue prices.
3. None: catalogue prices.

What the rule gives is kept on the customer (Customer.price_list), which every pricing path
already reads (catalog.pricing.buyer_of, checkout's one prepared read, the listing, 我的常购): a
tag's list costs pricing no statement. `refresh` writes it, set-based, with the rule's SQL twin
(`_in_force_sql`, tested equal to the rule on random customers); it runs whenever what the rule
reads changes:

- a customer's own list set or cleared (any Customer saved through the ORM with another
  own_price_list: the admin page);
- a tag put on or taken off a customer: each writer calls `refresh` (the customer's admin page
  with its tag inlines, crm.services' `customer_tags_set`, the nightly automatic tags of
  crm.autotags). No signal on CustomerTag: a tag deleted with 100,000 customers would send one
  per row;
- a tag given another list or deleted (Tag saved or deleted), a list's active flag, dates or
  priority changed or a list deleted (PriceList saved or deleted): its customers and its tags'
  customers;
- every night at 00:01 Shanghai time (beat `price-lists-refresh`): the lists whose dates start
  or end that day.

Between midnight and that refresh, a list that has just ended gives catalogue prices (the price
rule checks the dates itself, catalog.pricing.list_price_rule) rather than the next list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.sql import column, table

from .pricing import applies_on_sql, list_applies


@dataclass(frozen=True)
class ListHeader:
    """What the rule reads of a price list."""

    id: int
    is_active: bool
    valid_from: date | None
    valid_to: date | None
    priority: int = 0


def list_in_force(*, own: ListHeader | None, tag_lists: Iterable[ListHeader], day: date) -> int | None:
    """THE rule (module docstring): the id of the list this customer buys at on `day`, or None."""
    candidates = ([own] if own is not None else []) + sorted(set(tag_lists), key=lambda h: (-h.priority, h.id))
    for header in candidates:
        if list_applies(is_active=header.is_active, valid_from=header.valid_from, valid_to=header.valid_to,
                        day=day):
            return header.id
    return None


def _in_force_sql(customer: str, day: str) -> str:
    """`list_in_force` for the customer row `customer` as a PostgreSQL/SQLite scalar subquery."""
    from crm.models import CustomerTag, Tag
    from customers.models import Customer

    from .models import PriceList

    def pl(name):
        return f"pl.{column(PriceList, name)}"

    applies = applies_on_sql(is_active=pl("is_active"), valid_from=pl("valid_from"), valid_to=pl("valid_to"),
                             day=day)
    return f"""(
        SELECT candidate.list_id FROM (
            SELECT {pl('id')} AS list_id, 0 AS tier, 0 AS priority
              FROM {table(PriceList)} pl
             WHERE {pl('id')} = {customer}.{column(Customer, 'own_price_list')} AND {applies}
            UNION ALL
            SELECT {pl('id')}, 1, {pl('priority')}
              FROM {table(CustomerTag)} ct
              JOIN {table(Tag)} t ON t.{column(Tag, 'id')} = ct.{column(CustomerTag, 'tag')}
              JOIN {table(PriceList)} pl ON {pl('id')} = t.{column(Tag, 'price_list')}
             WHERE ct.{column(CustomerTag, 'customer')} = {customer}.{column(Customer, 'id')} AND {applies}
        ) candidate
        ORDER BY candidate.tier, candidate.priority DESC, candidate.list_id
        LIMIT 1)"""


def refresh(customer_ids: Sequence[int] | None = None, *, day: date | None = None) -> int:
    """Write the list in force of these customers (None: of every customer who has or may get
    one). One UPDATE, of the rows whose list changes only; returns their number."""
    from crm.models import CustomerTag, Tag
    from customers.models import Customer

    day = day or timezone.localdate()
    c = table(Customer)
    price_list, own, pk = (column(Customer, name) for name in ("price_list", "own_price_list", "id"))
    in_force = _in_force_sql("cu", "%s")
    if customer_ids is None:
        # Every customer who has a list, an own list, or a tag that brings one.
        which = (f"cu.{price_list} IS NOT NULL OR cu.{own} IS NOT NULL OR cu.{pk} IN ("
                 f"SELECT ct.{column(CustomerTag, 'customer')} FROM {table(CustomerTag)} ct "
                 f"JOIN {table(Tag)} t ON t.{column(Tag, 'id')} = ct.{column(CustomerTag, 'tag')} "
                 f"WHERE t.{column(Tag, 'price_list')} IS NOT NULL)")
        ids = []
    else:
        ids = sorted({int(pk_) for pk_ in customer_ids})
        if not ids:
            return 0
        which = f"cu.{pk} IN ({', '.join(['%s'] * len(ids))})"
    # The rule once per customer (a handful of indexed candidate rows each), then only the rows
    # whose list changes are written. UPDATE ... FROM: PostgreSQL, and SQLite since 3.33.
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    sql = (f"UPDATE {c} SET {price_list} = wanted.list_id "
           f"FROM (SELECT cu.{pk} AS customer_id, {in_force} AS list_id FROM {c} cu WHERE {which}) wanted "
           f"WHERE {c}.{pk} = wanted.customer_id AND {c}.{price_list} {distinct} wanted.list_id")
    params = [day] * in_force.count("%s") + ids  # the rule's dates, then the customers
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def refresh_on_commit(customer_ids: Sequence[int] | None = None) -> None:
    """`refresh` now (a read later in the same transaction sees it) and again after the commit."""
    refresh(customer_ids)
    if connection.in_atomic_block:
        ids = None if customer_ids is None else list(customer_ids)
        transaction.on_commit(lambda: refresh(ids))


def customers_of_lists(list_ids: Iterable[int]) -> list[int]:
    """Customers whose list in force may depend on these lists: own, in force, or through a tag."""
    from crm.models import CustomerTag
    from customers.models import Customer

    list_ids = [pk for pk in list_ids if pk is not None]
    if not list_ids:
        return []
    direct = Customer.objects.filter(Q(own_price_list_id__in=list_ids) | Q(price_list_id__in=list_ids)).values_list(
        "pk", flat=True)
    tagged = CustomerTag.objects.filter(tag__price_list_id__in=list_ids).values_list("customer_id", flat=True)
    return sorted(set(direct) | set(tagged))


# The ORM's writes (connected in catalog.apps).

def _customer_loaded(sender, instance, **kwargs):
    instance._own_price_list_loaded = instance.__dict__.get("own_price_list_id")


def _customer_saved(sender, instance, created=False, **kwargs):
    own = instance.__dict__.get("own_price_list_id")
    if "own_price_list_id" in instance.__dict__ and (own != getattr(instance, "_own_price_list_loaded", None)
                                                      or (created and own is not None)):
        refresh_on_commit([instance.pk])
    instance._own_price_list_loaded = own


def _tag_loaded(sender, instance, **kwargs):
    instance._price_list_loaded = instance.__dict__.get("price_list_id")


def _tag_saved(sender, instance, **kwargs):
    before, now = getattr(instance, "_price_list_loaded", None), instance.__dict__.get("price_list_id")
    if before != now:
        from crm.models import CustomerTag

        ids = list(CustomerTag.objects.filter(tag_id=instance.pk).values_list("customer_id", flat=True))
        ids += customers_of_lists([before])  # those who had the old list in force through it
        refresh_on_commit(ids)
    instance._price_list_loaded = now


def _tag_deleted(sender, instance, **kwargs):
    # Its CustomerTag rows went with it: whoever had its list in force may fall back on another.
    if instance.__dict__.get("price_list_id") is not None:
        refresh_on_commit(customers_of_lists([instance.price_list_id]))


def _price_list_changed(sender, instance, **kwargs):
    refresh_on_commit(customers_of_lists([instance.pk]))


def _price_list_deleted(sender, instance, **kwargs):
    # SET_NULL has emptied its customers' columns and its tags': whoever had it in force (now
    # none) may have another list to fall back on.
    refresh_on_commit(None)


def connect() -> None:
    from django.db.models.signals import post_delete, post_init, post_save

    from crm.models import Tag
    from customers.models import Customer

    from .models import PriceList

    post_init.connect(_customer_loaded, sender=Customer, dispatch_uid="price_lists_customer_loaded")
    post_save.connect(_customer_saved, sender=Customer, dispatch_uid="price_lists_customer_saved")
    post_init.connect(_tag_loaded, sender=Tag, dispatch_uid="price_lists_tag_loaded")
    post_save.connect(_tag_saved, sender=Tag, dispatch_uid="price_lists_tag_saved")
    post_delete.connect(_tag_deleted, sender=Tag, dispatch_uid="price_lists_tag_deleted")
    post_save.connect(_price_list_changed, sender=PriceList, dispatch_uid="price_lists_list_saved")
    post_delete.connect(_price_list_deleted, sender=PriceList, dispatch_uid="price_lists_list_deleted")
