"""Seeding step for order history: months of past orders per restaurant, as checkout and WeChat Pay
would have left them (order, lines, payment, audit trail), so reports, "buy again", churn and
benchmarks see realistic data.

Each restaurant gets its own rhythm from a random stream keyed by its phone (the natural key), so the
history of one restaurant does not depend on which others exist or were seeded before:
- an ordering interval of 2-10 days (about 6 orders a month on average), jittered order to order,
  at most one order a day, at a habitual time of day in Asia/Shanghai business hours;
- some restaurants churned (stopped ordering 1-3 months ago), some are new (first order recently),
  some are lapsing (silent for several of their intervals, under a month: at risk);
- baskets of 3-12 lines, mostly from the restaurant's own favourites with its usual quantities,
  quantities always `min_quantity + k × step_quantity`; prices are today's prices (the catalogue
  keeps no price history); delivery fee and minimum order by `OrderSettings.current()`;
  the delivery date by the cut-off, in Shanghai time, as checkout computes it.

Statuses: a paid order whose delivery day has passed is `completed`; those delivered today or later
show the stages reached by now (`paid` → `packing` → `packed` → `out_for_delivery` → `delivered`).
About 2% were never paid and are `cancelled` (expired, or cancelled by the customer), with a closed
payment. Every paid order has a succeeded Payment whose amount_fen is the total in fen.

Audit trail, kept to a sane row count (~3 events an order): every order gets `created`, paid ones
`paid`, cancelled ones `cancelled`; a completed order gets only its final `delivered → completed`
transition (the intermediate warehouse steps are left out); orders still in flight get every stage
they reached.

Historical orders do NOT touch stock: they predate the opening stock, which counts what is on the
shelves now, after past orders were shipped and those in flight were set aside. So no reservation or
shipment ledger rows are written, Stock.reserved stays 0, and the stock ledger still balances.

Idempotent: a restaurant that already has seeded orders (idempotency key `seed-<customer id>-<n>`)
is skipped, and each batch of restaurants is written in one transaction.
"""

import multiprocessing
import random
from datetime import timedelta

from django.db import connection, connections, transaction
from django.utils import timezone

from customers.models import Customer, Visitor
from orders.models import Order, OrderEvent, OrderLine, OrderSettings, Payment

from .base import DemoPlan, StepResult, batched
from .history_plan import (
    CUSTOMERS_PER_BATCH,
    CUSTOMERS_PER_CHUNK,
    DAYS_PER_MONTH,
    EVENT_FIELDS,
    LINE_FIELDS,
    NUMBER_INDEX,
    ORDER_FIELDS,
    PAYMENT_FIELDS,
    SEED_KEY_PREFIX,
    TRADE_NO_INDEX,
    Catalogue,
    CustomerRow,
    Rules,
    SeedOrder,
    customer_history,
)
from .rows import RowUpdater, RowWriter


def _customer_rows(batch: list[tuple]) -> tuple[list[CustomerRow], int]:
    """The batch's restaurants that still need history, with their visitor; and how many already have it."""
    ids = [row[0] for row in batch]
    seeded = set(
        Order.objects.filter(customer_id__in=ids, idempotency_key__startswith=SEED_KEY_PREFIX)
        .values_list("customer_id", flat=True).distinct()
    )
    visitors: dict[int, tuple[int, str]] = {}
    for customer_id, visitor_id, openid in (
        Visitor.objects.filter(customer_id__in=ids).order_by("customer_id", "pk").values_list("customer_id", "pk",
                                                                                               "openid")
    ):
        visitors.setdefault(customer_id, (visitor_id, openid))
    rows = [
        CustomerRow(*row, *visitors[row[0]]) for row in batch if row[0] not in seeded and row[0] in visitors
    ]
    return rows, len(seeded)


def _resolve_number_clashes(orders: list[SeedOrder], rng: random.Random) -> None:
    """A seeded number equal to a live order's (random digits), or repeated past 781,250 customers: redraw."""
    numbers = [order.row[NUMBER_INDEX] for order in orders]
    taken: set[str] = set()
    for chunk in batched(numbers, 900):  # under SQLite's bound-parameter limit
        taken.update(Order.objects.filter(number__in=chunk).values_list("number", flat=True))
    seen: set[str] = set()
    for order in orders:
        number = order.row[NUMBER_INDEX]
        while number in taken or number in seen:
            number = number[:6] + f"{rng.randrange(10**8):08d}"
        seen.add(number)
        order.row[NUMBER_INDEX] = order.payment[TRADE_NO_INDEX] = number


