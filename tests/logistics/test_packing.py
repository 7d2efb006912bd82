"""Packing with catch weight: re-pricing, the automatic refund of the difference, stock, pages."""

import itertools
import re
import threading
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import Conflict, InsufficientStock, PermissionDenied, ValidationFailed
from logistics.models import Stock, StockMove
from logistics.packing import order_pack, order_pack_start
from logistics.roles import WAREHOUSE_GROUP, ensure_groups
from logistics.selectors import stock_ledger_drift
from orders.models import Order, OrderEvent, OrderLine, Refund
from orders.services import order_place, payment_prepare, payment_sync
from orders.tasks import refunds_retry_unfinished
from tests.factories import product_with_stock
from tests.orders.conftest import _dev_keys, buyer, customer, delivery, fill_cart, rules, shrimp  # noqa: F401
from wechat.backends import get_backend
from wechat.models import DevRefund

pytestmark = pytest.mark.django_db
NOTIFY_URL = "http://testserver/payments/wechatpay/notify"
# 09:00 in Shanghai: orders placed now are delivered tomorrow (2026-11-25), before the 23:00 cut-off.
MORNING = datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TOMORROW = date(2026, 11, 25)
_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def _morning():
    with time_machine.travel(MORNING, tick=True):
        yield


@pytest.fixture
def squid(db):
    """Sold by the 斤 and priced by the real weight: 18.50 a 斤."""
    return product_with_stock(name="冻鱿鱼须", unit="斤", price="18.50", catch_weight=True, nominal_weight="1",
                              min_quantity="2", step_quantity="0.5", on_hand="50")


@pytest.fixture
def croaker(db):
    """Sold by the 箱 of 20 斤 nominal, priced by the real weight of the boxes."""
    return product_with_stock(name="整箱黄鱼", unit="箱", price="360.00", catch_weight=True, nominal_weight="20",
                              on_hand="10")


@pytest.fixture
def clerk(db):
    ensure_groups()
    user = User.objects.create_user("clerk_li", password="x")
    user.groups.add(Group.objects.get(name=WAREHOUSE_GROUP))
    return user


@pytest.fixture
def outsider(db):
    return User.objects.create_user("driver_wang", password="x")


def paid_order(visitor, delivery, *items) -> Order:
    """An order placed from the cart and paid through the dev WeChat Pay path."""
    fill_cart(visitor, *items)
    order, _ = order_place(visitor=visitor, idempotency_key=f"packing-test-{next(_keys):04d}", delivery=delivery)
    params = payment_prepare(order_id=order.pk, notify_url=NOTIFY_URL)
    get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    assert payment_sync(order_id=order.pk) == "paid"
    return Order.objects.select_related("payment").get(pk=order.pk)


def packing_order(visitor, delivery, clerk, *items) -> Order:
    order = paid_order(visitor, delivery, *items)
    order_pack_start(order_id=order.pk, user=clerk)
    return order


def line_of(order, product) -> OrderLine:
    return OrderLine.objects.get(order=order, product=product)


def stock_of(product) -> Stock:
    return Stock.objects.get(product=product)


def pack(order, clerk, entries, capture=None):
    """order_pack with entries keyed by product: {product: {"actual_weight": "9.62"}}."""
    lines = [{"line_id": line_of(order, product).pk, **fields} for product, fields in entries.items()]
    if capture is None:
        return order_pack(order_id=order.pk, lines=lines, user=clerk)
    with capture(execute=True):
        return order_pack(order_id=order.pk, lines=lines, user=clerk)


# ---------------------------------------------------------------- re-pricing and refunds


