import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Cart, CartLine, Product
from customers.models import Visitor
from logistics.models import Stock, StockMove
from tests.factories import (
    CategoryFactory, CustomerFactory, ProductFactory, RepFactory, StockFactory, SubCategoryFactory, SupplierFactory,
    VisitorFactory, product_with_stock,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/catalog/product/"
IMPORT_URL = "/admin/catalog/product/import/"
EXPORT_URL = "/admin/catalog/product/export/"


def staff_with(*codenames) -> User:
    user = User.objects.create_user("clerk", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="catalog", codename__in=codenames))
    return user


def snapshot():
    return list(Product.objects.order_by("code").values_list("code", "name", "price", "is_active", "updated_at"))


def queries_of_one_row_page(client, url, make_row) -> int:
    """The queries of a list page showing one row: the bound the same page must keep with many.

    Measured rather than written down, because every app's admin adds to the sidebar's queries.
    """
    make_row(0)
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


# --- Product changelist ---


@pytest.mark.parametrize("n", [10, 100])
def test_product_changelist_runs_a_bounded_number_of_queries(admin_client, django_assert_max_num_queries, n):
    supplier = SupplierFactory()

    def make_row(i):
        # Each product on its own shelf, half with stock: the category filter and stock column must not N+1.
        if i % 2:
            product_with_stock(on_hand="7", default_supplier=supplier)
        else:
            ProductFactory(default_supplier=supplier)

    bound = queries_of_one_row_page(admin_client, CHANGELIST, make_row)
    for i in range(1, n):
        make_row(i)

    with django_assert_max_num_queries(bound):
        response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == n
    assert bound <= 10  # session, user, 3 filters, 2 counts, the page (+ other apps' sidebar checks)


def test_product_changelist_shows_available_stock(admin_client):
    product = product_with_stock(on_hand="12", code="XR-001")
    Stock.objects.filter(product=product).update(reserved=Decimal("4.5"))
    ProductFactory(code="NO-STOCK")

    response = admin_client.get(CHANGELIST, {"o": "7"})  # ordered by the available-stock column

    rows = {p.code: p for p in response.context["cl"].result_list}
    html = response.content.decode()
    assert '<td class="field-stock_available">7.5</td>' in html
    assert '<td class="field-stock_available">0</td>' in html
    assert set(rows) == {"XR-001", "NO-STOCK"}


def test_product_search_finds_pinyin_initials_and_codes(admin_client):
    ProductFactory(name="冻虾仁", code="A-1")
    ProductFactory(name="冻带鱼段", code="B-2")

    by_initials = admin_client.get(CHANGELIST, {"q": "xr"})
    by_code = admin_client.get(CHANGELIST, {"q": "b-2"})

    assert [p.code for p in by_initials.context["cl"].result_list] == ["A-1"]
    assert [p.code for p in by_code.context["cl"].result_list] == ["B-2"]


def test_product_top_category_filter_includes_its_shelves(admin_client):
    shrimp = CategoryFactory(name="冻虾类")
    ProductFactory(code="A-1", category=SubCategoryFactory(parent=shrimp))
    ProductFactory(code="A-2", category=SubCategoryFactory(parent=shrimp))
    ProductFactory(code="B-1")

    response = admin_client.get(CHANGELIST, {"top_category": shrimp.pk})
    garbage = admin_client.get(CHANGELIST, {"top_category": "x'"})

    assert sorted(p.code for p in response.context["cl"].result_list) == ["A-1", "A-2"]
    assert garbage.status_code == 200 and list(garbage.context["cl"].result_list) == []


def test_price_and_sale_status_are_edited_in_the_list(admin_client):
    product = ProductFactory(name="冻虾仁", price=Decimal("25.00"), is_active=True)
    search_key = product.search_key

    response = admin_client.post(CHANGELIST, {
        "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(product.pk), "form-0-price": "26.80", "_save": "保存",
    })

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.price, product.is_active, product.search_key) == (Decimal("26.80"), False, search_key)


def test_list_edit_refuses_a_zero_price(admin_client):
    product = ProductFactory(price=Decimal("25.00"))

    response = admin_client.post(CHANGELIST, {
        "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(product.pk), "form-0-price": "0", "form-0-is_active": "on", "_save": "保存",
    })

    assert response.status_code == 200
    product.refresh_from_db()
    assert product.price == Decimal("25.00")


@pytest.mark.parametrize("action, is_active", [("take_off_sale", False), ("put_on_sale", True)])
def test_sale_actions(admin_client, action, is_active):
    chosen = ProductFactory.create_batch(2, is_active=not is_active)
    other = ProductFactory(is_active=not is_active)

    response = admin_client.post(CHANGELIST, {"action": action, "_selected_action": [p.pk for p in chosen]})

    assert response.status_code == 302
    assert set(Product.objects.filter(is_active=is_active).values_list("pk", flat=True)) == {p.pk for p in chosen}
    other.refresh_from_db()
    assert other.is_active is not is_active


