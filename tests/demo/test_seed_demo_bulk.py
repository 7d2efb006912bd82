"""The 100× path of seed_demo (`--bulk`, demo/bulk.py) at a tiny scale: what it writes is data the product
could have written itself (its own rules and checks agree), and every invariant of docs/design holds.

PostgreSQL only, and `transaction=True`: the path commits chunk by chunk on its own connections."""

from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from catalog.models import Product
from catalog.pricing import line_total
from catalog.rules import quantity_validate
from core.money import money, to_fen
from customers.churn import customer_order_stats_drift
from customers.models import Customer, Visitor
from demo.bulk import bulk_seed, plan_for
from logistics.models import DeliveryRun, Stock, StockMove, Stop
from logistics.selectors import stock_ledger_drift
from orders.models import Order, OrderEvent, OrderLine, OrderSettings, Payment
from orders.services.checkout_rules import delivery_date_for, delivery_fee_for
from reps.models import EntryEvent, Rep, Scene
from usuals.models import LostItemAlert

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the bulk path is PostgreSQL-only")

SHANGHAI = ZoneInfo("Asia/Shanghai")
S = Order.Status
LOADED = ("customers_customer", "customers_visitor", "orders_order", "orders_orderline", "orders_payment",
          "orders_orderevent", "reps_entryevent", "logistics_stockmove")


def _seed_moment() -> datetime:
    """10:30 in Shanghai, today if that is past, else yesterday: today's deliveries are under way."""
    local = timezone.now().astimezone(SHANGHAI)
    moment = datetime.combine(local.date(), time(10, 30), tzinfo=SHANGHAI)
    return moment if moment < local else moment - timedelta(days=1)


def _seed(scale=0.05):
    now = _seed_moment()
    plan = plan_for(scale, seed=7, jobs=2, progress=False, now=now)
    timings = bulk_seed(plan=plan)
    return plan, now, timings


