"""A delivered order to claim on: frozen shrimp by the bag, a catch-weight box of hairtail already
partly refunded at packing, and dry scallops (ambient); paid through the dev WeChat Pay."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from io import BytesIO

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from aftersales.models import AfterSalesSettings
from customers.tokens import visitor_token_make
from orders.models import Order, OrderEvent, OrderLine, Payment, Refund
from tests.factories import CustomerFactory, VisitorFactory, product_with_stock
from wechat.models import DevPayTransaction



@pytest.fixture(autouse=True)
def _dev_keys(settings, tmp_path_factory, tmp_path):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""
    settings.MEDIA_ROOT = tmp_path / "media"


def jpeg_bytes(size=(64, 48), exif_text: str | None = "Camera GPS 22.54,114.06", fmt="JPEG") -> bytes:
    image = Image.new("RGB", size, (200, 60, 40))
    buffer = BytesIO()
    if exif_text is not None and fmt == "JPEG":
        exif = Image.Exif()
        exif[0x010F] = exif_text  # Make
        image.save(buffer, fmt, exif=exif.tobytes())
    else:
        image.save(buffer, fmt)
    return buffer.getvalue()


def photo(name="photo.jpg", content=None, content_type="image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, jpeg_bytes() if content is None else content, content_type=content_type)


@dataclass
class World:
    order: Order
    shrimp_line: OrderLine
    fish_line: OrderLine
    scallop_line: OrderLine
    customer: object
    visitor: object
    client: APIClient
    packing_refund: Refund


_numbers = iter(range(1000, 100000))


def make_delivered_order(*, customer=None, visitor=None, delivered_at=None, status=Order.Status.DELIVERED) -> World:
    customer = customer or CustomerFactory(name="湘味小馆")
    visitor = visitor or VisitorFactory(customer=customer, phone=customer.phone)
    shrimp = product_with_stock(name="去皮虾仁", unit="袋", price="45.50", on_hand="10", storage="frozen")
    fish = product_with_stock(name="冻带鱼整箱", unit="箱", price="200.00", on_hand="10", storage="frozen")
    scallop = product_with_stock(name="干贝", unit="斤", price="60.00", on_hand="10", storage="ambient")
    now = timezone.now()
    number = f"AS{next(_numbers):08d}"
    # shrimp 4 × 45.50 = 182.00; fish 2 boxes × 200 = 400.00 charged 380.00 at 19 斤; scallop 2 × 60 = 120.00
    order = Order.objects.create(
        number=number, customer=customer, visitor=visitor, status=status, idempotency_key=f"as-{number}",
        delivery_date=now.date(), subtotal=Decimal("702.00"), total=Decimal("702.00"), restaurant_name=customer.name,
        contact_name="王老板", phone=customer.phone, address="深圳市福田区福华路 88 号", expires_at=now, paid_at=now)
    shrimp_line = OrderLine.objects.create(
        order=order, product=shrimp, product_code=shrimp.code, product_name=shrimp.name, unit="袋",
        unit_price=Decimal("45.50"), quantity=Decimal("4"), amount=Decimal("182.00"), packed_quantity=Decimal("4"),
        actual_amount=Decimal("182.00"), packed_at=now)
    fish_line = OrderLine.objects.create(
        order=order, product=fish, product_code=fish.code, product_name=fish.name, unit="箱",
        unit_price=Decimal("200.00"), quantity=Decimal("2"), amount=Decimal("400.00"), catch_weight=True,
        nominal_weight=Decimal("10"), packed_quantity=Decimal("2"), actual_weight=Decimal("19.00"),
        actual_amount=Decimal("380.00"), packed_at=now)
    scallop_line = OrderLine.objects.create(
        order=order, product=scallop, product_code=scallop.code, product_name=scallop.name, unit="斤",
        unit_price=Decimal("60.00"), quantity=Decimal("2"), amount=Decimal("120.00"), packed_quantity=Decimal("2"),
        actual_amount=Decimal("120.00"), packed_at=now)
    Payment.objects.create(order=order, out_trade_no=number, amount_fen=70200, status=Payment.Status.SUCCEEDED,
                           transaction_id=f"4200{number}", succeeded_at=now)
    DevPayTransaction.objects.create(
        out_trade_no=number, appid=django_settings.WECHAT_APPID, mchid=django_settings.WECHATPAY_MCHID,
        description="test", amount_fen=70200, openid=visitor.openid, notify_url="", prepay_id=f"wx{number}",
        state=DevPayTransaction.State.SUCCESS, transaction_id=f"4200{number}", success_time=now)
    packing_refund = Refund.objects.create(order=order, out_refund_no=f"{number}R1", amount=Decimal("20.00"),
                                           reason="实重差额退款", status=Refund.Status.SUCCEEDED)
    event = OrderEvent.objects.create(order=order, from_status=Order.Status.OUT_FOR_DELIVERY,
                                      to_status=Order.Status.DELIVERED, actor="driver", note="王签收")
    OrderEvent.objects.filter(pk=event.pk).update(created_at=delivered_at or now)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return World(order=order, shrimp_line=shrimp_line, fish_line=fish_line, scallop_line=scallop_line,
                 customer=customer, visitor=visitor, client=client, packing_refund=packing_refund)


@pytest.fixture
def world(db):
    AfterSalesSettings.current()
    return make_delivered_order()