def test_exact_nominal_weight_refunds_nothing(buyer, rules, delivery, clerk, squid):
    order = packing_order(buyer, delivery, clerk, (squid, "10"))  # 185.00 + 10.00 delivery

    result = pack(order, clerk, {squid: {"actual_weight": "10.00"}})

    line = line_of(order, squid)
    assert (line.actual_weight, line.actual_amount, line.packed_quantity) == (
        Decimal("10.00"), Decimal("185.00"), Decimal("10.00"))
    assert line.packed_at is not None
    assert (result.actual_total, result.difference, result.refund) == (Decimal("195.00"), Decimal("0.00"), None)
    order.refresh_from_db()
    assert order.status == Order.Status.PACKED
    assert not Refund.objects.filter(order=order).exists()
    assert OrderEvent.objects.filter(order=order).last().note == "打包完成：实际金额 ¥195.00，与已付一致"


def test_under_weight_refunds_the_difference_once(buyer, rules, delivery, clerk, squid,
                                                  django_capture_on_commit_callbacks):
    order = packing_order(buyer, delivery, clerk, (squid, "10"))

    result = pack(order, clerk, {squid: {"actual_weight": "9.62"}}, capture=django_capture_on_commit_callbacks)

    assert line_of(order, squid).actual_amount == Decimal("177.97")  # 18.50 × 9.62
    refund = Refund.objects.get(order=order)
    assert result.refund == refund
    assert (refund.amount, refund.reason, refund.out_refund_no) == (
        Decimal("7.03"), "实重差额退款", f"{order.number}R1")
    dev_refund = DevRefund.objects.get()
    assert (dev_refund.out_refund_no, dev_refund.amount_fen, dev_refund.total_fen) == (
        refund.out_refund_no, 703, 19500)
    # The periodic retry only asks how it went; it never sends the refund a second time.
    refunds_retry_unfinished()
    refunds_retry_unfinished()
    assert DevRefund.objects.count() == 1
    assert Refund.objects.filter(order=order).count() == 1
    notes = list(OrderEvent.objects.filter(order=order).values_list("note", flat=True))
    assert notes[-2:] == ["打包完成：实际金额 ¥187.97（已付 ¥195.00），退差额 ¥7.03", "发起退款 ¥7.03：实重差额退款"]


def test_packing_twice_is_refused_and_refunds_nothing_more(buyer, rules, delivery, clerk, squid,
                                                          django_capture_on_commit_callbacks):
    order = packing_order(buyer, delivery, clerk, (squid, "10"))
    pack(order, clerk, {squid: {"actual_weight": "9.62"}}, capture=django_capture_on_commit_callbacks)
    moves = StockMove.objects.count()

    with pytest.raises(Conflict) as refused:
        pack(order, clerk, {squid: {"actual_weight": "9.00"}}, capture=django_capture_on_commit_callbacks)

    assert refused.value.code == "order_not_packing"
    assert line_of(order, squid).actual_weight == Decimal("9.62")
    assert (Refund.objects.filter(order=order).count(), DevRefund.objects.count()) == (1, 1)
    assert StockMove.objects.count() == moves


def test_overweight_is_capped_at_what_was_paid(buyer, rules, delivery, clerk, squid):
    order = packing_order(buyer, delivery, clerk, (squid, "10"))

    result = pack(order, clerk, {squid: {"actual_weight": "10.80"}})

    line = line_of(order, squid)
    assert (line.actual_weight, line.actual_amount) == (Decimal("10.80"), Decimal("185.00"))  # not 199.80
    assert (result.actual_total, result.refund) == (Decimal("195.00"), None)
    assert not Refund.objects.filter(order=order).exists()
    assert OrderEvent.objects.filter(order=order, note__startswith="超重不加价").get().note == (
        "超重不加价：冻鱿鱼须 实重 10.80 斤（标称 10.00 斤），按实重 ¥199.80，按已付 ¥185.00 计")
    # The real weight left the warehouse.
    stock = stock_of(squid)
    assert (stock.on_hand, stock.reserved) == (Decimal("39.20"), Decimal("0.00"))
    assert stock_ledger_drift() == []


