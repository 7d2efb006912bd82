"""Cancelling or reducing a paid order before its cut-off (Shanghai time), and refused after it:
stock through the ledger, the refund through the dev WeChat Pay, the customer told once."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from logistics.models import Stock, StockMove
from logistics.packing import order_pack, order_pack_start
from logistics.roles import WAREHOUSE_GROUP, ensure_groups
from logistics.selectors import stock_ledger_drift
from notifications.models import Notification
from orders.models import Order, OrderLine, OrderSettings, Refund
from orders.services import (
    change_deadline_for,
    delivery_date_for,
    order_cancel_by_customer,
    order_cancel_paid,
    order_change_window,
    order_lines_reduce,
    refund_submit,
)
from tests.factories import CustomerFactory, VisitorFactory

from .changes_support import deadline_of, just_before, no_dev_notifications, place_paid

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _quiet_dev_pay(monkeypatch):
    no_dev_notifications(monkeypatch)


@pytest.fixture
def order(buyer, rules, shrimp, squid, delivery, django_capture_on_commit_callbacks):
    """4 bags of shrimp (182.00) and 4 斤 of squid (74.00) + 10.00 delivery = 266.00, paid."""
    return place_paid(buyer, delivery, [(shrimp, "4"), (squid, "4")], key="change-test-0001")


def reserved(product) -> Decimal:
    return Stock.objects.get(product=product).reserved


def snapshot(order):
    order.refresh_from_db()
    return (order.status, order.subtotal, order.total,
            sorted(OrderLine.objects.filter(order=order).values_list("product_id", "quantity", "amount")),
            list(Refund.objects.filter(order=order).values_list("amount", flat=True)),
            list(Stock.objects.order_by("product_id").values_list("reserved", flat=True)),
            StockMove.objects.count())


def _refund_confirmed(refund):
    """The refund reaches WeChat Pay after commit (PROCESSING); the query then finds it done."""
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PROCESSING
    assert refund_submit(refund_id=refund.pk) == Refund.Status.SUCCEEDED


# ---- the cut-off -----------------------------------------------------------------------------

@pytest.mark.parametrize("local", ["2026-12-06 22:59:59", "2026-12-06 23:00:00", "2026-12-06 23:30:00",
                                   "2026-12-07 00:10:00", "2026-12-05 23:59:59", "2026-12-06 07:59:00"])
def test_the_change_deadline_is_the_cutoff_that_dates_the_order(db, local):
    """Before the deadline of delivery day D exactly when an order placed then is delivered on D or later."""
    rules = OrderSettings(cutoff_time=datetime.strptime("23:00", "%H:%M").time())
    moment = datetime.strptime(local, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    for day in range(5, 10):
        delivery_date = moment.date().replace(day=day)
        deadline = change_deadline_for(delivery_date=delivery_date, settings_row=rules)
        assert (moment < deadline) == (delivery_date_for(moment=moment, settings_row=rules) <= delivery_date)


def test_the_deadline_is_the_evening_before_delivery_in_shanghai_not_utc(db):
    rules = OrderSettings(cutoff_time=datetime.strptime("23:00", "%H:%M").time())
    deadline = change_deadline_for(delivery_date=datetime(2026, 12, 7).date(), settings_row=rules)
    assert deadline == datetime(2026, 12, 6, 15, 0, tzinfo=ZoneInfo("UTC"))  # 23:00 in Shanghai


def test_the_window_is_open_until_the_second_before_the_cutoff(order):
    deadline = deadline_of(order)
    assert timezone.localtime(deadline).strftime("%H:%M") == "23:00"
    assert order.delivery_date == timezone.localtime(deadline).date() + timedelta(days=1)
    before = order_change_window(order=order, now=deadline - timedelta(seconds=1))
    at = order_change_window(order=order, now=deadline)
    assert before.allowed and "截单前可取消订单或减少商品" in before.reason
    assert not at.allowed and at.reason.startswith(f"已过截单时间（{deadline.astimezone(SHANGHAI).month}月")


def test_an_unpaid_order_has_no_change_window(buyer, rules, shrimp, delivery):
    from catalog.services import cart_line_set
    from orders.services import order_place

    cart_line_set(visitor=buyer, product_id=shrimp.pk, quantity="4")
    unpaid, _ = order_place(visitor=buyer, idempotency_key="change-unpaid-01", delivery=delivery)
    assert order_change_window(order=unpaid) is None


# ---- cancel ----------------------------------------------------------------------------------

def test_cancel_before_the_cutoff_releases_the_stock_and_refunds_everything(
        order, shrimp, squid, django_capture_on_commit_callbacks):
    assert (reserved(shrimp), reserved(squid)) == (Decimal("4.00"), Decimal("4.00"))
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = order_cancel_paid(order_id=order.pk, customer_id=order.customer_id, now=just_before(order))

    assert cancelled.status == Order.Status.CANCELLED
    assert (reserved(shrimp), reserved(squid)) == (Decimal("0.00"), Decimal("0.00"))
    releases = StockMove.objects.filter(reference=order.number, kind=StockMove.Kind.RELEASE)
    assert sorted(releases.values_list("reserved_delta", flat=True)) == [Decimal("-4.00"), Decimal("-4.00")]
    assert stock_ledger_drift() == []
    refund = Refund.objects.get(order=order)
    assert (refund.amount, refund.out_refund_no, refund.reason) == (Decimal("266.00"), f"{order.number}R1",
                                                                      "截单前取消订单")
    _refund_confirmed(refund)
    message = Notification.objects.get(event_key=f"order:{order.pk}:refund:{refund.pk}")
    assert (message.template, message.recipient_id, message.title) == ("refund_done", str(order.customer_id),
                                                                       "退款成功")
    assert "¥266.00" in message.body
    assert refund_submit(refund_id=refund.pk) == Refund.Status.SUCCEEDED  # asked again: no second message
    assert Notification.objects.filter(template="refund_done").count() == 1


def test_cancel_at_the_cutoff_is_refused_and_changes_nothing(order):
    before = snapshot(order)
    with pytest.raises(Conflict) as refused:
        order_cancel_paid(order_id=order.pk, customer_id=order.customer_id, now=deadline_of(order))
    assert refused.value.code == "order_change_closed"
    assert "已过截单时间" in refused.value.message and "申请售后" in refused.value.message
    assert snapshot(order) == before


def test_a_retried_cancel_makes_no_second_refund(order, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order_cancel_by_customer(order_id=order.pk, customer_id=order.customer_id, now=just_before(order))
    again = order_cancel_by_customer(order_id=order.pk, customer_id=order.customer_id, now=just_before(order))
    assert again.status == Order.Status.CANCELLED
    assert Refund.objects.filter(order=order).count() == 1


def test_cancel_refunds_only_what_an_earlier_refund_left(order, django_capture_on_commit_callbacks):
    from django.db import transaction

    from orders.services import refund_create

    with transaction.atomic():
        refund_create(order=Order.objects.select_for_update(of=("self",)).select_related("payment").get(pk=order.pk),
                      amount=Decimal("16.00"), reason="补偿", actor="staff")
    order_cancel_paid(order_id=order.pk, customer_id=order.customer_id, now=just_before(order))
    assert sorted(Refund.objects.filter(order=order).values_list("amount", flat=True)) == [Decimal("16.00"),
                                                                                         Decimal("250.00")]


def test_cancel_once_packing_started_is_refused(order, clerk):
    order_pack_start(order_id=order.pk, user=clerk)
    before = snapshot(order)
    with pytest.raises(Conflict) as refused:
        order_cancel_paid(order_id=order.pk, customer_id=order.customer_id, now=just_before(order))
    assert refused.value.code == "order_not_changeable" and "备货中" in refused.value.message
    assert snapshot(order) == before


def test_someone_elses_order_is_not_found(order):
    stranger = CustomerFactory()
    before = snapshot(order)
    with pytest.raises(NotFound):
        order_cancel_paid(order_id=order.pk, customer_id=stranger.pk, now=just_before(order))
    with pytest.raises(NotFound):
        order_lines_reduce(order_id=order.pk, customer_id=stranger.pk, now=just_before(order),
                           lines=[{"product_id": order.lines.first().product_id, "quantity": "1"}])
    assert snapshot(order) == before


# ---- reduce ----------------------------------------------------------------------------------

@pytest.fixture
def clerk(db):
    ensure_groups()
    user = User.objects.create_user("packer-change")
    user.groups.add(Group.objects.get(name=WAREHOUSE_GROUP))
    return user


def test_reducing_a_line_refunds_it_and_releases_its_stock(order, shrimp, squid, clerk,
                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order_lines_reduce(order_id=order.pk, customer_id=order.customer_id, now=just_before(order),
                           lines=[{"product_id": shrimp.pk, "quantity": "2"}, {"product_id": squid.pk, "quantity": 2.5}])
    order.refresh_from_db()
    # shrimp 4 → 2 bags: 91.00 back; squid 4 → 2.5 斤: 74.00 − 46.25 = 27.75 back.
    assert (order.subtotal, order.delivery_fee, order.discount, order.total) == (
        Decimal("137.25"), Decimal("10.00"), Decimal("0.00"), Decimal("147.25"))
    assert sorted(order.lines.values_list("product_id", "quantity", "amount")) == [
        (shrimp.pk, Decimal("2.00"), Decimal("91.00")), (squid.pk, Decimal("2.50"), Decimal("46.25"))]
    assert (reserved(shrimp), reserved(squid)) == (Decimal("2.00"), Decimal("2.50"))
    assert stock_ledger_drift() == []
    refund = Refund.objects.get(order=order)
    assert (refund.amount, refund.reason) == (Decimal("118.75"), "截单前减少商品")
    assert order.events.filter(note__startswith="截单前修改：").count() == 1
    _refund_confirmed(refund)

    # The warehouse then packs what is left: no second refund for the same goods.
    order_pack_start(order_id=order.pk, user=clerk)
    lines = [{"line_id": line.pk, "packed_quantity": str(line.quantity)} for line in order.lines.all()]
    result = order_pack(order_id=order.pk, lines=lines, user=clerk)
    assert result.refund is None and result.difference == Decimal("0.00")
    assert Stock.objects.get(product=shrimp).on_hand == Decimal("8.00")
    assert stock_ledger_drift() == []


def test_removing_a_line_deletes_it_and_refunds_its_amount(order, shrimp, squid):
    order_lines_reduce(order_id=order.pk, customer_id=order.customer_id, now=just_before(order),
                       lines=[{"product_id": squid.pk, "quantity": "0"}])
    order.refresh_from_db()
    assert list(order.lines.values_list("product_id", flat=True)) == [shrimp.pk]
    assert (order.subtotal, order.total) == (Decimal("182.00"), Decimal("192.00"))
    assert Refund.objects.get(order=order).amount == Decimal("74.00")
    assert reserved(squid) == Decimal("0.00")


def test_setting_the_same_quantities_again_refunds_nothing(order, shrimp):
    change = [{"product_id": shrimp.pk, "quantity": "3"}]
    order_lines_reduce(order_id=order.pk, customer_id=order.customer_id, now=just_before(order), lines=change)
    order_lines_reduce(order_id=order.pk, customer_id=order.customer_id, now=just_before(order), lines=change)
    assert list(Refund.objects.filter(order=order).values_list("amount", flat=True)) == [Decimal("45.50")]
    assert reserved(shrimp) == Decimal("3.00")


def test_reducing_at_the_cutoff_is_refused_and_changes_nothing(order, shrimp):
    before = snapshot(order)
    with pytest.raises(Conflict) as refused:
        order_lines_reduce(order_id=order.pk, customer_id=order.customer_id, now=deadline_of(order),
                           lines=[{"product_id": shrimp.pk, "quantity": "2"}])
    assert refused.value.code == "order_change_closed"
    assert snapshot(order) == before


@pytest.mark.parametrize("lines, code", [
    ("not a list", "lines_required"),
    ([], "lines_required"),
    (["x"], "parse_error"),
    ([{"product_id": "shrimp", "quantity": "5"}], "above_ordered"),
    ([{"product_id": "shrimp", "quantity": "-1"}], "invalid_quantity"),
    ([{"product_id": "shrimp", "quantity": "1e30"}], "invalid_number"),
    ([{"product_id": "shrimp", "quantity": None}], "invalid_number"),
    ([{"product_id": "squid", "quantity": "2.2"}], "invalid_quantity_step"),
    ([{"product_id": "squid", "quantity": "1"}], "below_minimum_quantity"),
    ([{"product_id": "shrimp", "quantity": "0"}, {"product_id": "squid", "quantity": "0"}], "cannot_remove_all"),
    ([{"product_id": "shrimp", "quantity": "1"}, {"product_id": "squid", "quantity": "0"}], "below_minimum_order"),
    ([{"product_id": "shrimp", "quantity": "1"}, {"product_id": "shrimp", "quantity": "2"}], "duplicate_line"),
    ([{"product_id": 999999, "quantity": "1"}], "line_not_in_order"),
    ([{"product_id": True, "quantity": "1"}], "line_not_in_order"),
])
def test_bad_changes_are_refused_in_chinese_and_change_nothing(order, shrimp, squid, lines, code):
    ids = {"shrimp": shrimp.pk, "squid": squid.pk}
    if isinstance(lines, list):
        lines = [{**entry, "product_id": ids.get(entry["product_id"], entry["product_id"])}
                 if isinstance(entry, dict) else entry for entry in lines]
    before = snapshot(order)
    with pytest.raises(ValidationFailed) as refused:
        order_lines_reduce(order_id=order.pk, customer_id=order.customer_id, now=just_before(order), lines=lines)
    assert refused.value.code.endswith(code)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.message)
    assert snapshot(order) == before


def test_a_reduction_worth_more_than_is_left_to_refund_is_refused(order, shrimp):
    from django.db import transaction

    from orders.services import refund_create

    with transaction.atomic():
        refund_create(order=Order.objects.select_for_update(of=("self",)).select_related("payment").get(pk=order.pk),
                      amount=Decimal("200.00"), reason="补偿", actor="staff")
    before = snapshot(order)
    with pytest.raises(Conflict) as refused:
        order_lines_reduce(order_id=order.pk, customer_id=order.customer_id, now=just_before(order),
                           lines=[{"product_id": shrimp.pk, "quantity": "2"}])
    assert refused.value.code == "refund_exceeds_paid"
    assert snapshot(order) == before


# ---- the API and the page's data --------------------------------------------------------------

def _client(visitor):
    from rest_framework.test import APIClient

    from customers.tokens import visitor_token_make

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client


def test_the_order_page_says_until_when_and_then_why_not(order, buyer, shrimp):
    client = _client(buyer)
    with time_machine.travel(just_before(order), tick=False):
        body = client.get(f"/api/v1/orders/{order.pk}").json()
        assert body["change"]["allowed"] is True
        assert body["change"]["reason"].endswith("截单前可取消订单或减少商品，退款原路返回")
    with time_machine.travel(deadline_of(order), tick=False):
        body = client.get(f"/api/v1/orders/{order.pk}").json()
        assert body["change"]["allowed"] is False and body["change"]["reason"].startswith("已过截单时间")
        refused = client.post(f"/api/v1/orders/{order.pk}/cancel")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "order_change_closed"
        assert refused.json()["error"]["message"] == body["change"]["reason"]
        refused = client.post(f"/api/v1/orders/{order.pk}/lines", {"lines": [{"product_id": shrimp.pk, "quantity": "2"}]},
                              format="json")
        assert refused.status_code == 409
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and not Refund.objects.exists()


def test_the_api_reduces_and_cancels_before_the_cutoff(order, buyer, shrimp):
    client = _client(buyer)
    with time_machine.travel(just_before(order), tick=False):
        reduced = client.post(f"/api/v1/orders/{order.pk}/lines",
                              {"lines": [{"product_id": shrimp.pk, "quantity": "2"}]}, format="json")
        assert reduced.status_code == 200
        assert reduced.json()["total"] == "175.00"
        assert [r["amount"] for r in reduced.json()["refunds"]] == ["91.00"]
        bad = client.post(f"/api/v1/orders/{order.pk}/lines", {"lines": [{"product_id": shrimp.pk, "quantity": "9"}]},
                          format="json")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "quantity_above_ordered"
        cancelled = client.post(f"/api/v1/orders/{order.pk}/cancel")
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["change"] is None
    assert sorted(r["amount"] for r in body["refunds"]) == ["175.00", "91.00"]
    assert Stock.objects.get(product=shrimp).reserved == Decimal("0.00")


def test_another_customer_cannot_touch_the_order(order, shrimp):
    other = VisitorFactory(customer=CustomerFactory())
    client = _client(other)
    with time_machine.travel(just_before(order), tick=False):
        assert client.post(f"/api/v1/orders/{order.pk}/cancel").status_code == 404
        assert client.post(f"/api/v1/orders/{order.pk}/lines", {"lines": [{"product_id": shrimp.pk, "quantity": "2"}]},
                           format="json").status_code == 404
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and not Refund.objects.exists()


def test_a_discounted_lines_refund_is_prorated_never_above_what_was_paid_for_it():
    from orders.services.changes import line_refund_value

    # 4 bags at 45.50 = 182.00, of which a coupon took 18.20: the customer paid 163.80 for them.
    line = OrderLine(unit_price=Decimal("45.50"), quantity=Decimal("4"), amount=Decimal("182.00"),
                     discount=Decimal("18.20"))
    assert line_refund_value(order=None, line=line, keep=Decimal("0")) == Decimal("163.80")
    assert line_refund_value(order=None, line=line, keep=Decimal("2")) == Decimal("81.90")
    assert line_refund_value(order=None, line=line, keep=Decimal("4")) == Decimal("0.00")
    parts = [line_refund_value(order=None, line=line, keep=Decimal(k)) for k in ("3",)]
    assert parts[0] + Decimal("122.85") == Decimal("163.80")  # keeping 3 bags: 136.50 − 13.65 still paid
