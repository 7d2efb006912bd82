"""Lost-item alert: the rule at its edges, the SQL against the pure rule on generated histories,
fired once per customer-product, re-armed by a purchase, the rep's inbox line and admin's list."""

import itertools
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from notifications.models import Notification
from orders.models import Order, OrderLine
from tests.factories import CustomerFactory, RepFactory, VisitorFactory, product_with_stock
from usuals import lost
from usuals.lost import LostRules, lost_item, lost_items_sweep
from usuals.models import LostItemAlert, UsualSettings

pytestmark = pytest.mark.django_db
D = Decimal
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
RULES = LostRules(window_days=90, min_times=4, tenths=30, min_silence=timedelta(days=14), churn_days=30)
_numbers = itertools.count(1)


def order_at(customer, products, moment, *, status=Order.Status.COMPLETED):
    """A paid order at `moment` with one line per product."""
    n = next(_numbers)
    visitor = customer.visitors.first() or VisitorFactory(customer=customer)
    order = Order.objects.create(
        number=f"L{n:09d}", customer=customer, visitor=visitor, status=status, idempotency_key=f"lost-{n}",
        delivery_date=timezone.localdate(moment) + DAY, subtotal=D("1"), total=D("1"), restaurant_name=customer.name,
        phone=customer.phone, address="深圳", expires_at=moment, paid_at=moment)
    OrderLine.objects.bulk_create([OrderLine(
        order=order, product=p, product_code=p.code, product_name=p.name, unit=p.unit, unit_price=p.price,
        quantity=D("2"), amount=p.price * 2) for p in products])
    return order


def last_order_from_orders(customer):
    last = Order.objects.filter(customer=customer, paid_at__isnull=False).order_by("-paid_at").first()
    customer.last_order_at = last.paid_at if last else None
    customer.save(update_fields=["last_order_at"])


# --- the rule at its edges (pure) ------------------------------------------------------------

def edge(base, **changes):
    """Weekly for 4 orders (interval 7 days: threshold 21 days of silence), ordered since yesterday;
    `base` is the moment the history is laid out from, `now` is it unless changed."""
    now = base
    args = {"times": 4, "first": now - 42 * DAY, "last": now - 21 * DAY, "customer_last_order": now - DAY,
            "now": now, "rules": RULES}
    args.update(changes)
    return lost_item(**args)


def test_the_rule_at_its_edges():
    now = timezone.now()
    # Silence exactly 3 × the interval is not lost yet; a microsecond more is.
    assert edge(now) is False
    assert edge(now, first=now - 42 * DAY + 3 * US) is True  # interval 7 d − 1 µs: threshold just below 21 d
    assert edge(now, now=now + US) is True
    # Bought fewer than N times: never regular enough.
    assert edge(now, times=3, first=now - 35 * DAY, now=now + DAY) is False
    assert edge(now, times=4, now=now + DAY) is True
    # At least 14 days of silence, however often it was bought (daily: 3 × 1 day = 3 days).
    daily = {"times": 10, "first": now - 14 * DAY - 9 * DAY, "last": now - 14 * DAY}
    assert edge(now, **daily) is False
    assert edge(now, now=now + US, **daily) is True
    # The customer must still order: something since that last purchase, within the churn days.
    assert edge(now, now=now + DAY, customer_last_order=now - 21 * DAY) is False  # nothing since
    assert edge(now, now=now + DAY, customer_last_order=None) is False
    churn_20 = LostRules(90, 4, 30, timedelta(days=14), 20)
    assert edge(now, now=now + DAY, customer_last_order=now + DAY - 20 * DAY - US, rules=churn_20) is False  # churned
    assert edge(now, now=now + DAY, customer_last_order=now + DAY - 20 * DAY, rules=churn_20) is True
    # The multiplier is the admin's, in tenths.
    assert edge(now, now=now + DAY, rules=LostRules(90, 4, 35, timedelta(days=14), 30)) is False  # 3.5 × 7 = 24.5 days
    assert edge(now, now=now + 4 * DAY, rules=LostRules(90, 4, 35, timedelta(days=14), 30)) is True


def test_the_messages_words():
    assert lost.silence_text(21) == "3 周" and lost.silence_text(20) == "2 周" and lost.silence_text(10) == "10 天"
    assert lost.frequency_text(timedelta(days=3.5)) == "每周 2 次"
    assert lost.frequency_text(timedelta(days=7)) == "每周 1 次"
    assert lost.frequency_text(timedelta(days=10)) == "每 10 天 1 次"


# --- the sweep ------------------------------------------------------------------------------

@pytest.fixture
def hotpot():
    rep = RepFactory(name="张三")
    customer = CustomerFactory(name="火锅城", rep=rep)
    VisitorFactory(customer=customer)
    products = {name: product_with_stock(name=name, price="20.00") for name in ("虾滑", "肥牛卷", "鱿鱼须")}
    return rep, customer, products