def _indexes() -> dict[str, set[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [list(LOADED)])
        found = defaultdict(set)
        for table, definition in cursor.fetchall():
            found[table].add(definition)
        cursor.execute("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid::regclass::text = ANY(%s)", [list(LOADED)])
        for table, name, definition in cursor.fetchall():
            found[table].add(f"{name} {definition}")
    return dict(found)


@pytest.mark.django_db(transaction=True)
def test_bulk_seed_writes_the_volumes_and_keeps_every_invariant():
    indexes_before = _indexes()
    plan, now, timings = _seed()
    rules = OrderSettings.current()
    today = now.astimezone(SHANGHAI).date()

    # Volumes, and every index and constraint is back as the migrations made it.
    assert Customer.objects.count() == plan.customers == Visitor.objects.count()
    assert Product.objects.count() == plan.products
    orders = Order.objects.count()
    assert plan.customers * 15 < orders < plan.customers * 25
    assert _indexes() == indexes_before
    assert "rhythm, shipments, indexes and constraints" in timings

    # Totals add up from the lines, with the fee and minimum of checkout, at today's prices, in valid steps.
    products = {p.pk: p for p in Product.objects.all()}
    lines = defaultdict(list)
    for line in OrderLine.objects.all():
        lines[line.order_id].append(line)
    assert len(lines) == orders  # every order has lines
    for order in Order.objects.all():
        mine = lines[order.pk]
        assert 1 <= len(mine) <= 5 and len({line.product_id for line in mine}) == len(mine)
        for line in mine:
            product = products[line.product_id]
            assert line.unit_price == product.price and line.product_code == product.code
            assert line.amount == line_total(unit_price=line.unit_price, quantity=line.quantity)
            quantity_validate(product=product, quantity=line.quantity)  # raises if off-step or under the minimum
        assert order.subtotal == sum(line.amount for line in mine)
        assert order.subtotal >= rules.min_order_amount
        assert order.delivery_fee == delivery_fee_for(subtotal=order.subtotal, rules=rules)
        assert order.total == order.subtotal + order.delivery_fee - order.discount

        # Timestamps plausible and in the past; statuses by the delivery date, in Shanghai time.
        assert order.created_at < order.expires_at <= order.created_at + timedelta(minutes=15)
        assert order.updated_at <= now and order.created_at < now
        assert 8 <= order.created_at.astimezone(SHANGHAI).hour <= 23
        assert order.delivery_date == delivery_date_for(moment=order.created_at, settings_row=rules)
        assert order.number[:6] == order.expires_at.astimezone(SHANGHAI).strftime("%y%m%d")
        assert order.visitor_id == order.customer_id
        if order.paid_at is None:
            assert order.status == S.CANCELLED and order.cancelled_at and order.cancel_reason
        else:
            assert order.created_at < order.paid_at < order.expires_at and order.paid_at <= now
            if order.delivery_date < today:
                assert order.status == S.COMPLETED
            elif order.delivery_date > today:
                assert order.status == S.PAID
            else:
                assert order.status in (S.PAID, S.PACKING, S.PACKED, S.OUT_FOR_DELIVERY, S.DELIVERED)

    # Paid orders have a settled payment for their total; unpaid ones a closed one.
    payments = {p.order_id: p for p in Payment.objects.all()}
    assert len(payments) == orders
    for order in Order.objects.select_related("visitor"):
        payment = payments[order.pk]
        assert payment.amount_fen == to_fen(order.total) and payment.out_trade_no == order.number
        assert payment.payer_openid == order.visitor.openid
        if order.paid_at:
            assert payment.status == Payment.Status.SUCCEEDED and payment.succeeded_at == order.paid_at
            assert payment.transaction_id.startswith("4200") and len(payment.transaction_id) == 28
        else:
            assert payment.status == Payment.Status.CLOSED and payment.transaction_id is None
    unpaid = Order.objects.filter(paid_at__isnull=True).count()
    assert 0 < unpaid < orders * 0.05
    # One audit event an order: its last transition, at its last change.
    events = {e.order_id: e for e in OrderEvent.objects.all()}
    assert len(events) == orders
    for order in Order.objects.all():
        assert events[order.pk].to_status == order.status and events[order.pk].created_at == order.updated_at

    # Deliveries only for today's orders that reached the warehouse's later stages, one live stop each.
    stops = {s.order_id: s for s in Stop.objects.select_related("run")}
    shipped_today = Order.objects.filter(delivery_date=today, status__in=[S.PACKED, S.OUT_FOR_DELIVERY, S.DELIVERED])
    assert shipped_today.exists()
    assert set(stops) == set(shipped_today.values_list("pk", flat=True))
    for order in shipped_today:
        stop = stops[order.pk]
        assert stop.run.delivery_date == today
        assert (stop.status == Stop.Status.DELIVERED) == (order.status == S.DELIVERED)
        if stop.status == Stop.Status.DELIVERED:
            assert stop.completed_at and stop.completed_at <= now and stop.signed_by
    assert DeliveryRun.objects.filter(delivery_date=today).count() >= 1
    for run in DeliveryRun.objects.all():
        sequences = sorted(run.stops.values_list("sequence", flat=True))
        assert sequences == list(range(1, len(sequences) + 1))

    # Customers attached to reps through entries: the first entry is their rep's code, credited, before ordering.
    firsts = {e.visitor_id: e for e in EntryEvent.objects.filter(visit_kind=EntryEvent.Visit.FIRST).select_related("rep")}
    first_order = dict(Order.objects.values("customer_id").annotate(first=Min("created_at"))
                       .values_list("customer_id", "first"))
    assert first_order and len(firsts) == len(first_order)
    for customer in Customer.objects.select_related("rep"):
        visitor = Visitor.objects.get(customer=customer)
        assert customer.rep_id is not None and customer.acquired_by_id == customer.rep_id
        if customer.pk not in first_order:
            assert customer.paid_order_count == 0
            continue
        entry = firsts[visitor.pk]
        assert entry.rep_id == customer.rep_id and entry.credited and entry.scene == f"r={customer.rep.key}"
        assert entry.created_at < customer.created_at < first_order[customer.pk]
        assert visitor.first_rep_id == customer.rep_id and visitor.first_touch_at == entry.created_at
        assert visitor.created_at < entry.created_at
    for entry in EntryEvent.objects.all():
        assert Scene.classify(entry.scene_code) == entry.scene_kind and entry.created_at < now
    rescans = EntryEvent.objects.filter(visit_kind=EntryEvent.Visit.CUSTOMER_RESCAN)
    assert rescans.exists() and not rescans.filter(credited=True).exists()

    # The stock ledger: on-hand equals the ledger's sum, nothing reserved, history's shipments on it.
    assert stock_ledger_drift() == []
    assert not Stock.objects.exclude(reserved=0).exists()
    shipped = (OrderLine.objects.filter(order__status__in=[S.PACKED, S.OUT_FOR_DELIVERY, S.DELIVERED, S.COMPLETED])
               .aggregate(q=Sum("quantity"))["q"])
    assert -StockMove.objects.filter(kind=StockMove.Kind.SHIPMENT).aggregate(q=Sum("on_hand_delta"))["q"] == shipped

    # The rhythm columns are what the product computes, and the sweeps found real cases.
    assert customer_order_stats_drift() == []
    statuses = Counter(Customer.objects.values_list("status", flat=True))
    assert statuses[Customer.Status.CHURNED] > 0 and statuses[Customer.Status.AT_RISK] > 0
    assert statuses[Customer.Status.ACTIVE] > plan.customers / 2
    assert LostItemAlert.objects.exists()
    # Spread like a city: many districts, every rep with customers, different rhythms and habits.
    assert Customer.objects.values("district").distinct().count() >= 5
    assert Customer.objects.values("rep").distinct().count() == Rep.objects.count()
    assert Customer.objects.values("paid_order_count").distinct().count() > 10
    assert Customer.objects.values("name").distinct().count() > plan.customers / 4
    assert OrderLine.objects.values("product").distinct().count() > plan.products / 2
    # Realistic rhythm: most customers ordered more than a few times, at most once every few hours.
    counts = list(Customer.objects.filter(paid_order_count__gt=0).values_list("paid_order_count", flat=True))
    assert sum(counts) / len(counts) > 10
    assert Order.objects.aggregate(last=Max("created_at"))["last"] > now - timedelta(days=2)


@pytest.mark.django_db(transaction=True)
def test_bulk_rows_pass_the_models_own_validation():
    """A sample of every kind of row passes full_clean(): the same field and constraint checks the
    product's forms and services rely on (choices, lengths, validators, CHECK and UNIQUE constraints)."""
    _seed(scale=0.03)
    samples = [
        *Customer.objects.order_by("?")[:40], *Visitor.objects.order_by("?")[:40],
        *Order.objects.order_by("?")[:60], *OrderLine.objects.order_by("?")[:60],
        *Payment.objects.order_by("?")[:40], *EntryEvent.objects.order_by("?")[:40],
        *Stop.objects.order_by("?")[:20], *DeliveryRun.objects.all()[:5],
        *StockMove.objects.filter(kind=StockMove.Kind.SHIPMENT).order_by("?")[:20],
    ]
    kinds = Counter(type(row).__name__ for row in samples)
    assert set(kinds) == {"Customer", "Visitor", "Order", "OrderLine", "Payment", "EntryEvent", "Stop", "DeliveryRun",
                          "StockMove"}
    for row in samples:
        row.full_clean()
    # A seeded order's money is what checkout's own rules give for its lines.
    order = Order.objects.filter(status=S.COMPLETED).order_by("?").first()
    subtotal = money(sum(line_total(unit_price=l.unit_price, quantity=l.quantity) for l in order.lines.all()))
    assert order.total == subtotal + delivery_fee_for(subtotal=subtotal, rules=OrderSettings.current())


@pytest.mark.django_db(transaction=True)
def test_bulk_refuses_a_database_with_customers_and_changes_nothing():
    _seed(scale=0.02)
    before = (Customer.objects.count(), Order.objects.count(), Product.objects.count())
    with pytest.raises(CommandError, match="还没有客户的数据库"):
        call_command("seed_demo", bulk=True, scale=0.02, stdout=StringIO())
    assert (Customer.objects.count(), Order.objects.count(), Product.objects.count()) == before


@pytest.mark.django_db
def test_bulk_on_sqlite_is_a_clear_chinese_error(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="只支持 PostgreSQL"):
        call_command("seed_demo", bulk=True, scale=0.02, stdout=StringIO())
    monkeypatch.undo()
    assert not Product.objects.exists() and not Customer.objects.exists()


@pytest.mark.django_db
def test_orders_per_customer_needs_bulk():
    with pytest.raises(CommandError, match="--bulk"):
        call_command("seed_demo", orders_per_customer=5, scale=0.02, stdout=StringIO())
    assert not Product.objects.exists()