def test_changelist_links_to_import_and_export_by_permission(client):
    client.force_login(staff_with("view_product"))

    html = client.get(CHANGELIST).content.decode()

    assert EXPORT_URL in html
    assert IMPORT_URL not in html


# --- CSV import and export through the admin ---


@pytest.fixture
def shelf():
    return SubCategoryFactory(parent=CategoryFactory(name="冻虾类"), name="虾仁")


def test_import_page_documents_the_columns(admin_client):
    response = admin_client.get(IMPORT_URL)

    html = response.content.decode()
    assert response.status_code == 200
    for code in ("code", "name", "category", "unit", "price", "catch_weight", "nominal_weight", "sort_order"):
        assert f"<code>{code}</code>" in html


def test_import_of_a_bad_file_shows_every_error_and_imports_nothing(admin_client, shelf):
    ProductFactory(code="XR-001", price=Decimal("30.00"), category=shelf)
    before = snapshot()
    content = (
        "code,name,category,unit,price\r\n"
        "XR-001,冻虾仁,冻虾类/虾仁,袋,31.00\r\n"
        "XR-002,冻虾仁中,冻虾类/虾仁,袋,0\r\n"
        "XR-003,冻虾仁小,冻虾类/龙虾,袋,20\r\n"
    ).encode("gbk")

    response = admin_client.post(IMPORT_URL, {"file": SimpleUploadedFile("p.csv", content)})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<tr><td>3</td><td>单价（price）</td><td>单价必须大于 0</td></tr>" in html
    assert "<tr><td>4</td><td>分类（category）</td><td>分类「冻虾类/龙虾」不存在，请先在后台建好分类</td></tr>" in html
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["未导入任何数据：2 行数据有误，请改正后重新上传整个文件"]
    assert snapshot() == before


def test_import_of_a_good_file_redirects_with_counts(admin_client, shelf):
    ProductFactory(code="XR-001", price=Decimal("30.00"), category=shelf)
    content = "\ufeffcode,name,category,unit,price\r\nXR-001,冻虾仁,冻虾类/虾仁,袋,31\r\nXR-002,虾仁中,冻虾类/虾仁,斤,20\r\n"

    response = admin_client.post(IMPORT_URL, {"file": SimpleUploadedFile("p.csv", content.encode())})

    assert response.status_code == 302 and response.url == CHANGELIST
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["导入成功：共 2 行，新增 1 个，更新 1 个，未变化 0 个"]
    assert dict(Product.objects.values_list("code", "price")) == {
        "XR-001": Decimal("31.00"), "XR-002": Decimal("20.00"),
    }


def test_import_of_an_unreadable_file_shows_why(admin_client):
    response = admin_client.post(IMPORT_URL, {"file": SimpleUploadedFile("p.xlsx", b"PK\x03\x04\x00\x00rest")})

    assert response.status_code == 200
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "这不是 CSV 文本文件（Excel 表格请先“另存为 CSV”再导入），未导入任何数据"
    ]
    assert Product.objects.count() == 0


@pytest.mark.parametrize("codenames", [("view_product",), ("view_product", "change_product"), ("add_product",)])
def test_import_needs_add_and_change_permission(client, shelf, codenames):
    client.force_login(staff_with(*codenames))
    content = "code,name,category,unit,price\r\nXR-9,虾,冻虾类/虾仁,斤,5\r\n".encode()

    assert client.get(IMPORT_URL).status_code == 403
    assert client.post(IMPORT_URL, {"file": SimpleUploadedFile("p.csv", content)}).status_code == 403
    assert Product.objects.count() == 0


def test_import_works_with_add_and_change_permission(client, shelf):
    client.force_login(staff_with("add_product", "change_product"))
    content = "code,name,category,unit,price\r\nXR-9,虾,冻虾类/虾仁,斤,5\r\n".encode()

    response = client.post(IMPORT_URL, {"file": SimpleUploadedFile("p.csv", content)})

    assert response.status_code == 302
    assert Product.objects.get().code == "XR-9"


def test_export_returns_csv_with_bom(admin_client, shelf):
    ProductFactory(code="XR-1", name="冻虾仁", category=shelf, price=Decimal("45.80"), sort_order=1)
    ProductFactory(code="XR-2", name="冻虾仁, 大", category=shelf, price=Decimal("50"), sort_order=2)

    response = admin_client.get(EXPORT_URL)

    content = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="products-')
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["code", "name", "category", "spec", "unit", "price"]
    assert [row[:3] + row[5:6] for row in rows[1:]] == [
        ["XR-1", "冻虾仁", "冻虾类/虾仁", "45.80"],
        ["XR-2", "冻虾仁, 大", "冻虾类/虾仁", "50.00"],
    ]


