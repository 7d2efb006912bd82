"""The rep's counted figures and page 1 of the rep's customers, cached per rep in Redis and
bumped by the events that change them.

`GET /api/v1/rep/summary` and page 1 of `GET /api/v1/rep/customers` used to count, on every
request, the rep's customers (5,000 for a busy rep), this week's entries by scene, the week's new
customers, the month's won-back ones, the lapsing ones and today's orders with their GMV
(reps.assistant_reads' summary statement, itself tested equal to `reps.selectors.rep_summary`, the
pure rule, and to orders.gmv). The statement's answer is kept here, per rep, in the default cache:

- Page 1 of `GET /api/v1/rep/customers` (count and rows' JSON, reps.assistant_reads.first_page)
  is kept the same way (`read(rep_id, day, "page1")`, `store_page`), under the same tokens and day:
  every event below that changes a row (a customer saved: name, phone, address, last order, rep;
  an order's spend) bumps them.
- `read(rep_id, day)` gives the cached figures or None (a miss: the caller counts with the
  statement and hands the result to `store`). One Redis round trip (MGET) on a hit.
- Each cached value carries the two generation tokens it was counted under — the rep's and a global
  one — and the Shanghai day it was counted on. It answers only while both tokens are still the
  current ones and the day is today's (this week's and this month's start follow from the day), and
  for at most FIGURES_TTL seconds in any case.
- `changed(*rep_ids)` replaces the reps' tokens at once and again after the transaction commits;
  `changed_everyone()` the global one. A token is a fresh random value (never a counter), so a
  token evicted, or deleted while Redis was away, can never come back to match an old value.

The tokens are read BEFORE the counting statement, and replaced again AFTER the change commits:
a count that missed a change is stored under a token that the change then replaces, so it is never
read again (PostgreSQL's READ COMMITTED: a statement started after the commit sees it).

Who bumps (the freshness rule, README "How fresh the rep's figures are"):
- any Customer saved or deleted through the ORM: its rep, its previous rep (a handover in admin),
  and the rep who acquired it (a payment saves the customer, so a lapsing customer won back
  counts at once);
- any EntryEvent or ChurnEvent saved or deleted through the ORM: its rep;
- any Order created or deleted, or saved with a new rep, paid_at or total: its reps and its
  customer's (a payment); every rep when its customer is not at hand and a paid order's amount
  changed or it was deleted (after a handover old orders keep the old rep, but their spend shows
  on the customer's new rep's page 1; a payment itself saves the customer, which bumps its rep);
- any Refund saved or deleted: its order's rep and its customer's, or every rep when they are not
  at hand;
- the set-based writes that bypass signals call `changed`/`changed_everyone` themselves:
  `reps.services` (a walk-in customer attributed to a rep, a handover), the refund's outcome
  (`orders.services.payments`) and the nightly churn sweep (`customers.churn`, every rep).
Anything else (a raw SQL, an `.update()` in a shell) shows within FIGURES_TTL.

The rep's own check (active, with an active login), name and key are never cached: a read runs
reps.assistant_reads' one-row statement for them, then this cache's one MGET.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_init, post_save

FIGURES_TTL = 60  # seconds: the bound for a change made without the events above
_EVERYONE = "reps:figures:gen"
_LAYOUT = 1  # of the cached value: a new layout, a new key (never an old value read as new)
FIGURES = ("entries_today", "entries_week", "customers", "new_customers_week", "won_back_month", "lapsing",
           "orders_today", "gmv_today")


def _rep_key(rep_id: int) -> str:
    return f"reps:figures:gen:{rep_id}"


def _data_key(rep_id: int, what: str = "figures") -> str:
    return f"reps:{what}:{_LAYOUT}:{rep_id}"  # what: "figures", or "page1" (the customer list's first page)


def _shared() -> bool:
    # Only a cache every process shares (Redis): a per-process one (no REDIS_URL) would not see
    # another process's bumps. Without it every read counts.
    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


def _token() -> str:
    return uuid.uuid4().hex


def read(rep_id: int, day, what: str = "figures") -> tuple[dict | None, tuple]:
    """(the cached figures or None, the generation to store a fresh count under, None for
    none). Read the generation before counting (see the module). `what`: "figures", or "page1"
    (page 1 of the rep's customer list: its count and rows, under the same rule and tokens)."""
    if not _shared():
        return None, None
    keys = (_EVERYONE, _rep_key(rep_id), _data_key(rep_id, what))
    got = cache.get_many(keys)
    everyone, mine, data = (got.get(key) for key in keys)
    if everyone and mine and data and data["gen"] == (everyone, mine) and data["day"] == day.isoformat():
        return data["figures"], (everyone, mine)
    if not everyone:
        everyone = _token()
        cache.add(_EVERYONE, everyone, timeout=None)  # lost to another process's: ours never matches
    if not mine:
        mine = _token()
        cache.add(_rep_key(rep_id), mine, timeout=None)
    return None, (everyone, mine)


def store(rep_id: int, day, generation: tuple, figures: dict) -> None:
    """Keep `figures` (counted after `read` gave `generation`) for the rep on `day`."""
    cache.set(_data_key(rep_id), {"gen": generation, "day": day.isoformat(),
                                  "figures": {name: figures[name] for name in FIGURES}}, timeout=FIGURES_TTL)


def store_page(rep_id: int, day, generation: tuple, page) -> None:
    """Keep page 1 of the rep's customer list (count, rows), read after `read(..., "page1")`
    gave `generation`."""
    cache.set(_data_key(rep_id, "page1"), {"gen": generation, "day": day.isoformat(), "figures": page},
              timeout=FIGURES_TTL)


def _bump(keys) -> None:
    cache.set_many({key: _token() for key in keys}, timeout=None)


def _bump_now_and_after_commit(keys) -> None:
    # At once (a read later in the same transaction, or a test inside one, sees the change) and
    # again after the commit: a count taken between the first bump and the commit (which cannot
    # see the change yet) is stored under a token the second bump replaces.
    _bump(keys)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _bump(keys))


