"""我的常购's fast read (usuals.list_read): the same bytes as the reference view (usuals.api.UsualListApi,
which ranks with the pure rule `rank_usuals`) on known and generated histories, the same errors, and
one statement whatever the history's length."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import PriceList, PriceListEntry, Product
from catalog.cache import catalog_changed
from customers.models import Visitor
from customers.tokens import visitor_token_make
from logistics.models import Stock
from orders.models import Order, OrderLine
from tests.factories import CategoryFactory, CustomerFactory, SubCategoryFactory, VisitorFactory, product_with_stock
from tests.usuals.test_usuals import client_for, paid_order
from usuals.api import UsualListApi
from usuals import list_read
from usuals.list_read import usual_list_body
from usuals.models import UsualHistory, UsualMark, UsualSettings

pytestmark = pytest.mark.django_db
D = Decimal
URL = "/api/v1/usuals"


def reference(visitor) -> bytes:
    """What the DRF view (the rule: usuals.selectors.usual_list + ProductSerializer) answers."""
    request = RequestFactory().get(URL, HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    response = UsualListApi.as_view()(request)
    response.render()
    assert response.status_code == 200
    return response.content


def assert_same(visitor):
    """The fast path answers over HTTP, and its body alone, exactly the reference's bytes: once
    from what it counts and stores, and again from what it kept (the count, the product rows)."""
    expected = reference(visitor)
    fast = client_for(visitor).get(URL)
    assert fast.status_code == 200 and fast["Allow"] == "GET, HEAD, OPTIONS" and not fast.has_header("Vary")
    assert fast.content == expected
    assert usual_list_body(visitor_id=visitor.pk).encode() == expected  # the fast path itself
    list_read.forget_heads()
    assert usual_list_body(visitor_id=visitor.pk).encode() == expected  # product rows read afresh
    return fast.json()["items"]


@pytest.fixture
def history():
    """A restaurant's known history touching every rule of the list."""
    aisle = CategoryFactory(name="冻品")
    shelf = SubCategoryFactory(parent=aisle, name="虾类")
    closed_shelf = SubCategoryFactory(parent=aisle, name="贝类", is_active=False)
    other_shelf = SubCategoryFactory(parent=aisle, name="鱼类")
    dry = CategoryFactory(name="干货")  # a top-level category: no parent
    closed_aisle = CategoryFactory(name="停售区", is_active=False)
    under_closed = SubCategoryFactory(parent=closed_aisle, name="停售架")

    def make(name, category, *, on_hand="100", price="20.00", **kwargs):
        return product_with_stock(name=name, category=category, on_hand=on_hand, price=price, min_quantity="2",
                                  step_quantity="0.5", **kwargs)

    p = {name: make(name, category) for name, category in [
        ("虾滑", shelf), ("肥牛卷", shelf), ("b鱿鱼", other_shelf), ("B鱿鱼", other_shelf), ("鱿鱼", other_shelf),
        ("帝王蟹", shelf), ("鲍鱼", other_shelf), ("扇贝", shelf), ("蛏子", closed_shelf), ("干贝", dry),
        ("停售虾", under_closed), ("带鱼段", other_shelf), ("黄花鱼", other_shelf), ("龙虾", shelf),
        ("远古鱼", other_shelf), ("取消鱼", other_shelf), ("未付鱼", other_shelf)]}
    p["海参"] = Product.objects.create(code="NOSTOCK1", name="海参", category=dry, price=D("88.80"),
                                       min_quantity=D("1"), step_quantity=D("1"))  # no stock row at all
    Stock.objects.filter(product=p["带鱼段"]).update(on_hand=D("0"))
    Product.objects.filter(pk=p["黄花鱼"].pk).update(is_active=False)
    p["龙虾"].image.save("lobster.jpg", ContentFile(b"not really a jpeg"), save=True)
    Product.objects.filter(pk=p["肥牛卷"].pk).update(catch_weight=True, nominal_weight=D("1.5"))

    customer = CustomerFactory(name="火锅城")
    visitor = VisitorFactory(customer=customer, phone=customer.phone)
    for days, quantity in [(1, "2"), (8, "3"), (15, "3"), (22, "10"), (29, "3.7")]:
        paid_order(customer, [(p["虾滑"], quantity), (p["扇贝"], "1")], days_ago=days)
    for days in (2, 9, 16):
        paid_order(customer, [(p["肥牛卷"], "2.5"), (p["带鱼段"], "4"), (p["黄花鱼"], "2")], days_ago=days)
    # Same orders, same last purchase: the tie goes to the name, in code-point order (B < b < 鱿).
    for days in (30, 40):
        paid_order(customer, [(p["b鱿鱼"], "2"), (p["B鱿鱼"], "2"), (p["鱿鱼"], "2"), (p["蛏子"], "3"),
                              (p["干贝"], "1"), (p["停售虾"], "2"), (p["海参"], "1"), (p["龙虾"], "1")], days_ago=days)
    paid_order(customer, [(p["鲍鱼"], "1")], days_ago=60)
    paid_order(customer, [(p["远古鱼"], "5")], days_ago=100)  # outside the 90 days
    paid_order(customer, [(p["取消鱼"], "2")], days_ago=3, status=Order.Status.CANCELLED)
    paid_order(customer, [(p["未付鱼"], "2")], days_ago=3, status=Order.Status.PENDING_PAYMENT, paid=False)
    UsualMark.objects.create(customer=customer, product=p["帝王蟹"], state=UsualMark.State.PINNED)  # never bought
    UsualMark.objects.create(customer=customer, product=p["鲍鱼"], state=UsualMark.State.PINNED)
    UsualMark.objects.create(customer=customer, product=p["扇贝"], state=UsualMark.State.HIDDEN)

    # Another restaurant's history in the same tables changes nothing.
    other = CustomerFactory()
    paid_order(other, [(p["远古鱼"], "9"), (p["扇贝"], "9")], days_ago=1)
    UsualMark.objects.create(customer=other, product=p["虾滑"], state=UsualMark.State.HIDDEN)

    big = PriceList.objects.create(name="大客户价")
    PriceListEntry.objects.create(price_list=big, product=p["虾滑"], price=D("15.00"))
    PriceListEntry.objects.create(price_list=big, category=shelf, percent_off=D("10"))
    PriceListEntry.objects.create(price_list=big, category=aisle, percent_off=D("12.5"))
    PriceListEntry.objects.create(price_list=big, category=dry, percent_off=D("3.33"))
    return customer, visitor, p, big


