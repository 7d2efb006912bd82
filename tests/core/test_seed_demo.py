from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum

from catalog.models import Category, Product
from catalog.search import build_search_key
from core.demo import DemoPlan, demo_seed
from core.demo.catalog import product_specs
from core.demo.catalog_data import AISLES
from core.demo.people import customer_specs, rep_specs
from core.demo.places_data import DISTRICTS, LAT_MAX, LAT_MIN, LNG_MAX, LNG_MIN
from customers.models import Customer
from logistics.models import Stock, StockMove, Supplier
from logistics.selectors import stock_ledger_drift
from reps.models import Rep
from tests.factories import ProductFactory, RepFactory

# Small enough to run in a second or two, big enough for every kind of row to appear.
SMALL = DemoPlan(products=240, suppliers=5, reps=3, customers=300)
CATEGORY_COUNT = len(AISLES) + sum(len(shelves) for _, _, shelves in AISLES)


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (Category, Product, Stock, StockMove, Supplier, Rep, Customer, get_user_model())
    }


@pytest.mark.django_db
def test_seed_demo_creates_every_kind_of_row_at_the_requested_scale():
    output = seed(scale=0.05)

    assert counts() == {
        "Category": CATEGORY_COUNT,
        "Product": 150,
        "Stock": 150,
        "StockMove": Stock.objects.filter(on_hand__gt=0).count(),
        "Supplier": 2,
        "Rep": 1,
        "Customer": 250,
        "User": 2,  # admin and rep01
    }
    assert 36 <= CATEGORY_COUNT <= 50
    assert Category.objects.filter(parent__isnull=True).count() == len(AISLES)
    assert not Category.objects.filter(parent__parent__isnull=False).exists()  # two levels only
    assert not Product.objects.filter(category__parent__isnull=True).exists()  # products sit on shelves
    assert "商品：新增 150，已存在 0（" in output

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password("admin12345")
    rep = Rep.objects.select_related("user").get()
    assert rep.user.username == "rep01"
    assert rep.user.check_password("rep12345")
    assert list(rep.user.groups.values_list("name", flat=True)) == ["业务员"]
    assert rep.territory in DISTRICTS


@pytest.mark.django_db
def test_rerun_with_the_same_seed_adds_nothing_and_changes_nothing():
    demo_seed(plan=SMALL)
    before = counts()
    product_rows = Product.objects.order_by("code").values_list("code", "name", "price", "default_supplier__name")
    customer_rows = Customer.objects.order_by("phone").values_list("phone", "name", "latitude", "rep__key")
    products, customers = list(product_rows), list(customer_rows)

    results = demo_seed(plan=SMALL)

    assert [r.created for r in results] == [0] * len(results)
    assert counts() == before
    assert list(product_rows.all()) == products  # .all(): a fresh query, not the cached rows
    assert list(customer_rows.all()) == customers


@pytest.mark.django_db
def test_rerun_recreates_only_what_is_missing():
    demo_seed(plan=SMALL)
    deleted = sorted(Customer.objects.order_by("phone").values_list("phone", flat=True)[:5])
    Customer.objects.filter(phone__in=deleted).delete()

    results = {r.label: r for r in demo_seed(plan=SMALL)}

    assert (results["客户"].created, results["客户"].existing) == (5, 295)
    assert Customer.objects.filter(phone__in=deleted).count() == 5
    assert Customer.objects.count() == 300


@pytest.mark.django_db
def test_a_larger_scale_adds_only_the_difference():
    demo_seed(plan=SMALL)
    customers = list(Customer.objects.order_by("phone").values_list("phone", "name", "rep__key"))

    results = {r.label: r.created for r in demo_seed(plan=DemoPlan(products=300, suppliers=6, reps=4, customers=360))}

    assert results == {"管理员": 0, "分类": 0, "供应商": 1, "商品": 60, "库存": 60, "业务员": 1, "客户": 60}
    assert Product.objects.count() == Stock.objects.count() == 300
    assert set(customers) <= set(Customer.objects.values_list("phone", "name", "rep__key"))
    assert stock_ledger_drift() == []


def test_generation_is_deterministic_for_a_seed():
    other = DemoPlan(products=240, suppliers=5, reps=3, customers=300, seed=7)
    same = DemoPlan(products=240, suppliers=5, reps=3, customers=300)

    assert list(product_specs(SMALL)) == list(product_specs(same))
    assert list(customer_specs(SMALL)) == list(customer_specs(SMALL))
    assert rep_specs(SMALL) == rep_specs(SMALL)
    assert [p.name for p in product_specs(other)] != [p.name for p in product_specs(SMALL)]
    assert [c.phone for c in customer_specs(other)] != [c.phone for c in customer_specs(SMALL)]


def test_scale_sets_the_volumes():
    assert DemoPlan.for_scale(1) == DemoPlan(products=3000, suppliers=30, reps=10, customers=5000)
    plan = DemoPlan.for_scale(10, seed=5)
    assert (plan.products, plan.suppliers, plan.reps, plan.customers, plan.seed) == (30000, 300, 100, 50000, 5)


def test_names_and_phones_are_distinct_at_full_scale():
    plan = DemoPlan.for_scale(1)
    names = [p.name for p in product_specs(plan)]
    phones = [c.phone for c in customer_specs(plan)]

    assert len(set(names)) == len(names) == 3000
    assert len(set(phones)) == len(phones) == 5000
    assert all(len(phone) == 11 and phone.isdigit() and phone[0] == "1" for phone in phones)
    assert sum("虾仁" in name for name in names) >= 20