@pytest.mark.parametrize(("tolerance", "refunded"), [("0.18", Decimal("0.18")), ("0.19", None)])
def test_difference_below_the_tolerance_is_not_refunded(settings, buyer, rules, delivery, clerk, squid, tolerance,
                                                        refunded):
    settings.CATCH_WEIGHT_REFUND_TOLERANCE = Decimal(tolerance)
    order = packing_order(buyer, delivery, clerk, (squid, "10"))

    result = pack(order, clerk, {squid: {"actual_weight": "9.99"}})  # 184.82: 0.18 less than paid

    assert result.difference == Decimal("0.18")
    assert list(Refund.objects.filter(order=order).values_list("amount", flat=True)) == (
        [refunded] if refunded else [])
    if not refunded:
        assert OrderEvent.objects.filter(order=order).last().note == (
            "打包完成：实际金额 ¥194.82（已付 ¥195.00），差额 ¥0.18 低于 ¥0.19，不退")


def test_default_tolerance_is_ten_fen(buyer, rules, delivery, clerk, squid):
    order = packing_order(buyer, delivery, clerk, (squid, "10"))

    pack(order, clerk, {squid: {"actual_weight": "9.99"}})  # 184.82: 0.18 back

    assert Refund.objects.get(order=order).amount == Decimal("0.18")


def test_box_sold_catch_weight_ships_boxes_and_prices_by_weight(buyer, rules, delivery, clerk, croaker,
                                                                django_capture_on_commit_callbacks):
    order = packing_order(buyer, delivery, clerk, (croaker, "2"))  # 720.00, free delivery

    pack(order, clerk, {croaker: {"actual_weight": "38.60"}}, capture=django_capture_on_commit_callbacks)

    line = line_of(order, croaker)
    # 360.00 a box of 20 斤 is 18.00 a 斤: 38.60 斤 cost 694.80.
    assert (line.packed_quantity, line.actual_weight, line.actual_amount) == (
        Decimal("2.00"), Decimal("38.60"), Decimal("694.80"))
    assert Refund.objects.get(order=order).amount == Decimal("25.20")
    assert DevRefund.objects.get().amount_fen == 2520
    # Stock counts boxes: two boxes left, whatever they weighed.
    stock = stock_of(croaker)
    assert (stock.on_hand, stock.reserved) == (Decimal("8.00"), Decimal("0.00"))
    assert stock_ledger_drift() == []


def test_short_packed_line_is_refunded_and_the_rest_goes_back_on_sale(buyer, rules, delivery, clerk, shrimp):
    order = packing_order(buyer, delivery, clerk, (shrimp, "4"))  # 182.00 + 10.00

    pack(order, clerk, {shrimp: {"packed_quantity": "3"}})

    line = line_of(order, shrimp)
    assert (line.packed_quantity, line.actual_weight, line.actual_amount) == (
        Decimal("3.00"), None, Decimal("136.50"))
    refund = Refund.objects.get(order=order)
    assert (refund.amount, refund.reason) == (Decimal("45.50"), "少发退款")
    stock = stock_of(shrimp)
    assert (stock.on_hand, stock.reserved) == (Decimal("7.00"), Decimal("0.00"))
    assert list(StockMove.objects.filter(reference=order.number, kind__in=["shipment", "release"])
                .order_by("id").values_list("kind", "on_hand_delta", "reserved_delta")) == [
        ("shipment", Decimal("-3.00"), Decimal("-3.00")), ("release", Decimal("0.00"), Decimal("-1.00"))]
    assert stock_ledger_drift() == []


def test_several_lines_are_refunded_in_one_refund(buyer, rules, delivery, clerk, shrimp, squid, croaker,
                                                  django_capture_on_commit_callbacks):
    order = packing_order(buyer, delivery, clerk, (shrimp, "4"), (squid, "10"), (croaker, "1"))
    assert order.total == Decimal("727.00")  # 182.00 + 185.00 + 360.00, free delivery

    result = pack(order, clerk, {
        shrimp: {"packed_quantity": "3"},  # 136.50
        squid: {"actual_weight": "9.62"},  # 177.97
        croaker: {"actual_weight": "19.00"},  # 342.00
    }, capture=django_capture_on_commit_callbacks)

    assert result.actual_total == Decimal("656.47")
    refund = Refund.objects.get(order=order)
    assert (refund.amount, refund.reason) == (Decimal("70.53"), "实重差额及少发退款")
    assert DevRefund.objects.get().amount_fen == 7053
    assert {s.product_id: (s.on_hand, s.reserved) for s in Stock.objects.all()} == {
        shrimp.pk: (Decimal("7.00"), Decimal("0.00")),
        squid.pk: (Decimal("40.38"), Decimal("0.00")),
        croaker.pk: (Decimal("9.00"), Decimal("0.00")),
    }
    assert stock_ledger_drift() == []


def test_short_boxes_of_a_catch_weight_product(buyer, rules, delivery, clerk, croaker):
    order = packing_order(buyer, delivery, clerk, (croaker, "3"))  # 1080.00

    pack(order, clerk, {croaker: {"packed_quantity": "2", "actual_weight": "41.00"}})

    line = line_of(order, croaker)
    assert (line.packed_quantity, line.actual_amount) == (Decimal("2.00"), Decimal("738.00"))
    assert Refund.objects.get(order=order).amount == Decimal("342.00")
    assert (stock_of(croaker).on_hand, stock_of(croaker).reserved) == (Decimal("8.00"), Decimal("0.00"))


def test_a_catch_weight_line_marked_none_packed(buyer, rules, delivery, clerk, shrimp, squid):
    order = packing_order(buyer, delivery, clerk, (shrimp, "4"), (squid, "10"))  # 367.00, free delivery

    pack(order, clerk, {shrimp: {}, squid: {"packed_quantity": "0"}})

    line = line_of(order, squid)
    assert (line.packed_quantity, line.actual_weight, line.actual_amount) == (
        Decimal("0.00"), None, Decimal("0.00"))
    assert Refund.objects.get(order=order).amount == Decimal("185.00")
    assert (stock_of(squid).on_hand, stock_of(squid).reserved) == (Decimal("50.00"), Decimal("0.00"))
    assert stock_ledger_drift() == []


# ---------------------------------------------------------------- refused input changes nothing


def _assert_nothing_packed(order, moves_before):
    order.refresh_from_db()
    assert order.status == Order.Status.PACKING
    assert not OrderLine.objects.filter(order=order).exclude(
        packed_quantity=None, actual_weight=None, actual_amount=None, packed_at=None).exists()
    assert StockMove.objects.count() == moves_before
    assert not StockMove.objects.filter(kind=StockMove.Kind.SHIPMENT).exists()
    assert not Refund.objects.filter(order=order).exists()


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "请填写实重（斤）"),
    ({"actual_weight": ""}, "请填写实重（斤）"),
    ({"actual_weight": None}, "请填写实重（斤）"),
    ({"actual_weight": "0"}, "实重必须大于 0；缺货未发请标记缺货"),
    ({"actual_weight": "-1.5"}, "实重必须大于 0；缺货未发请标记缺货"),
    ({"actual_weight": "9.625"}, "实重最多两位小数"),
    ({"actual_weight": "abc"}, "实重请填写数字"),
    ({"actual_weight": "NaN"}, "实重请填写数字"),
    ({"actual_weight": 9.62}, "实重格式不正确"),
    ({"actual_weight": "1e400"}, "实重数值过大，请检查是否录错"),
    ({"actual_weight": "30.01"}, "实重 30.01 斤超过标称 10.00 斤的 3 倍，请检查是否录错"),
    ({"actual_weight": "9.62", "packed_quantity": "10"}, "按重量出库的商品请填写实重（缺货未发填 0 件）"),
    ({"actual_weight": "9.62", "packed_quantity": "0"}, "已标记缺货未发，请不要填写实重"),
])
def test_bad_weight_is_refused_and_nothing_changes(buyer, rules, delivery, clerk, shrimp, squid, fields, message):
    order = packing_order(buyer, delivery, clerk, (shrimp, "4"), (squid, "10"))
    reserved = {p.pk: stock_of(p).reserved for p in (shrimp, squid)}
    moves = StockMove.objects.count()

    with pytest.raises(ValidationFailed) as refused:
        pack(order, clerk, {shrimp: {"packed_quantity": "3"}, squid: fields})

    assert refused.value.message == f"冻鱿鱼须：{message}"
    assert refused.value.details == {"lines": {str(line_of(order, squid).pk): message}}
    _assert_nothing_packed(order, moves)
    assert {p.pk: stock_of(p).reserved for p in (shrimp, squid)} == reserved


def test_weight_at_three_times_nominal_is_accepted(buyer, rules, delivery, clerk, squid):
    order = packing_order(buyer, delivery, clerk, (squid, "10"))
    pack(order, clerk, {squid: {"actual_weight": "30.00"}})
    assert line_of(order, squid).actual_amount == Decimal("185.00")


@pytest.mark.parametrize(("fields", "message"), [
    ({"packed_quantity": "5"}, "实发数量不能超过下单数量 4.00袋"),
    ({"packed_quantity": "-1"}, "实发数量不能为负"),
    ({"packed_quantity": "2.5", "actual_weight": "3"}, "该商品不按实重计价，请填写实发数量"),
])
def test_bad_quantity_is_refused(buyer, rules, delivery, clerk, shrimp, fields, message):
    order = packing_order(buyer, delivery, clerk, (shrimp, "4"))
    moves = StockMove.objects.count()

    with pytest.raises(ValidationFailed) as refused:
        pack(order, clerk, {shrimp: fields})

    assert refused.value.message == f"去皮虾仁：{message}"
    _assert_nothing_packed(order, moves)


def test_every_line_must_be_given_once(buyer, rules, delivery, clerk, shrimp, squid):
    order = packing_order(buyer, delivery, clerk, (shrimp, "4"), (squid, "10"))
    other = paid_order(buyer, delivery, (shrimp, "3"))
    moves = StockMove.objects.count()
    shrimp_line, squid_line = line_of(order, shrimp), line_of(order, squid)

    with pytest.raises(ValidationFailed) as missing:
        order_pack(order_id=order.pk, lines=[{"line_id": shrimp_line.pk}], user=clerk)
    with pytest.raises(ValidationFailed) as twice:
        order_pack(order_id=order.pk, user=clerk, lines=[
            {"line_id": shrimp_line.pk}, {"line_id": shrimp_line.pk}, {"line_id": squid_line.pk, "actual_weight": "9"}])
    with pytest.raises(ValidationFailed) as foreign:
        order_pack(order_id=order.pk, user=clerk, lines=[
            {"line_id": shrimp_line.pk}, {"line_id": squid_line.pk, "actual_weight": "9"},
            {"line_id": other.lines.get().pk}])

    assert missing.value.details == {"lines": {str(squid_line.pk): "未填写"}}
    assert twice.value.message == "同一明细填写了两次"
    assert foreign.value.message == "明细不属于该订单"
    _assert_nothing_packed(order, moves)


def test_nothing_packed_at_all_is_refused(buyer, rules, delivery, clerk, shrimp):
    order = packing_order(buyer, delivery, clerk, (shrimp, "4"))
    moves = StockMove.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        pack(order, clerk, {shrimp: {"packed_quantity": "0"}})
    assert refused.value.code == "nothing_packed"
    _assert_nothing_packed(order, moves)


def test_overweight_beyond_stock_on_hand_is_refused(buyer, rules, delivery, clerk):
    tight = product_with_stock(name="冻章鱼", unit="斤", price="30.00", catch_weight=True, nominal_weight="1",
                               on_hand="10")
    order = packing_order(buyer, delivery, clerk, (tight, "10"))
    moves = StockMove.objects.count()

    with pytest.raises(InsufficientStock):
        pack(order, clerk, {tight: {"actual_weight": "10.50"}})

    _assert_nothing_packed(order, moves)
    assert (stock_of(tight).on_hand, stock_of(tight).reserved) == (Decimal("10.00"), Decimal("10.00"))


def test_an_order_not_started_cannot_be_packed(buyer, rules, delivery, clerk, squid):
    order = paid_order(buyer, delivery, (squid, "10"))
    with pytest.raises(Conflict) as refused:
        pack(order, clerk, {squid: {"actual_weight": "10"}})
    assert refused.value.code == "order_not_packing"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_start_moves_paid_to_packing_once(buyer, rules, delivery, clerk, squid):
    order = paid_order(buyer, delivery, (squid, "10"))

    order_pack_start(order_id=order.pk, user=clerk)
    with pytest.raises(Conflict):
        order_pack_start(order_id=order.pk, user=clerk)

    event = OrderEvent.objects.filter(order=order).last()
    assert (event.from_status, event.to_status, event.actor, event.note) == ("paid", "packing", "clerk_li", "开始备货")
    assert OrderEvent.objects.filter(order=order, to_status="packing").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_clerks_packing_at_once_pack_and_refund_once(buyer, rules, delivery, clerk, squid):
    order = packing_order(buyer, delivery, clerk, (squid, "10"))
    line_id = line_of(order, squid).pk
    start = threading.Barrier(2)
    outcomes = []

    def submit(weight):
        try:
            start.wait()
            order_pack(order_id=order.pk, lines=[{"line_id": line_id, "actual_weight": weight}], user=clerk)
            outcomes.append("packed")
        except Conflict as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(weight,)) for weight in ("9.62", "9.50")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["order_not_packing", "packed"]
    refund = Refund.objects.get(order=order)
    assert refund.amount in (Decimal("7.03"), Decimal("9.25"))
    assert DevRefund.objects.get().amount_fen == int(refund.amount * 100)
    assert StockMove.objects.filter(kind=StockMove.Kind.SHIPMENT).count() == 1
    assert stock_ledger_drift() == []


# ---------------------------------------------------------------- stock


def test_reserved_stock_goes_back_to_what_other_orders_hold(buyer, rules, delivery, clerk, squid, customer):
    from tests.factories import CustomerFactory, VisitorFactory

    other_customer = CustomerFactory()
    other_buyer = VisitorFactory(customer=other_customer, phone=other_customer.phone)
    packed = packing_order(buyer, delivery, clerk, (squid, "10"))
    waiting = paid_order(other_buyer, delivery, (squid, "6"))
    assert stock_of(squid).reserved == Decimal("16.00")

    pack(packed, clerk, {squid: {"actual_weight": "9.62"}})

    stock = stock_of(squid)
    assert (stock.on_hand, stock.reserved) == (Decimal("40.38"), Decimal("6.00"))
    assert waiting.status == Order.Status.PAID
    assert stock_ledger_drift() == []


# ---------------------------------------------------------------- roles


def test_only_warehouse_clerks_pack(buyer, rules, delivery, clerk, outsider, squid):
    order = paid_order(buyer, delivery, (squid, "10"))

    with pytest.raises(PermissionDenied):
        order_pack_start(order_id=order.pk, user=outsider)
    order_pack_start(order_id=order.pk, user=clerk)
    with pytest.raises(PermissionDenied):
        pack(order, outsider, {squid: {"actual_weight": "9.62"}})

    order.refresh_from_db()
    assert order.status == Order.Status.PACKING
    assert line_of(order, squid).actual_weight is None


def test_pages_refuse_anyone_but_a_clerk(client, buyer, rules, delivery, outsider, squid):
    order = paid_order(buyer, delivery, (squid, "10"))
    urls = [f"/ops/packing/?date={TOMORROW}", f"/ops/packing/{order.pk}/", f"/ops/packing/{order.pk}/result/"]

    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/ops/login/")
    client.force_login(outsider)
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.post(f"/ops/packing/{order.pk}/start/").status_code == 403
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