def test_the_known_history_reads_the_same_as_the_rule(history):
    customer, visitor, p, _ = history
    items = assert_same(visitor)
    assert [(i["product"]["name"], i["pinned"], i["times"], i["problem"]) for i in items] == [
        ("鲍鱼", True, 1, ""), ("帝王蟹", True, 0, ""),
        ("虾滑", False, 5, ""), ("带鱼段", False, 3, "缺货"), ("肥牛卷", False, 3, ""), ("黄花鱼", False, 3, "已下架"),
        ("B鱿鱼", False, 2, ""), ("b鱿鱼", False, 2, ""), ("停售虾", False, 2, "已下架"), ("干贝", False, 2, ""),
        ("海参", False, 2, "缺货"), ("蛏子", False, 2, "已下架"), ("鱿鱼", False, 2, ""), ("龙虾", False, 2, "")]
    assert items[2]["usual_quantity"] == "3.00" and items[1]["usual_quantity"] == "2.00"
    assert items[-1]["product"]["image_url"].endswith(".jpg")


@pytest.mark.parametrize("price_list", ["none", "active", "inactive", "not yet", "expired", "no entries"])
def test_prices_agree_with_the_rule_whatever_the_list(history, price_list):
    customer, visitor, p, big = history
    today = timezone.localdate()
    if price_list == "inactive":
        big.is_active = False
    elif price_list == "not yet":
        big.valid_from = today + timedelta(days=1)
    elif price_list == "expired":
        big.valid_from, big.valid_to = today - timedelta(days=10), today - timedelta(days=1)
    elif price_list == "no entries":
        big.entries.all().delete()
    big.save()
    if price_list != "none":
        customer.price_list = big
        customer.save()
    items = assert_same(visitor)
    prices = {i["product"]["name"]: i["unit_price"] for i in items}
    if price_list == "active":
        assert (prices["虾滑"], prices["肥牛卷"], prices["鱿鱼"], prices["干贝"]) == ("15.00", "18.00", "17.50", "19.33")
    else:
        assert set(prices.values()) == {"20.00", "88.80"}