def _backdate_people(customers: list[CustomerRow], histories: dict[int, list[SeedOrder]], rng) -> None:
    """A restaurant became a customer just before its first order, its WeChat visitor a little earlier.
    The ordering rhythm (last order, count, usual interval) is the next step's: the product's recompute."""
    customer_updates, visitor_updates = [], []
    for customer in customers:
        orders = histories[customer.pk]
        if not orders:
            continue
        joined = orders[0].created_at - timedelta(minutes=rng.uniform(1, 10))
        customer_updates.append((joined, customer.pk))
        visitor_updates.append((joined - timedelta(hours=rng.uniform(0.1, 48)), orders[-1].created_at,
                                customer.visitor_id))
    RowUpdater(Customer, ["created_at"]).write(customer_updates)
    RowUpdater(Visitor, ["created_at", "last_seen_at"]).write(visitor_updates)


def _writers() -> dict[str, RowWriter]:
    return {
        "orders": RowWriter(Order, ORDER_FIELDS),
        "lines": RowWriter(OrderLine, LINE_FIELDS),
        "payments": RowWriter(Payment, PAYMENT_FIELDS),
        "events": RowWriter(OrderEvent, EVENT_FIELDS),
    }


def _seed_customers(*, plan: DemoPlan, rules: Rules, catalogue: Catalogue, first_pk: int, last_pk: int | None,
                    on_batch=None) -> int:
    """History for the customers with first_pk <= pk <= last_pk (None: no upper bound), one transaction a batch."""
    writers = _writers()
    customers = Customer.objects.order_by("pk").values_list(
        "pk", "phone", "name", "contact_name", "address", "district", "latitude", "longitude", "rep_id"
    ).filter(pk__gte=first_pk)
    if last_pk is not None:
        customers = customers.filter(pk__lte=last_pk)
    created = 0
    after = first_pk - 1
    while batch := list(customers.filter(pk__gt=after)[:CUSTOMERS_PER_BATCH]):
        after = batch[-1][0]
        todo, _ = _customer_rows(batch)
        histories = {
            customer.pk: customer_history(customer=customer, catalogue=catalogue, rules=rules, seed=plan.seed)
            for customer in todo
        }
        orders = [order for customer in todo for order in histories[customer.pk]]
        rng = plan.rng(f"history-batch:{after}")
        with transaction.atomic():
            _resolve_number_clashes(orders, rng)
            writers["orders"].write([order.row for order in orders])
            writers["lines"].write([line for order in orders for line in order.lines])
            writers["payments"].write([order.payment for order in orders])
            writers["events"].write([event for order in orders for event in order.events])
            _backdate_people(todo, histories, rng)
        created += len(orders)
        if on_batch is not None:
            on_batch(len(batch))
    return created


# What forked workers inherit (set just before the fork): plan, rules and catalogue.
_WORKER_STATE: tuple | None = None


def _worker_chunk(chunk: tuple[int, int, int]) -> tuple[int, int]:
    first_pk, last_pk, customers = chunk
    plan, rules, catalogue = _WORKER_STATE
    try:
        return _seed_customers(plan=plan, rules=rules, catalogue=catalogue, first_pk=first_pk,
                               last_pk=last_pk), customers
    finally:
        connections.close_all()


def orders_history_seed(plan: DemoPlan) -> StepResult:
    """`plan.history_months` of past orders for every restaurant without seeded history.

    With plan.jobs > 1 on PostgreSQL, outside a transaction, chunks of customers are seeded by forked
    worker processes in parallel (generation is Python, inserting is PostgreSQL: both cores get work).
    Each customer's history depends only on its phone and the seed, so the result is the same.
    """
    global _WORKER_STATE
    existing = Order.objects.filter(idempotency_key__startswith=SEED_KEY_PREFIX).count()
    if plan.history_months <= 0:
        return StepResult("历史订单", 0, existing)
    catalogue = Catalogue.load()
    if not catalogue.items:
        return StepResult("历史订单", 0, existing)
    rules = Rules(settings_row=OrderSettings.current(), now=plan.now or timezone.now(),
                  window_days=round(plan.history_months * DAYS_PER_MONTH), tz=timezone.get_default_timezone())
    total = Customer.objects.count()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            # SQLite's 2 MB page cache thrashes on indexes keyed by random UUIDs; this process can spare 256 MB.
            cursor.execute("PRAGMA cache_size = -262144")
    parallel = plan.jobs > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block
    created = 0
    with plan.progress_bar(total=total, desc="历史订单(客户)") as bar:
        if not parallel:
            created = _seed_customers(plan=plan, rules=rules, catalogue=catalogue, first_pk=0, last_pk=None,
                                      on_batch=bar.update)
        else:
            pks = Customer.objects.order_by("pk").values_list("pk", flat=True)
            chunks = [(chunk[0], chunk[-1], len(chunk)) for chunk in batched(pks.iterator(), CUSTOMERS_PER_CHUNK)]
            connections.close_all()  # a forked child must not share the parent's socket
            _WORKER_STATE = (plan, rules, catalogue)
            try:
                with multiprocessing.get_context("fork").Pool(min(plan.jobs, len(chunks))) as pool:
                    for orders, customers in pool.imap_unordered(_worker_chunk, chunks):
                        created += orders
                        bar.update(customers)
            finally:
                _WORKER_STATE = None
    return StepResult("历史订单", created, existing)
