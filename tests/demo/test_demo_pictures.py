"""Demo product pictures: drawn per aisle and kind of product, stored with a list-sized thumbnail."""

from io import BytesIO

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

import demo.pictures as pictures
from catalog.models import Product
from catalog.serializers import ProductSerializer
from demo.seed import DemoPlan, demo_seed
from demo.catalog_data import AISLES
from demo.pictures import picture_draw, picture_subject, shelf_subjects
from tests.factories import ProductFactory

PLAN = DemoPlan(products=240, suppliers=5, reps=1, customers=10, history_months=0)


def _open(name: str) -> Image.Image:
    with default_storage.open(name, "rb") as handle:
        image = Image.open(BytesIO(handle.read()))
        image.load()
    return image


@pytest.mark.django_db
def test_every_seeded_product_has_a_picture_and_a_thumbnail_shared_by_its_kind():
    results = {r.label: r for r in demo_seed(plan=PLAN)}

    products = list(Product.objects.select_related("category__parent"))
    assert results["商品图片"].created == len(products) == 240
    assert all(p.image and p.thumbnail for p in products)
    subjects = shelf_subjects()
    by_kind = {}
    for product in products:
        shelf = (product.category.parent.name, product.category.name)
        kind = picture_subject(forms=subjects[shelf][1], shelf=shelf[1], name=product.name)
        assert kind in product.name or kind == shelf[1].split("/")[0]
        by_kind.setdefault((*shelf, kind), set()).add((product.image.name, product.thumbnail.name))
    # One picture per kind of product, a different one for every kind.
    assert all(len(files) == 1 for files in by_kind.values())
    assert len({files.pop() for files in by_kind.values()}) == len(by_kind) < len(products)

    sample = products[0]
    picture, thumbnail = _open(sample.image.name), _open(sample.thumbnail.name)
    assert (picture.format, picture.size) == ("JPEG", (320, 320))
    assert (thumbnail.format, thumbnail.size) == ("JPEG", (160, 160))
    assert len(set(thumbnail.getdata())) > 50  # a drawing, not a flat colour

    assert {r.label: r.created for r in demo_seed(plan=PLAN)}["商品图片"] == 0  # a rerun draws nothing


@pytest.mark.django_db
def test_products_seeded_before_pictures_get_them_on_the_next_run():
    demo_seed(plan=PLAN)
    Product.objects.filter(code__in=["SF000001", "SF000002"]).update(image="", thumbnail="")

    results = {r.label: r for r in demo_seed(plan=PLAN)}

    assert (results["商品图片"].created, results["商品图片"].existing) == (2, 238)
    assert not Product.objects.filter(image="").exists()


@pytest.mark.django_db
def test_products_outside_the_demo_shelves_are_left_to_the_admin():
    product = ProductFactory()
    demo_seed(plan=DemoPlan(products=1, suppliers=1, reps=1, customers=1, history_months=0))
    product.refresh_from_db()
    assert not product.image and not product.thumbnail


def test_each_aisle_has_its_own_look():
    assert len(pictures.PALETTES) >= len(AISLES)
    corners = {picture_draw(aisle_index=i, caption="", variant="v").getpixel((2, 2)) for i in range(len(AISLES))}
    assert len(corners) == len(AISLES)


def test_without_a_cjk_font_the_picture_has_no_caption_and_still_draws(monkeypatch):
    monkeypatch.setattr(pictures, "FONT_PATHS", ("/nonexistent/font.ttc",))
    pictures.cjk_font.cache_clear()
    try:
        bare = picture_draw(aisle_index=0, caption="去皮虾仁", variant="v")
    finally:
        pictures.cjk_font.cache_clear()
    captioned = picture_draw(aisle_index=0, caption="去皮虾仁", variant="v")
    assert bare.size == captioned.size == (320, 320)
    if pictures.cjk_font(10) is not None:  # a machine with the font: the caption is what differs
        assert bare.tobytes() != captioned.tobytes()


def test_a_kind_is_found_in_the_name_and_the_shelf_stands_in_otherwise():
    forms = ["去皮虾仁", "虾仁"]
    assert picture_subject(forms=forms, shelf="虾仁", name="国联 去皮虾仁 大号 1kg/袋") == "去皮虾仁"
    assert picture_subject(forms=forms, shelf="红虾/甜虾", name="某种新品") == "红虾"


@pytest.mark.django_db
def test_an_uploaded_picture_gets_its_thumbnail(admin_client):
    product = ProductFactory()
    buffer = BytesIO()
    Image.new("RGB", (800, 600), (200, 80, 60)).save(buffer, "PNG")
    data = {field: getattr(product, field) for field in ("code", "name", "spec", "unit", "price", "storage",
                                                          "origin", "min_quantity", "step_quantity", "sort_order")}
    data.update(category=product.category_id, is_active="on", purchase_factor="1",
                image=SimpleUploadedFile("photo.png", buffer.getvalue(), content_type="image/png"))
    response = admin_client.post(f"/admin/catalog/product/{product.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    product.refresh_from_db()
    assert _open(product.thumbnail.name).size == (160, 160)
    serialized = ProductSerializer(product).data
    assert (serialized["image_url"], serialized["thumbnail_url"]) == (product.image.url, product.thumbnail.url)