@pytest.mark.parametrize("settings", [{"window_days": 120}, {"window_days": 7}, {"max_items": 3}, None])
def test_the_settings_row_is_read_as_the_rule_reads_it(history, settings):
    _, visitor, _, _ = history
    if settings is None:
        UsualSettings.objects.all().delete()  # no row: the defaults
    else:
        UsualSettings.objects.update_or_create(pk=1, defaults=settings)
    items = assert_same(visitor)
    if settings == {"max_items": 3}:
        assert len(items) == 3
    if settings == {"window_days": 120}:
        assert "远古鱼" in [i["product"]["name"] for i in items]


def test_generated_histories_read_the_same_as_the_rule():
    rng = random.Random(20261207)
    aisle = CategoryFactory()
    shelves = [SubCategoryFactory(parent=aisle, is_active=rng.random() < 0.8) for _ in range(3)] + [aisle]
    products = [product_with_stock(name=rng.choice(["虾", "鱼", "a", "A", "蟹"]) + str(rng.randint(0, 3)),
                                   category=rng.choice(shelves), on_hand=str(rng.choice([0, 1, 5, 100])),
                                   price=f"{rng.randint(100, 99999) / 100:.2f}", is_active=rng.random() < 0.85,
                                   min_quantity=rng.choice(["1", "0.5", "2"]), step_quantity=rng.choice(["1", "0.5"]))
                for _ in range(40)]
    price_list = PriceList.objects.create(name="连锁店价")
    for product in rng.sample(products, 8):
        PriceListEntry.objects.create(price_list=price_list, product=product, price=D(rng.randint(1, 5000)) / 100)
    for category in rng.sample(shelves, 2):
        PriceListEntry.objects.create(price_list=price_list, category=category, percent_off=D(rng.randint(0, 3000)) / 100)
    UsualSettings.objects.update_or_create(pk=1, defaults={"max_items": 25})
    visitors = []
    for n in range(6):
        customer = CustomerFactory(price_list=price_list if n % 2 else None)
        visitors.append(VisitorFactory(customer=customer))
        habit = rng.sample(products, rng.randint(1, 30))
        for _ in range(rng.randint(1, 12)):
            lines = [(product, str(rng.choice([1, 1.5, 2, 3, 4.5, 7]))) for product in rng.sample(habit, rng.randint(1, len(habit)))]
            paid_order(customer, lines, days_ago=rng.choice([1, 2, 5, 5, 20, 44, 89, 91, 120]),
                       status=rng.choice([Order.Status.DELIVERED] * 4 + [Order.Status.CANCELLED]))
        for product in rng.sample(products, 4):
            UsualMark.objects.get_or_create(customer=customer, product=product,
                                            defaults={"state": rng.choice(["pinned", "hidden"])})
    for visitor in visitors:
        assert_same(visitor)


def test_errors_and_the_unusual_go_to_the_reference_view(history):
    _, visitor, _, _ = history
    no_token = APIClient().get(URL)
    assert no_token.status_code == 401 and set(no_token.json()["error"]) == {"code", "message", "details"}
    forged = APIClient(HTTP_AUTHORIZATION="Visitor forged").get(URL)
    assert forged.status_code == 401 and forged.json()["error"]["message"] == "登录已失效，请重新进入"
    other_scheme = APIClient(HTTP_AUTHORIZATION=f"Bearer {visitor_token_make(visitor.pk)}").get(URL)
    assert other_scheme.status_code == 401
    assert client_for(visitor).post(URL, {}, format="json").status_code == 405
    gone = VisitorFactory()
    token_of_gone = visitor_token_make(gone.pk)
    gone.delete()
    assert APIClient(HTTP_AUTHORIZATION=f"Visitor {token_of_gone}").get(URL).status_code == 401
    assert usual_list_body(visitor_id=gone.pk) is None