def changed(*rep_ids) -> None:
    """The reps' counts changed (in the current transaction, or just now)."""
    keys = [_rep_key(rep_id) for rep_id in set(rep_ids) if rep_id is not None]
    if keys:
        _bump_now_and_after_commit(keys)


def changed_everyone() -> None:
    """Every rep's counts changed (a set-based write, e.g. the nightly churn sweep)."""
    _bump_now_and_after_commit([_EVERYONE])


# The ORM's writes (connected in reps.apps).

def _customer_loaded(sender, instance, **kwargs):
    instance._figures_rep_id = instance.__dict__.get("rep_id")


def _customer_changed(sender, instance, **kwargs):
    if "rep_id" not in instance.__dict__ or "acquired_by_id" not in instance.__dict__:
        changed_everyone()  # loaded without its reps (.only()): whose figures moved is unknown
    else:
        changed(instance.rep_id, getattr(instance, "_figures_rep_id", None), instance.acquired_by_id)
    instance._figures_rep_id = instance.__dict__.get("rep_id")


def _event_changed(sender, instance, **kwargs):
    changed(instance.rep_id)


_ORDER_FIGURES = ("rep_id", "paid_at", "total")  # what today's orders and GMV read of an order


def _order_loaded(sender, instance, **kwargs):
    instance._figures_order = tuple(instance.__dict__.get(name) for name in _ORDER_FIGURES)


def _customers_rep(instance):
    """(known, the rep of the order's customer): page 1's total spend follows the customer, whose
    rep may not be the order's (a handover keeps old orders' reps)."""
    customer = instance._state.fields_cache.get("customer")
    if customer is not None and "rep_id" in customer.__dict__:
        return True, customer.rep_id
    return False, None


def _order_changed(sender, instance, created=False, **kwargs):
    now = tuple(instance.__dict__.get(name) for name in _ORDER_FIGURES)
    before = getattr(instance, "_figures_order", None)
    deleted = kwargs.get("signal") is post_delete
    if created or deleted or now != before:
        known, customers_rep = _customers_rep(instance)
        paid = now[1] is not None or (before is not None and before[1] is not None)
        if "rep_id" not in instance.__dict__:
            changed_everyone()  # loaded without its rep (.only()): whose figures moved is unknown
        elif not known and paid and not (before and before[1] is None and now[1] is not None and now[2] == before[2]):
            # A paid order's amount changed, or it was deleted or created paid, its customer not
            # at hand: whose list shows its spend is unknown. (A payment, paid_at set, also saves
            # the customer, customers.churn.customer_record_payment, which bumps its rep.)
            changed_everyone()
        else:
            changed(now[0], before[0] if before else None, customers_rep)
    instance._figures_order = now


def _refund_changed(sender, instance, **kwargs):
    # GMV is net of refunds not failed (orders.gmv). The order's rep when the order is at hand;
    # otherwise every rep (refunds are rare; no query added to the refund's path).
    order = instance._state.fields_cache.get("order")
    known, customers_rep = _customers_rep(order) if order is not None else (False, None)
    if order is not None and "rep_id" in order.__dict__ and known:
        changed(order.rep_id, customers_rep)
    else:
        changed_everyone()


def connect() -> None:
    from customers.models import ChurnEvent, Customer
    from orders.models import Order, Refund

    from .models import EntryEvent

    post_init.connect(_customer_loaded, sender=Customer, dispatch_uid="reps.figures.customer_loaded")
    for name, signal in (("save", post_save), ("delete", post_delete)):
        signal.connect(_customer_changed, sender=Customer, dispatch_uid=f"reps.figures.Customer.{name}")
        for model in (EntryEvent, ChurnEvent):
            signal.connect(_event_changed, sender=model, dispatch_uid=f"reps.figures.{model.__name__}.{name}")
        signal.connect(_order_changed, sender=Order, dispatch_uid=f"reps.figures.Order.{name}")
        signal.connect(_refund_changed, sender=Refund, dispatch_uid=f"reps.figures.Refund.{name}")
    post_init.connect(_order_loaded, sender=Order, dispatch_uid="reps.figures.order_loaded")
