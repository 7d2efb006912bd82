"""Batch labels: a 60 × 40 mm PDF page per batch with the batch's facts and a QR code of its
traceability address."""

from datetime import datetime
from decimal import Decimal
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from logistics import labels
from logistics.labels import labels_pdf
from logistics.models import Batch
from logistics.receiving import ReceiptLineInput, batch_trace_url, receipt_batches, receipt_create, receipt_get
from logistics.roles import WAREHOUSE_GROUP
from tests.factories import ProductFactory, PurchasingDriverFactory, SupplierFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
WIDTH_PT, HEIGHT_PT = 60 / 25.4 * 72, 40 / 25.4 * 72


@pytest.fixture
def clerk():
    user = User.objects.create_user("clerk", password="pw-clerk-1")
    user.groups.add(Group.objects.get_or_create(name=WAREHOUSE_GROUP)[0])
    return user


@pytest.fixture
def receipt(clerk, settings):
    settings.SITE_URL = "https://seafood.example.com/"
    supplier = SupplierFactory(name="南澳水产")
    prawns = ProductFactory(name="黑虎虾", spec="4斤/箱", unit="箱", catch_weight=True, nominal_weight=Decimal("4"))
    fish = ProductFactory(name="冻带鱼段", spec="1kg/袋", unit="袋")
    with time_machine.travel(datetime(2025, 6, 18, 10, 0, tzinfo=SHANGHAI), tick=False):
        return receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[
            ReceiptLineInput(product_id=prawns.pk, quantity="5", weight="21.35", unit_cost="152.5",
                             production_date="2025-06-10", expiry_date="2025-12-10"),
            ReceiptLineInput(product_id=fish.pk, quantity="30", unit_cost="24"),
        ])


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(BytesIO(pdf)).pages]


def test_one_label_page_per_batch_with_its_facts(receipt):
    pdf = labels_pdf(receipt_batches(receipt=receipt_get(receipt_id=receipt.pk)))

    reader = PdfReader(BytesIO(pdf))
    assert len(reader.pages) == 2
    for page in reader.pages:
        assert float(page.mediabox.width) == pytest.approx(WIDTH_PT, abs=0.01)
        assert float(page.mediabox.height) == pytest.approx(HEIGHT_PT, abs=0.01)
    prawns, fish = pages_text(pdf)
    # The CID font's text comes back out of the PDF, Chinese included.
    for shown in ("黑虎虾", "规格 4斤/箱", "批次 B2506180001", "重量 21.35 斤", "生产 2025-06-10",
                  "保质期至 2025-12-10", "供应商 南澳水产", "扫码溯源"):
        assert shown in prawns
    for shown in ("冻带鱼段", "批次 B2506180002", "数量 30 袋", "生产 —", "保质期至 —"):
        assert shown in fish
    assert "152.5" not in prawns and "24" not in fish.replace("2025", "")  # costs never on a label


def test_the_qr_code_holds_the_absolute_traceability_address(receipt, monkeypatch):
    encoded = []
    real_widget = labels.QrCodeWidget

    def recording_widget(value, **kwargs):
        encoded.append(value)
        return real_widget(value, **kwargs)

    monkeypatch.setattr(labels, "QrCodeWidget", recording_widget)
    labels_pdf(receipt_batches(receipt=receipt_get(receipt_id=receipt.pk)))

    assert encoded == ["https://seafood.example.com/t/B2506180001/", "https://seafood.example.com/t/B2506180002/"]
    assert batch_trace_url("B2506180001") == encoded[0]


def test_copies_repeat_each_label(receipt):
    pdf = labels_pdf(receipt_batches(receipt=receipt_get(receipt_id=receipt.pk)), copies=3)
    texts = pages_text(pdf)
    assert len(texts) == 6
    assert ["B2506180001" in text for text in texts] == [True, True, True, False, False, False]
    with pytest.raises(ValueError):
        labels_pdf([], copies=0)


def test_a_long_name_is_cut_to_the_label(clerk, settings):
    supplier = SupplierFactory(name="一个名字非常非常非常非常长的海鲜冻品供应链有限公司")
    product = ProductFactory(name="智利进口冷冻帝王蟹腿切段礼盒装特级大号精选款", spec="")
    receipt = receipt_create(received_by=clerk, supplier_id=supplier.pk,
                             lines=[ReceiptLineInput(product_id=product.pk, quantity="1", unit_cost="1")])
    (text,) = pages_text(labels_pdf(receipt_batches(receipt=receipt_get(receipt_id=receipt.pk))))
    assert "智利进口冷冻" in text and "…" in text
    assert "供应链有限公司" not in text


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


def test_a_receipts_labels_as_one_pdf(clerk_client, receipt):
    response = clerk_client.get(f"/ops/receiving/{receipt.pk}/labels.pdf")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="labels-receipt-{receipt.pk}.pdf"'
    assert len(PdfReader(BytesIO(response.content)).pages) == 2
    twice = clerk_client.get(f"/ops/receiving/{receipt.pk}/labels.pdf?copies=2")
    assert len(PdfReader(BytesIO(twice.content)).pages) == 4
    for bad in ("0", "51", "x", "-1"):
        refused = clerk_client.get(f"/ops/receiving/{receipt.pk}/labels.pdf", {"copies": bad})
        assert refused.status_code == 400 and "份数应为 1 到 50" in refused.content.decode()


def test_labels_are_for_warehouse_clerks_only(client, receipt):
    assert client.get(f"/ops/receiving/{receipt.pk}/labels.pdf").status_code == 302
    client.force_login(PurchasingDriverFactory().user)
    assert client.get(f"/ops/receiving/{receipt.pk}/labels.pdf").status_code == 403


def test_printing_labels_costs_the_same_queries_for_few_and_many_batches(clerk_client, clerk, receipt):
    with CaptureQueriesContext(connection) as few:
        assert clerk_client.get(f"/ops/receiving/{receipt.pk}/labels.pdf").status_code == 200
    products = [ProductFactory() for _ in range(15)]
    big = receipt_create(received_by=clerk, supplier_id=receipt.supplier_id,
                         lines=[ReceiptLineInput(product_id=p.pk, quantity="1", unit_cost="1") for p in products])
    with CaptureQueriesContext(connection) as many:
        response = clerk_client.get(f"/ops/receiving/{big.pk}/labels.pdf")
    assert len(PdfReader(BytesIO(response.content)).pages) == 15 == Batch.objects.filter(receipt=big).count()
    assert len(many) == len(few) <= 6