def test_a_visitor_without_a_restaurant_or_history_gets_an_empty_list(history):
    for visitor in (VisitorFactory(), VisitorFactory(customer=CustomerFactory())):
        assert client_for(visitor).get(URL).json() == {"items": []}
        assert_same(visitor)


@pytest.mark.parametrize("n", [10, 1000])
def test_one_statement_whatever_the_history(n, django_assert_num_queries):
    """10 or 1,000 order lines (1,000 products bought, the list capped at max_items): one statement."""
    UsualSettings.objects.update_or_create(pk=1, defaults={"max_items": 200})
    shelf = SubCategoryFactory()
    products = Product.objects.bulk_create(
        Product(code=f"Q{n}-{i:05d}", name=f"常购{i}", category=shelf, price=D("10.00"), min_quantity=D("1"),
                step_quantity=D("1")) for i in range(n))
    Stock.objects.bulk_create(Stock(product=product, on_hand=D("5")) for product in products)
    customer = CustomerFactory(price_list=PriceList.objects.create(name="新客价"))
    visitor = VisitorFactory(customer=customer)
    order = paid_order(customer, [], days_ago=1)
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=product, product_code=product.code, product_name=product.name,
                  unit=product.unit, unit_price=product.price, quantity=D("2"), amount=D("20")) for product in products)
    UsualMark.objects.create(customer=customer, product=products[0], state=UsualMark.State.PINNED)
    client = client_for(visitor)
    client.get(URL)  # a new connection prepares the statement once
    with django_assert_num_queries(1):
        response = client.get(URL)
    assert len(response.json()["items"]) == min(n, 200)
    assert Visitor.objects.filter(pk=visitor.pk).exists()


def test_image_names_are_written_as_the_storage_writes_them(history):
    """An image name filepath_to_uri quotes (a space, Chinese, a percent sign), a "." segment, and
    plain ones: the same bytes as the reference (the product rows are `row_head`'s)."""
    _, visitor, p, _ = history
    for name in ("虾 滑.jpg", "a%20b.jpg", "./x.jpg"):
        Product.objects.filter(pk=p["虾滑"].pk).update(image=f"products/{name}")
        catalog_changed()  # what the admin's save does; a raw update shows within PAGE_MAX_AGE_SECONDS
        assert_same(visitor)
    Product.objects.filter(pk=p["虾滑"].pk).update(image="products/x-1_(2).v2.jpg", thumbnail="products/thumbs/t~1.jpg")
    catalog_changed()
    items = assert_same(visitor)
    shrimp = next(i["product"] for i in items if i["product"]["name"] == "虾滑")
    assert (shrimp["image_url"], shrimp["thumbnail_url"]) == ("/media/products/x-1_(2).v2.jpg",
                                                              "/media/products/thumbs/t~1.jpg")


