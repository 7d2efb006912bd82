"""Flows that lock rows of several tables take them in seafood_b2b.locks.LOCK_ORDER.

Each flow's statements are captured as sent (a prepared statement's EXECUTE is read as the SQL
it was prepared with) and every row lock they take — FOR UPDATE [OF x] and UPDATE — is listed
in the order the statements take them; that list must follow LOCK_ORDER.
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.sql import Prepared
from logistics.models import Stock
from orders.services import order_expire, order_place, payment_prepare, payment_sync
from reps.services import customers_handover
from seafood_b2b.locks import GUARDED_BY, LOCK_ORDER, lock_rank
from tests.factories import CustomerFactory, RepFactory
from wechat.backends import get_backend

from .conftest import fill_cart

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

_TABLES = {model._meta.db_table: model._meta.label for model in apps.get_models()}
_EXECUTE = re.compile(r"EXECUTE (\w+)")
_LOCK = re.compile(r'FOR UPDATE(?: OF ([\w".]+))?|\bUPDATE "(\w+)"')
_UPSERT = re.compile(r'^\s*INSERT INTO "(\w+)".* ON CONFLICT .* DO UPDATE ', re.S)


def _tables_of(sql: str) -> dict[str, str]:
    """alias -> table for `FROM "table" alias` / `JOIN "table" alias` in one statement."""
    return {alias: table for table, alias in re.findall(r'(?:FROM|JOIN) "(\w+)"(?: AS)? (\w+)\b', sql)
            if alias.upper() not in {"WHERE", "ON", "LEFT", "JOIN", "INNER", "ORDER", "GROUP", "LIMIT", "FOR"}}


def _first_table_before(sql: str, position: int) -> str:
    tables = re.findall(r'FROM "(\w+)"', sql[:position])
    return tables[-1]


def locks_taken(queries) -> list[str]:
    taken = []
    for query in queries:
        if query["sql"].lstrip().startswith("PREPARE"):
            continue  # preparing a statement runs nothing
        sql = _EXECUTE.sub(lambda m: Prepared.registry[m.group(1)].prepare_sql if m.group(1) in Prepared.registry
                           else m.group(0), query["sql"])
        aliases = _tables_of(sql)
        upsert = _UPSERT.search(sql)  # INSERT … ON CONFLICT … DO UPDATE locks the rows it updates
        if upsert and _TABLES[upsert.group(1)] not in taken:
            taken.append(_TABLES[upsert.group(1)])
        for match in _LOCK.finditer(sql):
            of, updated = match.groups()
            if updated:
                table = updated
            elif of:
                of = of.strip('"')
                table = aliases.get(of, of)
            else:
                table = _first_table_before(sql, match.start())
            label = _TABLES[table]
            if label not in taken:  # rows already locked: locking them again waits for no one
                taken.append(label)
    return taken


def assert_in_lock_order(labels: list[str]) -> None:
    assert all(label in LOCK_ORDER for label in labels), labels
    for label, guard in GUARDED_BY.items():
        if label in labels:
            assert guard in labels[:labels.index(label)], f"{label} locked without its {guard}: {labels}"
    ranked = [lock_rank(label) for label in labels if label not in GUARDED_BY]
    assert ranked == sorted(ranked), labels


@pytest.fixture
def placed(buyer, rules, shrimp, delivery):
    fill_cart(buyer, (shrimp, "4"))
    order, _ = order_place(visitor=buyer, idempotency_key="lock-order-0001", delivery=delivery)
    return order


def test_checkout_locks_the_visitor_then_stock_then_the_restaurant(buyer, rules, shrimp, squid, delivery):
    fill_cart(buyer, (shrimp, "4"), (squid, "2"))
    with CaptureQueriesContext(connection) as queries:
        order_place(visitor=buyer, idempotency_key="lock-order-0002", delivery=delivery)  # new delivery details

    taken = locks_taken(queries.captured_queries)
    assert taken == ["customers.Visitor", "logistics.Stock", "customers.Customer"]
    assert_in_lock_order(taken)


def test_settling_a_payment_locks_the_order_its_payment_then_the_restaurant(placed):
    params = payment_prepare(order_id=placed.pk, notify_url="http://testserver/payments/wechatpay/notify")
    get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    with CaptureQueriesContext(connection) as queries:
        assert payment_sync(order_id=placed.pk) == "paid"

    taken = [label for label in locks_taken(queries.captured_queries) if label != "wechat.DevPayTransaction"]
    assert taken[:3] == ["orders.Order", "orders.Payment", "customers.Customer"]
    assert_in_lock_order(taken)


def test_a_refund_notification_locks_the_order_then_its_refund(placed, settings, django_capture_on_commit_callbacks):
    from django.db import transaction

    from orders.models import Order, Refund
    from orders.services import refund_create, wechatpay_notification_receive
    from wechat.backends.dev_pay import dev_refund_resource
    from wechat.pay.crypto import Notification

    params = payment_prepare(order_id=placed.pk, notify_url="http://testserver/payments/wechatpay/notify")
    get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    payment_sync(order_id=placed.pk)
    settings.WECHATPAY_DEV_DUPLICATE_NOTIFY = False
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        refund = refund_create(order=Order.objects.select_for_update().get(pk=placed.pk), amount=Decimal("45.50"),
                               reason="少发一袋", actor="admin")
    notification = Notification(id="lock-order-refund-1", event_type="REFUND.SUCCESS",
                                resource_type="encrypt-resource", resource=dev_refund_resource(refund.out_refund_no))
    with CaptureQueriesContext(connection) as queries:
        assert wechatpay_notification_receive(notification=notification) == "refund_succeeded"

    taken = locks_taken(queries.captured_queries)
    assert taken[:2] == ["orders.Order", "orders.Refund"]
    assert_in_lock_order(taken)
    assert Refund.objects.get(pk=refund.pk).status == Refund.Status.SUCCEEDED


def test_expiring_an_unpaid_order_locks_the_order_then_its_stock(placed):
    with time_machine.travel(placed.expires_at + timedelta(seconds=1)), \
            CaptureQueriesContext(connection) as queries:
        order_expire(order_id=placed.pk)

    taken = [label for label in locks_taken(queries.captured_queries) if label != "wechat.DevPayTransaction"]
    assert "orders.Order" in taken and "logistics.Stock" in taken
    assert_in_lock_order(taken)
    assert Stock.objects.get(product__order_lines__order=placed).reserved == Decimal("0.00")


def test_a_handover_locks_the_reps_then_their_customers():
    leaving, taking = RepFactory(), RepFactory()
    CustomerFactory.create_batch(3, rep=leaving)
    with CaptureQueriesContext(connection) as queries:
        customers_handover(from_rep=leaving, to_rep=taking)

    taken = locks_taken(queries.captured_queries)
    assert taken[:2] == ["reps.Rep", "customers.Customer"]
    assert_in_lock_order(taken)


@pytest.mark.parametrize("labels", [
    ["logistics.Stock", "customers.Visitor"], ["orders.Payment", "orders.Order"], ["orders.Refund"],
])
def test_the_order_itself_is_checked(labels):
    with pytest.raises(AssertionError):
        assert_in_lock_order(labels)


def test_an_aftersales_decision_locks_the_order_its_request_its_lines_then_stock(settings, tmp_path):
    from django.contrib.auth.models import User

    from aftersales.decisions import APPROVE, Decision, request_decide
    from aftersales.services import request_create
    from tests.aftersales.conftest import make_delivered_order

    settings.MEDIA_ROOT = tmp_path
    world = make_delivered_order()
    request = request_create(customer_id=world.customer.pk, order_id=world.order.pk, reason="damaged",
                             lines=[{"line_id": world.shrimp_line.pk, "quantity": "1"}])
    with CaptureQueriesContext(connection) as queries:
        request_decide(request_id=request.pk, user=User.objects.create_user("lock-kefu"),
                       decision=Decision(kind=APPROVE, goods="returned"))

    taken = locks_taken(queries.captured_queries)
    assert taken == ["orders.Order", "aftersales.AfterSalesRequest", "aftersales.AfterSalesLine",
                     "logistics.Stock"]
    assert_in_lock_order(taken)


def test_cancelling_or_reducing_a_paid_order_locks_the_order_its_lines_then_stock(buyer, rules, shrimp, squid, delivery,
                                                                                  monkeypatch):
    from orders.services import order_cancel_paid, order_lines_reduce

    from .changes_support import just_before, no_dev_notifications, place_paid

    no_dev_notifications(monkeypatch)
    order = place_paid(buyer, delivery, [(shrimp, "4"), (squid, "4")], key="lock-order-change-1")
    with CaptureQueriesContext(connection) as queries:
        order_lines_reduce(order_id=order.pk, customer_id=order.customer_id, now=just_before(order),
                           lines=[{"product_id": shrimp.pk, "quantity": "2"}])
    taken = locks_taken(queries.captured_queries)
    assert taken[:1] == ["orders.Order"] and "logistics.Stock" in taken
    assert_in_lock_order(taken)

    with CaptureQueriesContext(connection) as queries:
        order_cancel_paid(order_id=order.pk, customer_id=order.customer_id, now=just_before(order))
    taken = locks_taken(queries.captured_queries)
    assert taken[:1] == ["orders.Order"] and "logistics.Stock" in taken
    assert_in_lock_order(taken)


def test_cancelling_an_unpaid_order_with_a_coupon_locks_the_order_stock_then_its_redemption(
        buyer, rules, shrimp, delivery):
    from coupons.models import CouponRedemption
    from orders.services import BasketLine, order_cancel_unpaid
    from tests.coupons.conftest import give

    coupon = give(buyer.customer)
    order, _ = order_place(visitor=buyer, idempotency_key="lock-order-coupon", delivery=delivery,
                           lines=[BasketLine(product_id=shrimp.pk, quantity=Decimal("4"))], coupon_id=coupon.pk)
    with CaptureQueriesContext(connection) as queries:
        assert order_cancel_unpaid(order_id=order.pk, reason="客户取消", actor="customer")

    taken = locks_taken(queries.captured_queries)
    assert taken == ["orders.Order", "logistics.Stock", "orders.Payment", "coupons.CouponRedemption"]
    assert_in_lock_order(taken)
    assert CouponRedemption.objects.get().released_at is not None


def test_checkout_with_a_coupon_locks_what_it_locks_without(buyer, rules, shrimp, squid, delivery):
    from tests.coupons.conftest import give

    coupon = give(buyer.customer)
    fill_cart(buyer, (shrimp, "4"), (squid, "2"))
    with CaptureQueriesContext(connection) as queries:
        order_place(visitor=buyer, idempotency_key="lock-order-0003", delivery=delivery, coupon_id=coupon.pk)

    taken = locks_taken(queries.captured_queries)
    assert taken == ["customers.Visitor", "logistics.Stock", "customers.Customer"]
    assert_in_lock_order(taken)


def test_issuing_coupons_locks_the_template_alone():
    from tests.coupons.conftest import give

    customer = CustomerFactory()
    with CaptureQueriesContext(connection) as queries:
        give(customer)
    assert locks_taken(queries.captured_queries) == ["coupons.CouponTemplate"]

def test_suspending_a_driver_locks_the_driver_their_stops_their_tasks_then_the_login(settings, tmp_path):
    from datetime import timedelta as days

    from django.utils import timezone

    from logistics.conduct import driver_suspend, stops_release_for_reassignment
    from logistics.models import DeliveryRun, Stop
    from tests.factories import DeliveryDriverFactory, delivery_order

    tomorrow = timezone.localdate() + days(days=1)
    driver = DeliveryDriverFactory()
    run = DeliveryRun.objects.create(driver=driver, delivery_date=tomorrow)
    stop = Stop.objects.create(run=run, order=delivery_order(delivery_date=tomorrow), sequence=1)
    with CaptureQueriesContext(connection) as queries:
        driver_suspend(driver_id=driver.pk, actor="lock-test")
    taken = locks_taken(queries.captured_queries)
    assert taken == ["logistics.Driver", "logistics.Stop", "logistics.PurchaseTask", "auth.User"]
    assert_in_lock_order(taken)

    with CaptureQueriesContext(connection) as queries:
        assert stops_release_for_reassignment(stop_ids=[stop.pk], actor="lock-test") == 1
    taken = locks_taken(queries.captured_queries)
    assert taken[:3] == ["logistics.DeliveryRun", "logistics.Stop", "orders.Order"]
    assert_in_lock_order(taken)


def test_sending_a_campaign_locks_the_campaign_the_cap_counters_the_template_then_its_recipients():
    from campaigns.models import Campaign
    from campaigns.services import campaign_send_process, campaign_send_start
    from tests.campaigns.conftest import customers_with_rep, make_campaign, segment_of
    from tests.coupons.conftest import template

    customers = customers_with_rep(3)
    campaign = make_campaign(segment_of(customers), coupon_template=template(name="锁顺序券"))
    with CaptureQueriesContext(connection) as queries:
        campaign_send_start(campaign_id=campaign.pk)
    assert locks_taken(queries.captured_queries) == ["campaigns.Campaign"]
    with CaptureQueriesContext(connection) as queries:
        assert campaign_send_process(campaign_id=campaign.pk, batch_size=2) == "sent"
    taken = locks_taken(queries.captured_queries)
    assert taken == ["campaigns.Campaign", "campaigns.MonthlyContact", "coupons.CouponTemplate",
                     "campaigns.CampaignRecipient", "coupons.CouponIssue"]
    assert_in_lock_order(taken)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT
