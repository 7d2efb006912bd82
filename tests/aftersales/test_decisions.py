"""Staff decisions: full and partial approvals (by amount, quantity, weight), refunds never above
what was paid (the packing refund counted), stock back through the ledger or written off,
rejections and requests for photos, goodwill refunds, the customer told, the refund call retried."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from aftersales.decisions import APPROVE, MORE_INFO, PARTIAL, REJECT, Decision, goodwill_refund, request_decide
from aftersales.models import AfterSalesDecision, AfterSalesLine, AfterSalesRequest
from aftersales.services import request_create
from core.errors import ApplicationError
from logistics.models import Stock, StockMove
from logistics.selectors import stock_ledger_drift
from notifications.models import Notification
from orders.models import Refund
from orders.services import refund_submit
from wechat.models import DevRefund

from .conftest import make_delivered_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return User.objects.create_user("kefu01", is_staff=True)


def _request(world, *lines, reason="damaged"):
    items = [{"line_id": line.pk, **claim} for line, claim in lines] or [
        {"line_id": world.shrimp_line.pk, "quantity": "2"}]
    return request_create(customer_id=world.customer.pk, order_id=world.order.pk, reason=reason, note="外箱破损",
                          lines=items)


def _state(world):
    stocks = {s.product_id: (s.on_hand, s.reserved) for s in Stock.objects.all()}
    return (list(Refund.objects.filter(order=world.order).values_list("amount", "status")),
            list(AfterSalesRequest.objects.values_list("status", "refunded_amount")),
            list(AfterSalesLine.objects.values_list("approved_amount", "returned_quantity", "is_open")),
            AfterSalesDecision.objects.count(), StockMove.objects.count(), stocks, Notification.objects.count())


def test_full_approval_refunds_the_claim_writes_it_off_and_tells_the_customer(world, staff,
                                                                              django_capture_on_commit_callbacks):
    request = _request(world)
    moves = StockMove.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        row = request_decide(request_id=request.pk, user=staff,
                             decision=Decision(kind=APPROVE, goods="written_off", message="抱歉，已退款"))

    request.refresh_from_db()
    assert request.status == "approved" and request.refunded_amount == Decimal("91.00")  # 2 of 4 bags of 182.00
    refund = row.refund
    assert refund.amount == Decimal("91.00") and refund.out_refund_no == f"{world.order.number}R2"
    # Sent after commit: the dev WeChat Pay accepted it (it finishes it later, as WeChat Pay does).
    assert Refund.objects.get(pk=refund.pk).status == Refund.Status.PROCESSING
    assert DevRefund.objects.get(out_refund_no=refund.out_refund_no).amount_fen == 9100
    assert (row.kind, row.staff, row.actor, row.goods) == ("approved", staff, "kefu01", "written_off")
    assert StockMove.objects.count() == moves  # a write-off moves no stock
    assert not AfterSalesLine.objects.filter(is_open=True).exists()
    message = Notification.objects.get(event_key=f"order:{world.order.pk}:aftersales:{row.pk}")
    assert (message.title, message.template, message.recipient_id) == ("售后处理结果", "aftersales_result",
                                                                        str(world.customer.pk))
    assert "退款 ¥91.00" in message.body and "抱歉，已退款" in message.body
    # The customer's order page shows the refund and the message.
    detail = world.client.get(f"/api/v1/orders/{world.order.pk}").json()
    assert ("91.00", "退款中") in [(r["amount"], r["status_label"]) for r in detail["refunds"]]
    assert "售后处理结果" in [m["title"] for m in detail["messages"]]


def test_returned_goods_go_back_to_stock_through_the_ledger(world, staff):
    request = _request(world)
    on_hand = Stock.objects.get(product=world.shrimp_line.product).on_hand
    request_decide(request_id=request.pk, user=staff, decision=Decision(kind=APPROVE, goods="returned"))

    assert Stock.objects.get(product=world.shrimp_line.product).on_hand == on_hand + 2
    move = StockMove.objects.get(kind=StockMove.Kind.RETURN)
    assert (move.on_hand_delta, move.reference) == (Decimal("2.00"), world.order.number)
    assert stock_ledger_drift() == []


def test_partial_by_amount(world, staff):
    request = _request(world)
    row = request_decide(request_id=request.pk, user=staff,
                         decision=Decision(kind=PARTIAL, amount="30", goods="written_off", message="按损耗一半"))
    request.refresh_from_db()
    assert (request.status, request.refunded_amount, row.amount) == ("partially_approved", Decimal("30.00"),
                                                                     Decimal("30.00"))


def test_partial_by_quantity_and_by_weight_counts_the_catch_weight_price(world, staff):
    request = _request(world, (world.shrimp_line, {"quantity": "2"}), (world.fish_line, {"weight": "3.8"}))
    lines = {line.order_line_id: line for line in request.lines.all()}
    assert lines[world.fish_line.pk].claimed_amount == Decimal("76.00")  # 3.8 of 19 斤 charged 380.00
    row = request_decide(request_id=request.pk, user=staff, decision=Decision(
        kind=PARTIAL, goods="returned",
        quantities={lines[world.shrimp_line.pk].pk: "1", lines[world.fish_line.pk].pk: "1.9"}))
    assert row.amount == Decimal("45.50") + Decimal("38.00")
    # Only the bag came back: a weight shortfall has nothing to return.
    assert list(StockMove.objects.filter(kind=StockMove.Kind.RETURN).values_list("on_hand_delta", flat=True)) == [
        Decimal("1.00")]
    assert stock_ledger_drift() == []


def test_refunds_never_exceed_what_was_paid_counting_the_packing_refund(world, staff):
    """Paid 702.00; 20.00 went back at packing. The whole order claimed is worth 682.00, the most
    left to refund; one cent of goodwill more is refused and nothing changes."""
    request = _request(world, (world.shrimp_line, {"quantity": "4"}), (world.fish_line, {"quantity": "2"}),
                       (world.scallop_line, {"quantity": "2"}))
    assert request.claimed_amount == Decimal("682.00")
    request_decide(request_id=request.pk, user=staff, decision=Decision(kind=APPROVE, goods="written_off"))
    assert sum(Refund.objects.filter(order=world.order).values_list("amount", flat=True)) == Decimal("702.00")

    before = _state(world)
    with pytest.raises(ApplicationError) as refused:
        goodwill_refund(order_id=world.order.pk, user=staff, amount="0.01", message="再补一分")
    assert refused.value.code == "refund_exceeds_paid"
    assert _state(world) == before


def test_an_approval_above_what_is_left_is_refused_and_changes_nothing(world, staff):
    request = _request(world, (world.shrimp_line, {"quantity": "4"}))
    goodwill_refund(order_id=world.order.pk, user=staff, amount="600.00", message="整单补偿")  # 20 + 600 of 702
    before = _state(world)
    with pytest.raises(ApplicationError) as refused:
        request_decide(request_id=request.pk, user=staff, decision=Decision(kind=APPROVE, goods="returned"))
    assert refused.value.code == "refund_exceeds_paid"
    assert _state(world) == before
    assert AfterSalesRequest.objects.get(pk=request.pk).status == "submitted"


def test_a_line_is_never_refunded_above_its_paid_amount_across_requests(world, staff):
    first = _request(world, (world.shrimp_line, {"quantity": "3"}))
    request_decide(request_id=first.pk, user=staff, decision=Decision(kind=APPROVE, goods="written_off"))  # 136.50
    second = _request(world, (world.shrimp_line, {"quantity": "4"}))
    assert second.claimed_amount == Decimal("45.50")  # what is left of the line's 182.00
    with pytest.raises(ApplicationError) as refused:
        request_decide(request_id=second.pk, user=staff, decision=Decision(kind=PARTIAL, amount="45.51",
                                                                           goods="written_off"))
    assert refused.value.code == "amount_exceeds_claim"


def test_refusals_of_bad_decisions_change_nothing(world, staff):
    request = _request(world)
    before = _state(world)
    bad = [
        (Decision(kind=REJECT), "message_required"),
        (Decision(kind=MORE_INFO, message="  "), "message_required"),
        (Decision(kind=APPROVE), "goods_required"),
        (Decision(kind=PARTIAL, goods="returned"), "amount_required"),
        (Decision(kind=PARTIAL, goods="returned", amount="91.01"), "amount_exceeds_claim"),
        (Decision(kind=PARTIAL, goods="returned", amount="-1"), "amount_invalid"),
        (Decision(kind=PARTIAL, goods="returned", quantities={request.lines.get().pk: "3"}), "quantity_exceeds_claim"),
        (Decision(kind="refund_everything"), "decision_invalid"),
    ]
    for decision, code in bad:
        with pytest.raises(ApplicationError) as refused:
            request_decide(request_id=request.pk, user=staff, decision=decision)
        assert refused.value.code == code
    assert _state(world) == before


def test_reject_closes_the_request_with_the_reason_the_customer_sees(world, staff):
    request = _request(world)
    request_decide(request_id=request.pk, user=staff, decision=Decision(kind=REJECT, message="照片显示包装完好"))
    detail = world.client.get(f"/api/v1/aftersales/{request.pk}").json()
    assert detail["status_label"] == "已拒绝"
    assert detail["replies"][-1]["message"] == "照片显示包装完好"
    assert not Refund.objects.filter(order=world.order).exclude(pk=world.packing_refund.pk).exists()
    # Decided once: a second decision is refused; the line is free for a new request.
    with pytest.raises(ApplicationError) as refused:
        request_decide(request_id=request.pk, user=staff, decision=Decision(kind=APPROVE, goods="returned"))
    assert refused.value.code == "aftersales_already_decided"
    assert _request(world).status == "submitted"


def test_goodwill_refund_on_a_paid_order_is_audited_and_announced(world, staff):
    row = goodwill_refund(order_id=world.order.pk, user=staff, amount="15", message="配送迟到补偿")
    assert (row.kind, row.amount, row.actor, row.request) == ("goodwill", Decimal("15.00"), "kefu01", None)
    assert row.refund.reason == "补偿：配送迟到补偿"
    assert Notification.objects.filter(event_key=f"order:{world.order.pk}:aftersales:{row.pk}").exists()


def test_the_refund_call_is_idempotent_its_number_stable_across_retries(world, staff, settings,
                                                                        django_capture_on_commit_callbacks):
    request = _request(world)
    with django_capture_on_commit_callbacks(execute=False):  # the submit task does not run yet
        row = request_decide(request_id=request.pk, user=staff, decision=Decision(kind=APPROVE, goods="returned"))
    refund = Refund.objects.get(pk=row.refund.pk)
    # WeChat Pay took the refund but the answer was lost: the row is still pending; the retry
    # sends the same out_refund_no and WeChat Pay (here the dev backend) refunds once.
    from wechat.backends import get_backend

    get_backend().pay_refund(out_refund_no=refund.out_refund_no, out_trade_no=world.order.payment.out_trade_no,
                             refund_fen=9100, total_fen=70200, reason=refund.reason, notify_url="")
    assert Refund.objects.get(pk=refund.pk).status == Refund.Status.PENDING
    first = refund_submit(refund_id=refund.pk)
    assert first in (Refund.Status.PROCESSING, Refund.Status.SUCCEEDED)
    assert refund_submit(refund_id=refund.pk) in (Refund.Status.PROCESSING, Refund.Status.SUCCEEDED)
    assert list(DevRefund.objects.values_list("out_refund_no", "amount_fen")) == [(refund.out_refund_no, 9100)]


def test_someone_elses_line_quantities_are_refused(world, staff):
    request = _request(world)
    other = make_delivered_order()
    foreign = request_create(customer_id=other.customer.pk, order_id=other.order.pk, reason="missing",
                             lines=[{"line_id": other.shrimp_line.pk, "quantity": "1"}])
    with pytest.raises(ApplicationError) as refused:
        request_decide(request_id=request.pk, user=staff, decision=Decision(
            kind=PARTIAL, goods="returned", quantities={foreign.lines.get().pk: "1"}))
    assert refused.value.code == "line_not_in_request"
