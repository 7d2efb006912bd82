"""`make run` serves the product on SQLite, where checkout writes statement by statement instead
of PostgreSQL's one prepared statement. The suite runs on PostgreSQL, so this test runs a
checkout on a fresh SQLite database in a subprocess and checks the same rows come out."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, os, uuid, warnings
from decimal import Decimal
warnings.filterwarnings("ignore")
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
from catalog.models import Cart, CartLine
from customers.tokens import visitor_token_make
from logistics.models import Stock, StockMove
from logistics.selectors import stock_ledger_drift
from orders.models import Order, OrderSettings
from tests.factories import CustomerFactory, VisitorFactory, product_with_stock

OrderSettings.objects.update_or_create(pk=1, defaults={"min_order_amount": Decimal("10.00")})
shrimp = product_with_stock(name="冻虾仁", price="38.50", on_hand="20")
squid = product_with_stock(name="冻鱿鱼须", price="22.00", on_hand="10", unit="斤", step_quantity=Decimal("0.5"))
customer = CustomerFactory()
visitor = VisitorFactory(customer=customer, phone=customer.phone)
cart = Cart.objects.create(visitor=visitor)
CartLine.objects.create(cart=cart, product=squid, quantity=Decimal("1"))
client = Client(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
body = {"idempotency_key": uuid.uuid4().hex, "restaurant_name": "湘味小馆", "contact_name": "王老板",
        "address": "深圳市福田区福华路 88 号", "district": "福田", "latitude": "22.541234", "longitude": "114.061234",
        "lines": [{"product_id": shrimp.pk, "quantity": "3"}, {"product_id": squid.pk, "quantity": "2.5"}]}
first = client.post("/api/v1/orders", body, content_type="application/json")
assert first.status_code == 201, first.content.decode()
again = client.post("/api/v1/orders", body, content_type="application/json")
short = client.post("/api/v1/orders", dict(body, idempotency_key=uuid.uuid4().hex,
                    lines=[{"product_id": squid.pk, "quantity": "8"}]), content_type="application/json")
order = Order.objects.get()
print(json.dumps({
    "statuses": [first.status_code, again.status_code, short.status_code],
    "same_order": first.json()["order"]["id"] == again.json()["order"]["id"] == str(order.pk),
    "payment": bool(first.json()["payment"]), "short": short.json()["error"]["code"],
    "total": str(order.total), "subtotal": str(order.subtotal),
    "lines": [[l.product_name, str(l.quantity), str(l.unit_price), str(l.amount)] for l in order.lines.order_by("id")],
    "reserved": {s.product.name: str(s.reserved) for s in Stock.objects.select_related("product")},
    "ledger": sorted([m.stock.product.name, m.kind, str(m.reserved_delta), m.reference]
                     for m in StockMove.objects.select_related("stock__product").filter(kind="reservation")),
    "payment_row": [order.payment.out_trade_no == order.number, order.payment.amount_fen],
    "events": list(order.events.values_list("to_status", flat=True)),
    "cart": list(CartLine.objects.values_list("product__name", flat=True)),
    "drift": len(stock_ledger_drift()),
    "customer_name": order.customer.__class__.objects.get(pk=order.customer_id).name,
}, ensure_ascii=False))

# A coupon on SQLite: its categories read with group_concat, its redemption written, given back on cancel.
from datetime import timedelta
from django.utils import timezone
from coupons.models import CouponRedemption, CouponTemplate
from coupons.services import coupons_issue
from orders.services import order_cancel_unpaid
template = CouponTemplate.objects.create(name="虾仁满50减5", amount_off=Decimal("5.00"), min_spend=Decimal("50.00"),
                                         valid_from=timezone.localdate(), valid_to=timezone.localdate() + timedelta(days=3))
template.categories.set([shrimp.category_id])
coupon = coupons_issue(template_id=template.pk, customer_ids=[customer.pk], audience="sqlite").coupons.get()
lines = [{"product_id": shrimp.pk, "quantity": "2"}, {"product_id": squid.pk, "quantity": "1"}]
used = client.post("/api/v1/orders", dict(body, idempotency_key=uuid.uuid4().hex, lines=lines, coupon_id=coupon.pk),
                   content_type="application/json")
twice = client.post("/api/v1/orders", dict(body, idempotency_key=uuid.uuid4().hex, lines=lines, coupon_id=coupon.pk),
                    content_type="application/json")
discounted = Order.objects.get(pk=used.json()["order"]["id"])
shares = [str(l.discount) for l in discounted.lines.order_by("id")]
order_cancel_unpaid(order_id=discounted.pk, reason="客户取消", actor="customer")
print(json.dumps({"statuses": [used.status_code, twice.status_code], "twice": twice.json()["error"]["code"],
                  "discount": str(discounted.discount), "total": str(discounted.total), "shares": shares,
                  "released": CouponRedemption.objects.get().released_at is not None}))
"""


def test_checkout_on_sqlite_writes_the_same_rows(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="seafood_b2b.settings", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
               PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-2])
    coupon = json.loads(result.stdout.strip().splitlines()[-1])
    # 77.00 of shrimp (the coupon's shelf) + 22.00 of squid; ¥5 off, all on the shrimp line; fee 10.
    assert coupon == {"statuses": [201, 409], "twice": "coupon_used", "discount": "5.00", "total": "104.00",
                      "shares": ["5.00", "0.00"], "released": True}

    assert seen["statuses"] == [201, 200, 409] and seen["same_order"] and seen["payment"]
    assert seen["short"] == "insufficient_stock"
    assert seen["subtotal"] == "170.50"
    assert seen["lines"] == [["冻虾仁", "3.00", "38.50", "115.50"], ["冻鱿鱼须", "2.50", "22.00", "55.00"]]
    assert seen["reserved"] == {"冻虾仁": "3.00", "冻鱿鱼须": "2.50"}
    number = seen["ledger"][0][3]
    assert seen["ledger"] == [["冻虾仁", "reservation", "3.00", number], ["冻鱿鱼须", "reservation", "2.50", number]]
    assert seen["payment_row"][0] and seen["payment_row"][1] == round(float(seen["total"]) * 100)
    assert seen["events"] == ["pending_payment"]
    assert seen["cart"] == []  # the squid in the cart was ordered, so it left the cart
    assert seen["drift"] == 0
    assert seen["customer_name"] == "湘味小馆"