def test_text_and_times_are_written_as_drf_writes_them(history):
    """Quotes, backslashes, control characters and the JavaScript line separators in names; a
    purchase paid on a whole second (isoformat then has no fraction); stock with a fraction."""
    customer, visitor, p, _ = history
    Product.objects.filter(pk=p["虾滑"].pk).update(name='虾"滑\\\u2028\u2029\t\x01/é😀', spec="1\n2", origin="</script>")
    Product.objects.filter(pk=p["龙虾"].pk).update(unit="kg" if "kg" in dict(Product.Unit.choices) else p["龙虾"].unit)
    Stock.objects.filter(product=p["肥牛卷"]).update(on_hand=D("12.50"), reserved=D("0.25"))
    Stock.objects.filter(product=p["鱿鱼"]).update(on_hand=D("100.00"), reserved=D("0"))
    order = Order.objects.filter(customer=customer, paid_at__isnull=False).order_by("-paid_at").first()
    Order.objects.filter(pk=order.pk).update(paid_at=order.paid_at.replace(microsecond=0))
    items = assert_same(visitor)
    labels = {i["product"]["name"]: i["product"]["stock_label"] for i in items}
    assert labels["鱿鱼"].startswith("剩余 100 ") and labels["肥牛卷"].startswith("剩余 12.25 ")
    assert any(i["last_bought"] and "." not in i["last_bought"] for i in items)



def answer(visitor) -> bytes:
    response = client_for(visitor).get(URL)
    assert response.status_code == 200
    return response.content


def test_a_kept_list_answers_in_one_statement_and_every_change_shows_at_once(history, django_assert_num_queries):
    """The worker's kept list and the kept count answer while nothing they were made from changed;
    each change below shows on the very next request, with the reference's bytes."""
    customer, visitor, p, big = history
    customer.price_list = big
    customer.save()
    assert_same(visitor)
    answer(visitor)  # the check statement is prepared on its first use
    expected = reference(visitor)
    with django_assert_num_queries(1):
        assert answer(visitor) == expected

    def changed(what):
        before = answer(visitor)
        what()
        fresh = answer(visitor)
        assert fresh == reference(visitor)
        assert fresh != before
        with django_assert_num_queries(1):  # kept again
            assert answer(visitor) == fresh

    changed(lambda: paid_order(customer, [(p["干贝"], "3")], days_ago=0))  # an order paid
    latest = Order.objects.filter(customer=customer, status=Order.Status.DELIVERED).order_by("-paid_at").first()

    def cancel():
        latest.status = Order.Status.CANCELLED
        latest.save()
    changed(cancel)
    shrimp_order = Order.objects.filter(customer=customer, lines__product=p["虾滑"]).order_by("-paid_at").first()

    def reduce_line():  # as orders.services.changes does: the line, then the order saved
        OrderLine.objects.filter(order=shrimp_order, product=p["虾滑"]).update(quantity=D("9"))
        shrimp_order.save(update_fields=["subtotal", "total", "discount", "updated_at"])
    changed(reduce_line)
    oldest = Order.objects.filter(customer=customer, paid_at__gte=timezone.now() - timedelta(days=90)).earliest("paid_at")
    # Time passes: the oldest order leaves the window (moved back, without touching updated_at).
    changed(lambda: Order.objects.filter(pk=oldest.pk).update(paid_at=timezone.now() - timedelta(days=91)))
    changed(lambda: UsualMark.objects.create(customer=customer, product=p["鱿鱼"], state=UsualMark.State.PINNED))
    changed(lambda: UsualMark.objects.filter(customer=customer, product=p["鲍鱼"]).delete())
    changed(lambda: UsualSettings.objects.update_or_create(pk=1, defaults={"max_items": 5}))
    changed(lambda: UsualSettings.objects.update_or_create(pk=1, defaults={"window_days": 30, "max_items": 50}))

    def rename():
        p["虾滑"].name = "精品虾滑"
        p["虾滑"].save()
    changed(rename)

    def reprice():  # as the admin's inline saves it
        entry = PriceListEntry.objects.get(price_list=big, product=p["虾滑"])
        entry.price = D("14.50")
        entry.save()
    changed(reprice)
    changed(lambda: PriceListEntry.objects.filter(price_list=big, category__parent__isnull=False).delete())

    def list_ends():
        big.valid_to = timezone.localdate() - timedelta(days=1)
        big.valid_from = None
        big.save()
    changed(list_ends)
    changed(lambda: Stock.objects.filter(product=p["肥牛卷"]).update(on_hand=D("0")))

    def other_visitor_binds():  # the same visitor now orders for another restaurant
        visitor.customer = CustomerFactory()
        visitor.save()
    changed(other_visitor_binds)


def test_the_kept_count_is_read_under_its_fingerprint_and_for_a_while_only(history):
    """What the statement stores is what it reads back (a count altered in place shows, proving it
    is read), under the fingerprint only, and never after HISTORY_TTL_SECONDS."""
    customer, visitor, p, _ = history
    expected = reference(visitor)
    assert answer(visitor) == expected
    kept = UsualHistory.objects.get(customer=customer)
    assert kept.window_days == 90 and kept.orders == 11 and len(kept.bought) == 14
    shrimp = next(row for row in kept.bought if row["product_id"] == p["虾滑"].pk)
    assert shrimp["times"] == 5 and D(str(shrimp["median"])) == D("3")
    shrimp["times"] = 99
    UsualHistory.objects.filter(pk=customer.pk).update(bought=kept.bought)
    list_read.forget_heads()  # no kept list in this worker: the statement reads the kept count
    tampered = client_for(visitor).get(URL).json()["items"]
    assert next(i["times"] for i in tampered if i["product"]["id"] == p["虾滑"].pk) == 99
    UsualHistory.objects.filter(pk=customer.pk).update(
        counted_at=timezone.now() - timedelta(seconds=list_read.HISTORY_TTL_SECONDS + 1))
    list_read.forget_heads()
    assert answer(visitor) == expected  # too old: counted again
    assert UsualHistory.objects.get(customer=customer).counted_at > timezone.now() - timedelta(seconds=60)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_readers_counting_at_once_store_one_count():
    """Eight readers of a restaurant with no kept count, at once on their own connections: each
    answers the reference's bytes and one count is kept (the upsert queues them, never an error)."""
    from tests.concurrency import run_in_threads

    shelf = SubCategoryFactory()
    products = [product_with_stock(category=shelf, name=f"常购{i}") for i in range(6)]
    customer = CustomerFactory()
    visitor = VisitorFactory(customer=customer)
    for days in range(1, 9):
        paid_order(customer, [(product, str(days % 3 + 1)) for product in products[: days % 6 + 1]], days_ago=days)
    expected = reference(visitor)
    bodies = run_in_threads(8, lambda index: usual_list_body(visitor_id=visitor.pk).encode())
    assert bodies == [expected] * 8
    assert UsualHistory.objects.filter(customer=customer).count() == 1


def test_a_change_that_bypasses_the_orm_shows_within_the_page_age(history):
    """A raw write (a queryset's update of an entry or a product) moves no fingerprint: the kept
    list answers until it is PAGE_MAX_AGE_SECONDS old, as the catalogue's pages do."""
    import time_machine

    from catalog.listing import PAGE_MAX_AGE_SECONDS

    customer, visitor, p, big = history
    customer.price_list = big
    customer.save()
    before = answer(visitor)
    PriceListEntry.objects.filter(price_list=big, product=p["虾滑"]).update(price=D("14.50"))
    Product.objects.filter(pk=p["肥牛卷"].pk).update(name="雪花肥牛卷")
    assert answer(visitor) == before
    with time_machine.travel(timezone.now() + timedelta(seconds=PAGE_MAX_AGE_SECONDS + 1)):
        fresh = answer(visitor)
        assert fresh != before and fresh == reference(visitor)


def test_counts_no_read_uses_are_deleted_nightly(history):
    from usuals.tasks import lost_items_sweep_task

    customer, visitor, _, _ = history
    expected = answer(visitor)
    assert list_read.forget_old_counts() == 0 and UsualHistory.objects.filter(customer=customer).exists()
    UsualHistory.objects.filter(customer=customer).update(
        counted_at=timezone.now() - timedelta(seconds=list_read.HISTORY_TTL_SECONDS))
    assert lost_items_sweep_task()["counts_forgotten"] == 1
    assert not UsualHistory.objects.exists()
    list_read.forget_heads()
    assert answer(visitor) == expected and UsualHistory.objects.filter(customer=customer).exists()  # counted again
