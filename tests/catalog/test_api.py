from decimal import Decimal

import pytest

from catalog.models import CartLine
from tests.factories import CategoryFactory, SubCategoryFactory, VisitorFactory, product_with_stock

pytestmark = pytest.mark.django_db


def test_categories_are_two_levels_in_display_order(api_client):
    fish = CategoryFactory(name="冻鱼类", sort_order=2)
    shrimp = CategoryFactory(name="冻虾类", sort_order=1)
    SubCategoryFactory(parent=shrimp, name="虾仁", sort_order=2)
    SubCategoryFactory(parent=shrimp, name="整虾", sort_order=1)
    SubCategoryFactory(parent=fish, name="停用货架", is_active=False)
    CategoryFactory(name="停用分类", is_active=False)

    response = api_client.get("/api/v1/catalog/categories")

    assert response.status_code == 200
    assert response.json() == [
        {"id": shrimp.pk, "name": "冻虾类", "children": [
            {"id": shrimp.children.get(name="整虾").pk, "name": "整虾"},
            {"id": shrimp.children.get(name="虾仁").pk, "name": "虾仁"},
        ]},
        {"id": fish.pk, "name": "冻鱼类", "children": []},
    ]


def test_category_listing_includes_every_shelf_of_the_aisle(api_client):
    aisle = CategoryFactory(name="冻虾类")
    meat = product_with_stock(name="去皮虾仁", category=SubCategoryFactory(parent=aisle))
    whole = product_with_stock(name="南美白虾", category=SubCategoryFactory(parent=aisle))
    product_with_stock(name="带鱼段")  # another aisle

    response = api_client.get("/api/v1/catalog/products", {"category": aisle.pk})

    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [meat.pk, whole.pk]


def test_product_shows_server_price_and_stock_state(api_client):
    product = product_with_stock(name="冻鱿鱼须", unit="斤", price="18.50", on_hand="12")
    sold_out = product_with_stock(name="冻扇贝", on_hand="0")

    by_code = {p["code"]: p for p in api_client.get("/api/v1/catalog/products", {"q": "冻"}).json()["results"]}

    assert by_code[product.code]["price"] == "18.50"
    assert by_code[product.code]["stock_label"] == "剩余 12 斤"
    assert by_code[product.code]["in_stock"] is True
    assert by_code[sold_out.code]["stock_label"] == "缺货"
    assert by_code[sold_out.code]["in_stock"] is False


def test_unknown_category_and_bad_parameters_get_clear_errors(api_client):
    missing = api_client.get("/api/v1/catalog/products", {"category": 999999})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "category_not_found"
    bad = api_client.get("/api/v1/catalog/products", {"category": "abc"})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "参数 category 必须是正整数"


def test_product_detail_and_unknown_code(api_client):
    product = product_with_stock(name="去皮虾仁")
    assert api_client.get(f"/api/v1/catalog/products/{product.code}").json()["name"] == "去皮虾仁"
    response = api_client.get("/api/v1/catalog/products/NOPE")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "product_not_found", "message": "商品不存在或已下架", "details": {}}}


def test_cart_needs_a_visitor(api_client):
    response = api_client.get("/api/v1/cart")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_cart_add_change_remove_round_trip(visitor_client, visitor):
    product = product_with_stock(name="冻鱿鱼须", unit="斤", price="18.50", min_quantity="2", step_quantity="0.5")

    added = visitor_client.post("/api/v1/cart/lines", {"product": product.pk}, format="json")
    assert added.status_code == 200
    assert added.json()["total"] == "37.00"

    changed = visitor_client.put(f"/api/v1/cart/lines/{product.pk}", {"quantity": "3.5"}, format="json")
    assert changed.json()["lines"][0]["quantity"] == "3.50"
    assert changed.json()["lines"][0]["amount"] == "64.75"
    assert changed.json()["total"] == "64.75"

    removed = visitor_client.delete(f"/api/v1/cart/lines/{product.pk}")
    assert removed.json() == {"lines": [], "total": "0.00", "count": 0}
    assert not CartLine.objects.filter(cart__visitor=visitor).exists()


def test_client_prices_are_ignored(visitor_client):
    product = product_with_stock(price="25.00")
    response = visitor_client.post(
        "/api/v1/cart/lines",
        {"product": product.pk, "quantity": "2", "price": "0.01", "unit_price": "0.01", "total": "0.02"},
        format="json",
    )
    assert response.json()["lines"][0]["unit_price"] == "25.00"
    assert response.json()["total"] == "50.00"