def test_export_needs_view_permission(client):
    client.force_login(staff_with("add_product"))

    assert client.get(EXPORT_URL).status_code == 403


def test_export_is_for_staff_only(client):
    assert client.get(EXPORT_URL).status_code == 302  # to the admin login


# --- Category admin ---


def test_category_changelist_is_a_tree_with_editable_order(admin_client, django_assert_max_num_queries):
    fish = CategoryFactory(name="冻鱼类", sort_order=2)
    shrimp = CategoryFactory(name="冻虾类", sort_order=1)
    SubCategoryFactory(parent=fish, name="带鱼", sort_order=1)
    SubCategoryFactory(parent=shrimp, name="整虾", sort_order=2)
    meat = SubCategoryFactory(parent=shrimp, name="虾仁", sort_order=1)
    ProductFactory.create_batch(3, category=meat)

    response = admin_client.get("/admin/catalog/category/")

    rows = [(str(c), getattr(c, "product_count")) for c in response.context["cl"].result_list]
    assert rows == [("冻虾类", 0), ("冻虾类 / 虾仁", 3), ("冻虾类 / 整虾", 0), ("冻鱼类", 0), ("冻鱼类 / 带鱼", 0)]
    assert set(response.context["cl"].list_editable) == {"sort_order", "is_active"}


def test_top_level_category_page_edits_its_shelves_inline(admin_client):
    shrimp = CategoryFactory(name="冻虾类")
    meat = SubCategoryFactory(parent=shrimp, name="虾仁", sort_order=5)

    response = admin_client.post(f"/admin/catalog/category/{shrimp.pk}/change/", {
        "name": "冻虾类", "sort_order": "1", "is_active": "on",
        "children-TOTAL_FORMS": "2", "children-INITIAL_FORMS": "1", "children-MIN_NUM_FORMS": "0",
        "children-MAX_NUM_FORMS": "1000",
        "children-0-id": str(meat.pk), "children-0-parent": str(shrimp.pk), "children-0-name": "虾仁",
        "children-0-sort_order": "2", "children-0-is_active": "on",
        "children-1-parent": str(shrimp.pk), "children-1-name": "整虾", "children-1-sort_order": "1",
        "children-1-is_active": "on",
    })

    assert response.status_code == 302
    assert list(shrimp.children.order_by("sort_order").values_list("name", "sort_order")) == [("整虾", 1), ("虾仁", 2)]


def test_category_autocomplete_for_products_offers_only_shelves(admin_client):
    shrimp = CategoryFactory(name="冻虾类")
    SubCategoryFactory(parent=shrimp, name="虾仁")
    CategoryFactory(name="冻虾调料")  # a top-level category without shelves takes products too

    response = admin_client.get("/admin/autocomplete/", {
        "term": "虾", "app_label": "catalog", "model_name": "product", "field_name": "category",
    })

    assert sorted(r["text"] for r in response.json()["results"]) == ["冻虾类 / 虾仁", "冻虾调料"]


# --- Other apps' admin: read-only stock and ledger, counts without N+1 ---


def test_stock_cannot_be_added_changed_or_deleted(admin_client):
    stock = StockFactory(on_hand=Decimal("10"))
    detail = f"/admin/logistics/stock/{stock.pk}/change/"

    assert admin_client.get("/admin/logistics/stock/add/").status_code == 403
    assert admin_client.get(detail).status_code == 200  # shown, read-only
    assert admin_client.post(detail, {"on_hand": "999", "reserved": "0"}).status_code == 403
    assert admin_client.post(f"/admin/logistics/stock/{stock.pk}/delete/", {"post": "yes"}).status_code == 403
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (Decimal("10"), Decimal("0"))


def test_stock_move_ledger_is_read_only(admin_client):
    stock = StockFactory(on_hand=Decimal("10"))
    move = stock.moves.get()
    detail = f"/admin/logistics/stockmove/{move.pk}/change/"

    assert admin_client.get("/admin/logistics/stockmove/add/").status_code == 403
    assert admin_client.post(detail, {"kind": "receipt", "on_hand_delta": "999"}).status_code == 403
    assert admin_client.post(f"/admin/logistics/stockmove/{move.pk}/delete/", {"post": "yes"}).status_code == 403
    move.refresh_from_db()
    assert (move.kind, move.on_hand_delta) == (StockMove.Kind.OPENING, Decimal("10"))