def twice_a_week_then_only_beef(customer, p, now):
    """虾滑 twice a week (every 3.5 days) for 8 orders, last 22 days ago; 肥牛卷 since, to yesterday."""
    for k in range(8):
        order_at(customer, [p["虾滑"], p["肥牛卷"]], now - timedelta(days=22 + 3.5 * k))
    for days in (18, 11, 4, 1):
        order_at(customer, [p["肥牛卷"]], now - days * DAY)
    last_order_from_orders(customer)


def test_fires_once_with_the_reps_inbox_line_and_is_re_armed_by_a_purchase(hotpot):
    rep, customer, p = hotpot
    now = timezone.now()
    twice_a_week_then_only_beef(customer, p, now)

    first = lost_items_sweep(now=now)

    alert = LostItemAlert.objects.get()
    assert (first.new_alerts, first.notified_reps) == (1, 1)
    assert (alert.customer, alert.product, alert.rep, alert.times) == (customer, p["虾滑"], rep, 8)
    assert alert.last_bought_at == now - 22 * DAY and alert.usual_interval == timedelta(days=3.5)
    message = Notification.objects.get(template="lost_item")
    last_day = timezone.localdate(now - 22 * DAY)
    assert (message.recipient_kind, message.recipient_id, message.channel) == ("rep", str(rep.pk), "inbox")
    assert message.title == "火锅城 3 周没买 虾滑 了，之前每周 2 次"
    assert message.body == f"上次购买 {last_day:%m-%d}，近 90 天买过 8 次"
    assert message.link == f"/rep/customers/{customer.pk}/"

    # A rerun the same night and the next nights: nothing new, nothing sent twice.
    assert lost_items_sweep(now=now).new_alerts == 0
    assert lost_items_sweep(now=now + DAY).new_alerts == 0
    assert lost_items_sweep(now=now + 5 * DAY).new_alerts == 0
    assert (LostItemAlert.objects.count(), Notification.objects.filter(template="lost_item").count()) == (1, 1)

    # Bought again: nothing while it is recent; once that purchase is long past, it fires again.
    order_at(customer, [p["虾滑"], p["肥牛卷"]], now + 6 * DAY)
    for days in (10, 20, 30, 40):
        order_at(customer, [p["肥牛卷"]], now + days * DAY)
    last_order_from_orders(customer)
    assert lost_items_sweep(now=now + 10 * DAY).new_alerts == 0
    again = lost_items_sweep(now=now + 41 * DAY)
    assert again.new_alerts == 1
    latest = LostItemAlert.objects.order_by("-id").first()
    assert latest.last_bought_at == now + 6 * DAY and latest.product == p["虾滑"]
    assert Notification.objects.filter(template="lost_item").count() == 2


def test_admins_numbers_are_the_rule(hotpot):
    rep, customer, p = hotpot
    now = timezone.now()
    twice_a_week_then_only_beef(customer, p, now)
    UsualSettings.current()
    UsualSettings.objects.filter(pk=1).update(lost_min_silence_days=30)
    assert lost_items_sweep(now=now).new_alerts == 0
    UsualSettings.objects.filter(pk=1).update(lost_min_silence_days=14, lost_min_times=9)
    assert lost_items_sweep(now=now).new_alerts == 0
    UsualSettings.objects.filter(pk=1).update(lost_min_times=8)
    assert lost_items_sweep(now=now).new_alerts == 1


def test_cancelled_orders_and_customers_without_a_rep(hotpot):
    rep, customer, p = hotpot
    now = timezone.now()
    twice_a_week_then_only_beef(customer, p, now)
    # A cancelled order with 虾滑 after the others does not count as buying it.
    order_at(customer, [p["虾滑"]], now - 2 * DAY, status=Order.Status.CANCELLED)
    no_rep = CustomerFactory(name="无人店", rep=None)
    twice_a_week_then_only_beef(no_rep, p, now)

    result = lost_items_sweep(now=now)

    assert result.new_alerts == 2 and result.notified_reps == 1
    assert Notification.objects.filter(template="lost_item").count() == 1  # nobody to tell for 无人店


def expected_by_the_pure_rule(histories, last_orders, now, rules):
    """Apply lost_item to each history as the rule's text says, straight from the purchases."""
    found = set()
    for (customer_id, product_id), purchases in histories.items():
        window = sorted(at for at, cancelled in purchases
                        if not cancelled and now - timedelta(days=rules.window_days) <= at <= now)
        if window and lost_item(times=len(window), first=window[0], last=window[-1],
                                customer_last_order=last_orders[customer_id], now=now, rules=rules):
            found.add((customer_id, product_id))
    return found