# ---------------------------------------------------------------- pages


def _numbers(html: str) -> list[str]:
    return re.findall(r'data-order="(\d+)"', html)


def test_list_shows_the_days_paid_and_packing_orders_newest_first(client, buyer, rules, delivery, clerk, shrimp,
                                                                 squid):
    first = paid_order(buyer, delivery, (shrimp, "3"))
    second = packing_order(buyer, delivery, clerk, (squid, "10"))
    done = packing_order(buyer, delivery, clerk, (shrimp, "3"))
    pack(done, clerk, {shrimp: {}})
    fill_cart(buyer, (squid, "6"))
    unpaid, _ = order_place(visitor=buyer, idempotency_key="packing-unpaid-1", delivery=delivery)
    client.force_login(clerk)

    response = client.get("/ops/packing/")  # tomorrow by default

    assert response.status_code == 200
    html = response.content.decode()
    assert _numbers(html) == [second.number, first.number]
    assert unpaid.number not in html and done.number not in _numbers(html)  # named only as the same-day order
    assert "备货中" in html and "1 种商品" in html
    assert _numbers(client.get("/ops/packing/?date=2026-11-26").content.decode()) == []
    assert _numbers(client.get("/ops/packing/?date=nonsense").content.decode()) == [second.number, first.number]


def _list_queries(client, day) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/ops/packing/?date={day}")
    assert response.status_code == 200
    return len(queries)


def test_list_queries_do_not_grow_with_orders(client, buyer, rules, delivery, clerk):
    crab = product_with_stock(name="冻蟹", unit="只", price="120.00", on_hand="1000")
    client.force_login(clerk)
    for _ in range(2):
        paid_order(buyer, delivery, (crab, "1"))
    few = _list_queries(client, TOMORROW)
    for _ in range(28):
        paid_order(buyer, delivery, (crab, "1"))
    many = _list_queries(client, TOMORROW)

    assert few == many <= 8
    page_two = client.get(f"/ops/packing/?date={TOMORROW}&page=2").content.decode()
    assert len(_numbers(page_two)) == 10 and "第 2 / 2 页" in page_two


def test_packing_page_submit_and_result(client, buyer, rules, delivery, clerk, shrimp, squid,
                                        django_capture_on_commit_callbacks):
    order = paid_order(buyer, delivery, (shrimp, "4"), (squid, "10"))  # 367.00, free delivery
    shrimp_line, squid_line = line_of(order, shrimp), line_of(order, squid)
    client.force_login(clerk)

    page = client.get(f"/ops/packing/{order.pk}/")
    assert page.status_code == 200 and "开始备货" in page.content.decode()
    assert client.post(f"/ops/packing/{order.pk}/start/").status_code == 302

    form = client.get(f"/ops/packing/{order.pk}/").content.decode()
    assert f'name="weight_{squid_line.pk}"' in form and f'name="qty_{shrimp_line.pk}"' in form
    assert "下单 10斤 × ¥18.50 = ¥185.00" in form and "标称共 10 斤；按实重计价" in form

    missing = client.post(f"/ops/packing/{order.pk}/", {f"qty_{shrimp_line.pk}": "", f"weight_{squid_line.pk}": ""})
    assert missing.status_code == 400
    assert "冻鱿鱼须：请填写实重（斤）" in missing.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.PACKING and not Refund.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(f"/ops/packing/{order.pk}/", {f"qty_{shrimp_line.pk}": "",
                                                         f"weight_{squid_line.pk}": "9.62"})
    assert done.status_code == 302 and done["Location"] == f"/ops/packing/{order.pk}/result/"
    result = client.get(done["Location"]).content.decode()
    assert 'data-refund="7.03"' in result and "¥359.97" in result
    assert DevRefund.objects.get().amount_fen == 703
    # Back on the form after packing: the result, never a second packing.
    assert client.get(f"/ops/packing/{order.pk}/")["Location"] == f"/ops/packing/{order.pk}/result/"