def test_stock_move_search_by_product_code_and_filter_by_kind(admin_client):
    StockFactory(product=ProductFactory(code="XR-1"), on_hand=Decimal("5"))
    StockFactory(product=ProductFactory(code="DY-1"), on_hand=Decimal("6"))

    found = admin_client.get("/admin/logistics/stockmove/", {"q": "XR-1", "kind__exact": "opening"})
    none = admin_client.get("/admin/logistics/stockmove/", {"kind__exact": "receipt"})

    assert [m.on_hand_delta for m in found.context["cl"].result_list] == [Decimal("5")]
    assert list(none.context["cl"].result_list) == []


def test_visitor_cannot_be_added_or_changed(admin_client):
    visitor = VisitorFactory(nickname="老王")

    assert admin_client.get("/admin/customers/visitor/add/").status_code == 403
    assert admin_client.post(f"/admin/customers/visitor/{visitor.pk}/change/", {"nickname": "x"}).status_code == 403
    assert Visitor.objects.get().nickname == "老王"


def test_rep_list_counts_customers(admin_client):
    busy = RepFactory(name="张三")
    RepFactory(name="李四")
    CustomerFactory.create_batch(3, rep=busy)

    response = admin_client.get("/admin/reps/rep/")

    assert {r.name: r.customer_count for r in response.context["cl"].result_list} == {"张三": 3, "李四": 0}


def test_rep_key_is_read_only_once_created(admin_client):
    rep = RepFactory(key="ABCD23")

    response = admin_client.post(f"/admin/reps/rep/{rep.pk}/change/", {
        "name": "张三", "phone": "", "territory": "", "is_active": "on", "key": "ZZZZ99",
        # the handover history inlines (read-only) still post their management forms
        **{f"{prefix}-{field}": "0" for prefix in ("handovers_out", "handovers_in")
           for field in ("TOTAL_FORMS", "INITIAL_FORMS")},
    })

    assert response.status_code == 302
    rep.refresh_from_db()
    assert (rep.name, rep.key) == ("张三", "ABCD23")


def _row_maker(kind: str):
    rep = RepFactory()
    makers = {
        "customer": lambda i: CustomerFactory(rep=RepFactory() if i % 2 else rep, district=f"区{i % 3}"),
        "visitor": lambda i: VisitorFactory(customer=CustomerFactory()),
        "rep": lambda i: CustomerFactory(rep=RepFactory()),
        "stock": lambda i: StockFactory(),
        "stockmove": lambda i: StockFactory(),
        "supplier": lambda i: SupplierFactory(),
        "category": lambda i: SubCategoryFactory(),
        "cart": lambda i: CartLine.objects.create(
            cart=Cart.objects.create(visitor=VisitorFactory()), product=ProductFactory(), quantity=Decimal("1")
        ),
    }
    return makers[kind]


@pytest.mark.parametrize("n", [10, 60])
@pytest.mark.parametrize(
    "kind, url",
    [
        ("customer", "/admin/customers/customer/"),
        ("visitor", "/admin/customers/visitor/"),
        ("rep", "/admin/reps/rep/"),
        ("stock", "/admin/logistics/stock/"),
        ("stockmove", "/admin/logistics/stockmove/"),
        ("supplier", "/admin/logistics/supplier/"),
        ("category", "/admin/catalog/category/"),
        ("cart", "/admin/catalog/cart/"),
    ],
)
def test_changelists_run_a_bounded_number_of_queries(admin_client, django_assert_max_num_queries, kind, url, n):
    make_row = _row_maker(kind)
    bound = queries_of_one_row_page(admin_client, url, make_row)
    for i in range(1, n):
        make_row(i)

    with django_assert_max_num_queries(bound):
        response = admin_client.get(url)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= n


def test_every_change_page_renders(admin_client):
    stock = StockFactory(product=ProductFactory(default_supplier=SupplierFactory()))
    customer = CustomerFactory(rep=RepFactory())
    visitor = VisitorFactory(customer=customer)
    cart = Cart.objects.create(visitor=visitor)
    CartLine.objects.create(cart=cart, product=stock.product, quantity=Decimal("2"))
    objects = [
        stock.product, stock.product.category, stock.product.category.parent, stock.product.default_supplier,
        stock, stock.moves.get(), customer, visitor, customer.rep, cart,
    ]

    for obj in objects:
        opts = obj._meta
        response = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        assert response.status_code == 200, opts.model_name

    product_page = admin_client.get(reverse("admin:catalog_product_change", args=[stock.product.pk])).content.decode()
    assert "在库 100.00，已预留 0.00，可用 100.00" in product_page


@pytest.mark.parametrize("model", ["catalog/product", "catalog/category", "customers/customer", "reps/rep",
                                   "logistics/supplier"])
def test_add_pages_render(admin_client, model):
    assert admin_client.get(f"/admin/{model}/add/").status_code == 200