def test_refused_quantity_answers_400_in_chinese_and_keeps_the_cart(visitor_client, visitor):
    product = product_with_stock(name="冻鱿鱼须", unit="斤", min_quantity="1", step_quantity="0.5")
    visitor_client.put(f"/api/v1/cart/lines/{product.pk}", {"quantity": "2"}, format="json")

    response = visitor_client.put(f"/api/v1/cart/lines/{product.pk}", {"quantity": "2.25"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_quantity_step"
    assert CartLine.objects.get(cart__visitor=visitor).quantity == Decimal("2.00")


def test_malformed_bodies_get_400_not_500(visitor_client):
    assert visitor_client.post("/api/v1/cart/lines", {"product": "x"}, format="json").status_code == 400
    assert visitor_client.post("/api/v1/cart/lines", {}, format="json").status_code == 400
    raw = visitor_client.generic("POST", "/api/v1/cart/lines", "{not json", content_type="application/json")
    assert raw.status_code == 400
    assert raw.json()["error"]["code"] == "parse_error"


def test_cart_shows_problems_when_stock_or_listing_changes_after_adding(visitor_client):
    product = product_with_stock(name="冻鲍鱼", on_hand="5")
    visitor_client.put(f"/api/v1/cart/lines/{product.pk}", {"quantity": "4"}, format="json")
    product.is_active = False
    product.save()

    cart = visitor_client.get("/api/v1/cart").json()

    assert cart["lines"][0]["problem"] == "已下架"
    assert cart["total"] == "0.00"
    assert cart["count"] == 0


def test_one_visitor_never_sees_anothers_cart(visitor_client):
    product = product_with_stock()
    other = VisitorFactory()
    from catalog.services import cart_line_add

    cart_line_add(visitor=other, product_id=product.pk)
    assert visitor_client.get("/api/v1/cart").json()["lines"] == []


def test_openapi_schema_documents_the_api(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.content.decode()
    for path in ("/api/v1/catalog/products", "/api/v1/cart/lines/{product_id}", "/api/v1/auth/session"):
        assert path in body


# Query counts: the same bound whether the list has 10 or 300 rows.

def _products(n, category):
    for i in range(n):
        product_with_stock(name=f"冻虾{i}", category=category)


@pytest.mark.parametrize("n", [10, 300])
def test_category_page_query_count_is_constant(api_client, django_assert_max_num_queries, n):
    aisle = CategoryFactory(name="冻虾类")
    _products(n, SubCategoryFactory(parent=aisle))
    # built once (then kept, catalog.listing): the catalogue version, category, its shelves, the
    # page's ids with the total, the page's rows
    with django_assert_max_num_queries(5):
        response = api_client.get("/api/v1/catalog/products", {"category": aisle.pk, "page_size": 100})
    assert len(response.json()["results"]) == min(n, 100)


@pytest.mark.parametrize("n", [10, 300])
def test_search_query_count_is_constant(api_client, django_assert_max_num_queries, n):
    _products(n, SubCategoryFactory())
    # built once (then kept): the catalogue version, active shelves, the page's ids with the total,
    # the page's rows
    with django_assert_max_num_queries(4):
        response = api_client.get("/api/v1/catalog/products", {"q": "虾", "page_size": 100})
    assert response.json()["count"] == n


@pytest.mark.parametrize("n", [10, 150])
def test_cart_query_count_is_constant(visitor_client, visitor, django_assert_max_num_queries, n, settings):
    from catalog.models import Cart, CartLine

    cart = Cart.objects.create(visitor=visitor)
    category = SubCategoryFactory()
    CartLine.objects.bulk_create(
        CartLine(cart=cart, product=product_with_stock(category=category), quantity=Decimal("1")) for _ in range(n)
    )
    with django_assert_max_num_queries(3):
        response = visitor_client.get("/api/v1/cart")
    assert response.json()["count"] == n


@pytest.mark.parametrize("n", [10, 100])
def test_category_tree_query_count_is_constant(api_client, django_assert_max_num_queries, n):
    for i in range(n):
        SubCategoryFactory(name=f"货架{i}")
    with django_assert_max_num_queries(2):
        response = api_client.get("/api/v1/catalog/categories")
    assert len(response.json()) == n



def test_listing_page_is_cached_but_stock_and_changes_show_at_once(api_client, django_assert_max_num_queries):
    from catalog.services import product_set_active
    from logistics.models import Stock

    shelf = SubCategoryFactory()
    first = product_with_stock(name="冻虾甲", category=shelf, on_hand="10")
    api_client.get("/api/v1/catalog/products", {"category": shelf.pk})
    # Second time: the page's ids come from the cache; only the category and the rows are read.
    with django_assert_max_num_queries(2):
        cached = api_client.get("/api/v1/catalog/products", {"category": shelf.pk})
    assert [p["name"] for p in cached.json()["results"]] == ["冻虾甲"]

    Stock.objects.filter(product=first).update(reserved=Decimal("4"))
    assert api_client.get("/api/v1/catalog/products", {"category": shelf.pk}).json()["results"][0]["available"] == "6.00"

    product_with_stock(name="冻虾乙", category=shelf)
    names = [p["name"] for p in api_client.get("/api/v1/catalog/products", {"category": shelf.pk}).json()["results"]]
    assert names == ["冻虾甲", "冻虾乙"]

    product_set_active(product_ids=[first.pk], active=False)
    names = [p["name"] for p in api_client.get("/api/v1/catalog/products", {"category": shelf.pk}).json()["results"]]
    assert names == ["冻虾乙"]


def test_cached_search_pages_link_to_the_callers_own_url(api_client):
    shelf = SubCategoryFactory()
    for i in range(3):
        product_with_stock(name=f"冻虾{i}", category=shelf)
    api_client.get("/api/v1/catalog/products", {"q": "虾", "page_size": 1})
    again = api_client.get("/api/v1/catalog/products", {"q": "虾", "page_size": 1, "extra": "x"}).json()
    assert "extra=x" in again["next"] and "page=2" in again["next"]


def test_api_docs_page_uses_swagger_ui_from_our_static_files(client):
    page = client.get("/api/docs/").content.decode()
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    from django.contrib.staticfiles import finders

    assert finders.find("vendor/swagger-ui/swagger-ui-bundle.js")  # from node_modules (npm)
