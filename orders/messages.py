"""The subscribe messages a customer gets about an order, one function per template, each written
with notify() in the transaction of its event (sent after commit, only against the customer's
acceptance of that template: notifications.consent). After-sales decisions have theirs in
aftersales/decisions.py, complaint replies in the complaints app.

| template        | event                                              | called from                        |
|-----------------|----------------------------------------------------|------------------------------------|
| order_paid      | the payment settled (notification or query)        | payments.payment_settle            |
| delivery_done   | the driver completed the stop (signed by/left at)  | logistics.delivery.stop_complete   |
| weight_refund   | packing refunded a catch-weight/short difference   | logistics.packing.order_pack       |
| refund_done     | a refund succeeded (notification or query)         | refunds.refund_succeeded           |
"""

from django.utils import timezone

from notifications.services import notify
from wechat.messages import fit_field, time_value


def _customer(order, *, event: str, template: str, title: str, body: str, data: dict) -> None:
    notify(event_key=f"order:{order.pk}:{event}", recipient_kind="customer", recipient_id=order.customer_id,
           channel="subscribe", template=template, title=title, body=body, data=data,
           link=f"/shop/orders/{order.pk}/", address=order.visitor.openid)


def message_order_paid(*, order, paid_at) -> None:
    _customer(order, event="paid", template="order_paid", title="付款成功",
              body=f"订单 {order.number} 已付款 ¥{order.total}，预计 {order.delivery_date:%m月%d日} 送达",
              data={"character_string1": order.number, "amount2": f"¥{order.total}", "time3": time_value(paid_at),
                    "date4": f"{order.delivery_date:%Y年%m月%d日}"})


def message_delivered(*, order, proof: str, delivered_at) -> None:
    _customer(order, event="delivered", template="delivery_done", title="订单已送达",
              body=f"订单 {order.number} 已送达：{proof}",
              data={"character_string1": order.number, "thing2": fit_field("thing", proof),
                    "time3": time_value(delivered_at)})


def message_weight_refund(*, order, refund, actual_total) -> None:
    _customer(order, event=f"weight_refund:{refund.pk}", template="weight_refund", title="称重差价退款",
              body=f"订单 {order.number} 按实际称重 ¥{actual_total}，差价 ¥{refund.amount} 原路退回",
              data={"character_string1": order.number, "amount2": f"¥{actual_total}", "amount3": f"¥{refund.amount}",
                    "thing4": refund.reason})


def message_refund_done(*, order, refund) -> None:
    _customer(order, event=f"refund:{refund.pk}", template="refund_done", title="退款成功",
              body=f"订单 {order.number} 退款 ¥{refund.amount} 已原路退回微信支付：{refund.reason}",
              data={"character_string1": order.number, "amount2": f"¥{refund.amount}",
                    "thing3": refund.reason or "退款", "time4": time_value(refund.succeeded_at or timezone.now())})