def test_the_sql_agrees_with_the_pure_rule_on_generated_histories():
    rng = random.Random(20261207)
    now = timezone.now()
    rules = LostRules.current()
    products = [product_with_stock(price="10.00") for _ in range(4)]
    filler = product_with_stock(price="10.00")
    histories, last_orders = {}, {}
    for _ in range(40):
        customer = CustomerFactory()
        VisitorFactory(customer=customer)
        for product in products:
            interval = timedelta(days=rng.choice([1, 2, 3.5, 5, 7, 10]), seconds=rng.randrange(0, 3600))
            count = rng.randint(2, 9)
            # The silence: near the threshold (exactly on it, a microsecond either side) or anywhere.
            threshold = max(interval * 3, timedelta(days=14))
            silence = rng.choice([threshold, threshold + US, threshold - US, timedelta(days=rng.uniform(0, 70))])
            last = now - silence
            purchases = [(last - k * interval, rng.random() < 0.08) for k in range(count)]
            for at, cancelled in purchases:
                order_at(customer, [product], at, status=Order.Status.CANCELLED if cancelled else Order.Status.COMPLETED)
            histories[(customer.pk, product.pk)] = purchases
        # Ordered something else since (or not), recently or long ago.
        choice = rng.random()
        if choice < 0.7:
            order_at(customer, [filler], now - timedelta(days=rng.uniform(0, 12)))
        elif choice < 0.85:
            order_at(customer, [filler], now - timedelta(days=rng.uniform(31, 60)))
        last_order_from_orders(customer)
        last_orders[customer.pk] = customer.last_order_at

    expected = expected_by_the_pure_rule(histories, last_orders, now, rules)
    lost_items_sweep(now=now)
    by_sql = set(LostItemAlert.objects.values_list("customer_id", "product_id"))
    assert by_sql == expected
    assert 10 < len(expected) < len(histories) - 10  # the generator exercised both sides

    # The SQLite path (the ORM aggregate and the pure rule) finds the same rows.
    LostItemAlert.objects.all().delete()
    lost._insert_in_python(rules=rules, now=now, night=timezone.localdate(now))
    assert set(LostItemAlert.objects.values_list("customer_id", "product_id")) == expected


def test_admin_lists_the_alerts_and_whether_bought_again(hotpot, client):
    rep, customer, p = hotpot
    now = timezone.now()
    twice_a_week_then_only_beef(customer, p, now)
    lost_items_sweep(now=now)
    client.force_login(User.objects.create_superuser("boss", password="x"))

    page = client.get("/admin/usuals/lostitemalert/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "火锅城" in text and "虾滑" in text and 'alt="False"' in text
    order_at(customer, [p["虾滑"]], now)
    assert 'alt="True"' in client.get("/admin/usuals/lostitemalert/").content.decode()


def test_the_inbox_lines_written_in_sql_are_alert_texts_words():
    """PostgreSQL writes the inbox lines in one INSERT … SELECT (lost._alert_text_sql); each one is
    what the pure alert_text() says for its alert: silences across Shanghai midnights, intervals on
    the frequency's edges (0.95 a week, halves rounded to even), long names cut to the title's 60."""
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("the SQL inbox lines are PostgreSQL's")
    rng = random.Random(7)
    rep = RepFactory()
    customers = [CustomerFactory(name="火锅城"), CustomerFactory(name="很长的名字" * 11, rep=rep)]
    products = [product_with_stock(name="虾滑", price="10.00"), product_with_stock(name="长" * 50, price="10.00")]
    night = timezone.localdate(timezone.now())
    midnight = timezone.make_aware(timezone.datetime.combine(night, timezone.datetime.min.time()))
    intervals = [timedelta(0), US, DAY, timedelta(days=2.8), timedelta(days=3.5), timedelta(days=7),
                 timedelta(days=7) / 0.95, timedelta(days=7) / 0.95 + US, timedelta(days=7) / 0.95 - US,
                 timedelta(days=10.5), timedelta(days=11.5), timedelta(days=7 / 1.5), timedelta(days=7 / 2.5)]
    intervals += [timedelta(seconds=rng.randrange(1, 40 * 86_400), microseconds=rng.randrange(10**6))
                  for _ in range(40)]
    alerts = []
    for k, interval in enumerate(intervals):
        last = (midnight - rng.choice([13, 14, 20, 21, 22, 35, 70]) * DAY
                + rng.choice([-US, timedelta(0), US, timedelta(hours=9)]))
        alerts.append(LostItemAlert(customer=customers[k % 2], product=products[k // 2 % 2], rep=rep,
                                    times=rng.randint(4, 30), first_bought_at=last - interval * 3,
                                    last_bought_at=last - k * US, usual_interval=interval, night=night))
    LostItemAlert.objects.bulk_create(alerts)
    with transaction.atomic():
        lost._notify_reps_sql(after_id=0, night=night, window_days=60)
    written = {n.event_key: n for n in Notification.objects.filter(template="lost_item")}
    assert len(written) == len(alerts)
    for alert in LostItemAlert.objects.select_related("customer", "product"):
        title, body = lost.alert_text(customer_name=alert.customer.name, product_name=alert.product.name,
                                      last_bought_at=alert.last_bought_at, interval=alert.usual_interval,
                                      times=alert.times, night=night, window_days=60)
        line = written[f"lost-item:{alert.pk}"]
        assert (line.title, line.body) == (title[:60], body), alert.usual_interval
        assert (line.recipient_kind, line.recipient_id, line.channel, line.status) == ("rep", str(rep.pk), "inbox", "sent")
        assert line.link == f"/rep/customers/{alert.customer_id}/" and line.data == {"customer_id": alert.customer_id}
        assert line.sent_at is not None and line.next_attempt_at is not None