@pytest.mark.django_db
def test_if_empty_does_nothing_when_products_exist():
    ProductFactory()
    before = counts()

    output = seed(scale=0.05, if_empty=True)

    assert output.strip() == "已有商品数据，跳过生成演示数据。"
    assert counts() == before


@pytest.mark.django_db
def test_if_empty_seeds_an_empty_database():
    seed(scale=0.02, if_empty=True)

    assert Product.objects.count() == 60
    assert Customer.objects.count() == 100


@pytest.mark.django_db
def test_scale_must_be_positive():
    with pytest.raises(CommandError):
        seed(scale=0)
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_every_product_has_opening_stock_equal_to_its_ledger():
    demo_seed(plan=SMALL)

    assert Stock.objects.count() == Product.objects.count() == 240
    assert stock_ledger_drift() == []
    ledger = dict(StockMove.objects.values_list("stock__product_id").annotate(total=Sum("on_hand_delta")))
    for product_id, on_hand, reserved in Stock.objects.values_list("product_id", "on_hand", "reserved"):
        assert on_hand == ledger.get(product_id, Decimal("0"))
        assert reserved == 0
    assert set(StockMove.objects.values_list("kind", flat=True)) == {StockMove.Kind.OPENING}
    assert not StockMove.objects.filter(on_hand_delta__lte=0).exists()
    zero = Stock.objects.filter(on_hand=0).count()
    assert 0 < zero < 40  # about 5% out of stock
    assert StockMove.objects.values("stock").annotate(n=Count("id")).filter(n__gt=1).count() == 0


@pytest.mark.django_db
def test_products_are_plausible():
    demo_seed(plan=SMALL)
    products = list(Product.objects.all())

    assert {p.unit for p in products} >= {"斤", "箱", "袋", "盒"}
    assert all(p.price > 0 and p.price == p.price.quantize(Decimal("0.01")) for p in products)
    assert all(p.default_supplier_id for p in products)
    assert all(p.search_key == build_search_key(name=p.name, code=p.code) for p in products)
    assert [p.code for p in sorted(products, key=lambda p: p.code)][:2] == ["SF000001", "SF000002"]
    assert {p.storage for p in products} >= {Product.Storage.FROZEN, Product.Storage.CHILLED}
    frozen = sum(p.storage == Product.Storage.FROZEN for p in products)
    assert frozen > len(products) / 2


@pytest.mark.django_db
def test_catch_weight_products_have_nominal_weight():
    demo_seed(plan=SMALL)
    catch_weight = list(Product.objects.filter(catch_weight=True))
    by_jin = list(Product.objects.filter(unit=Product.Unit.JIN))

    assert len(catch_weight) >= 20
    assert all(p.nominal_weight and p.nominal_weight > 0 for p in catch_weight)
    assert by_jin and all(p.catch_weight and p.nominal_weight == Decimal("1.00") for p in by_jin)
    assert all(p.step_quantity == Decimal("0.50") for p in by_jin)
    assert not Product.objects.filter(catch_weight=False, nominal_weight__isnull=False).exists()


@pytest.mark.django_db
def test_pinyin_initials_find_seeded_shrimp_meat():
    demo_seed(plan=SMALL)

    found = list(Product.objects.search("xr").values_list("name", flat=True))

    assert any("虾仁" in name for name in found)
    assert set(Product.objects.filter(name__contains="虾仁").values_list("name", flat=True)) <= set(found)


@pytest.mark.django_db
def test_places_are_inside_shenzhen_and_customers_belong_to_their_districts_reps():
    demo_seed(plan=SMALL)
    customers = list(Customer.objects.select_related("rep"))
    suppliers = list(Supplier.objects.all())

    for place in customers + suppliers:
        assert LAT_MIN <= place.latitude <= LAT_MAX, place
        assert LNG_MIN <= place.longitude <= LNG_MAX, place
    assert {c.district for c in customers} <= set(DISTRICTS)
    assert len({c.district for c in customers}) >= 6
    assert all(c.address.startswith(f"深圳市{c.district}") for c in customers)
    territories = set(Rep.objects.values_list("territory", flat=True))
    assert all(c.rep is not None for c in customers)
    assert all(c.rep.territory == c.district for c in customers if c.district in territories)
    assert Customer.objects.values("phone").annotate(n=Count("id")).filter(n__gt=1).count() == 0


@pytest.mark.django_db
def test_demo_links_prints_the_first_active_reps_entry_url():
    RepFactory(name="李四", key="BBBB")
    RepFactory(name="张三", key="CCCC")
    RepFactory(name="阿甘", key="AAAA", is_active=False)
    out = StringIO()

    call_command("demo_links", entry=True, host="example.test:8000", stdout=out)

    first = Rep.objects.filter(is_active=True).order_by("name", "id").first()
    assert out.getvalue() == f"http://example.test:8000/shop/?scene=r%3D{first.key}&launch_scene=1047\n"


@pytest.mark.django_db
def test_demo_links_lists_reps_admin_and_api_docs():
    demo_seed(plan=SMALL)
    out = StringIO()

    call_command("demo_links", stdout=out)

    text = out.getvalue()
    for rep in Rep.objects.all():
        assert f"http://127.0.0.1:8000/shop/?scene=r%3D{rep.key}&launch_scene=1047" in text
    assert "http://127.0.0.1:8000/admin/" in text and "admin12345" in text
    assert "http://127.0.0.1:8000/api/docs/" in text


@pytest.mark.django_db
def test_demo_links_without_reps_fails_clearly():
    RepFactory(key="AAAA", is_active=False)
    out = StringIO()

    with pytest.raises(CommandError, match="seed_demo"):
        call_command("demo_links", entry=True, stdout=out)
    assert out.getvalue() == ""
