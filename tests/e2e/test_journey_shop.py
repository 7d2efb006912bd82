"""J1/J2 up to the cart, in headless Chromium on a phone-sized page against the live server.

The pages change the cart only through /api/v1/, so these journeys also prove the API; the
database is checked at the end to see what the server really holds.
"""

import json
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from catalog.models import CartLine, Product
from core.money import money
from customers.models import Visitor
from logistics.models import Stock
from tests.factories import CategoryFactory, SubCategoryFactory, product_with_stock

pytestmark = pytest.mark.e2e

ENTRY = "/shop/?scene=r%3D7F3K&launch_scene=1047"


@pytest.fixture
def catalog(transactional_db):
    shrimp = CategoryFactory(name="冻虾类", sort_order=1)
    peeled_shelf = SubCategoryFactory(parent=shrimp, name="虾仁", sort_order=1)
    whole_shelf = SubCategoryFactory(parent=shrimp, name="整虾", sort_order=2)
    fish = CategoryFactory(name="冻鱼类", sort_order=2)
    fish_shelf = SubCategoryFactory(parent=fish, name="鱼段", sort_order=1)
    # Codes carry neither 虾 nor "xr", so a hit on "xr" can only come from the pinyin initials.
    return {
        "peeled": product_with_stock(
            on_hand="12", code="SP1001", name="去皮虾仁", spec="1kg/袋", unit=Product.Unit.BAG,
            price=Decimal("25.00"), category=peeled_shelf,
        ),
        "white": product_with_stock(
            on_hand="80", code="SP1002", name="冻南美白虾", spec="40-50只/斤", unit=Product.Unit.JIN,
            price=Decimal("18.86"), min_quantity=Decimal("2"), step_quantity=Decimal("0.5"),
            origin="湛江", category=whole_shelf,
        ),
        "hairtail": product_with_stock(
            on_hand="30", code="SP2001", name="冻带鱼段", spec="5kg/箱", unit=Product.Unit.BOX,
            price=Decimal("168.00"), category=fish_shelf,
        ),
        "shrimp": shrimp,
        "fish": fish,
        "whole_shelf": whole_shelf,
    }


def product_row(page, code):
    return page.locator(f'[data-testid="product"][data-code="{code}"]')


def listed_codes(page):
    return page.locator('[data-testid="product"]').evaluate_all("rows => rows.map(row => row.dataset.code)")


def category_item(page, name):
    return page.get_by_test_id("sidebar").get_by_text(name, exact=True)


def tap_plus(page, code, expected):
    row = product_row(page, code)
    row.get_by_test_id("stepper-plus").click()
    expect(row.get_by_test_id("stepper-qty")).to_have_text(expected)


def tap_minus(page, code, expected):
    row = product_row(page, code)
    row.get_by_test_id("stepper-minus").click()
    expect(row.get_by_test_id("stepper-qty")).to_have_text(expected)


def server_cart(page) -> dict:
    """The cart as the API returns it to this page's visitor (same token, same code path)."""
    return page.evaluate("() => api.get('/cart')")


def test_journey_browse_search_fill_cart_and_return_next_day(
    live_server, transactional_db, catalog, new_phone, screenshot
):
    peeled, white = catalog["peeled"], catalog["white"]
    phone = new_phone()
    page = phone.new_page()

    # A rep's code was scanned: the entry link carries the scene, kept for the whole visit.
    page.goto(live_server.url + ENTRY)
    expect(page.get_by_test_id("category")).to_have_count(2)
    expect(category_item(page, "冻虾类")).to_have_class(re.compile("sidebar__item_on"))
    assert page.evaluate("() => [sessionStorage.getItem('scene'), sessionStorage.getItem('launch_scene')]") == [
        "r=7F3K", "1047",
    ]
    assert page.evaluate("() => wx.getLaunchOptionsSync()") == {"scene": 1047, "query": {"scene": "r=7F3K"}}

    # Browse: another aisle, then back to the shrimp aisle whose shelves head their products.
    category_item(page, "冻鱼类").click()
    expect(product_row(page, "SP2001")).to_be_visible()
    assert listed_codes(page) == ["SP2001"]
    category_item(page, "冻虾类").click()
    expect(page.locator('[data-testid="product"]')).to_have_count(2)
    assert listed_codes(page) == ["SP1001", "SP1002"]
    expect(page.locator('[data-testid="section-title"]:visible')).to_have_text(["虾仁", "整虾"])
    expect(product_row(page, "SP1002").get_by_test_id("price")).to_have_text("¥18.86/斤")
    expect(product_row(page, "SP1001").get_by_test_id("stock-label")).to_have_text("剩余 12 袋")
    page.get_by_test_id("shelves").get_by_text("整虾", exact=True).click()
    expect(page.locator('[data-testid="product"]')).to_have_count(1)
    assert listed_codes(page) == ["SP1002"]
    screenshot(page, "category")

    # Search "虾" across all aisles: both shrimp, not the fish.
    search = page.get_by_test_id("search-input")
    search.fill("虾")
    header = page.get_by_test_id("search-header")
    expect(header).to_contain_text("虾")
    expect(header).to_contain_text("共 2 件")
    assert listed_codes(page) == ["SP1001", "SP1002"]
    screenshot(page, "search-xia")

    # Pinyin initials, submitted with the keyboard's search key: "xr" finds 虾仁 only.
    search.fill("xr")
    search.press("Enter")
    expect(header).to_contain_text("xr")
    expect(header).to_contain_text("共 1 件")
    assert listed_codes(page) == ["SP1001"]

    # Add 去皮虾仁 straight from the search result.
    tap_plus(page, "SP1001", "1")
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
    expect(page.get_by_test_id("cart-total")).to_have_text("¥25.00")

    # Back to the aisle (on the shelf we left): 白虾 starts at its minimum and moves by 0.5 斤.
    page.get_by_test_id("search-back").click()
    expect(page.get_by_test_id("search-header")).to_have_count(0)
    expect(search).to_have_value("")
    expect(page.locator('[data-testid="product"]')).to_have_count(1)
    assert listed_codes(page) == ["SP1002"]
    tap_plus(page, "SP1002", "2")
    tap_plus(page, "SP1002", "2.5")
    tap_plus(page, "SP1002", "3")
    tap_minus(page, "SP1002", "2.5")
    page.get_by_test_id("shelves").get_by_text("全部", exact=True).click()
    expect(page.locator('[data-testid="product"]')).to_have_count(2)
    tap_plus(page, "SP1001", "2")

    # The bar shows the server's total, to the cent.
    expected_total = money(Decimal("2") * peeled.price) + money(Decimal("2.5") * white.price)
    assert expected_total == Decimal("97.15")
    expect(page.get_by_test_id("cart-count")).to_have_text("2")
    expect(page.get_by_test_id("cart-total")).to_have_text(f"¥{expected_total}")
    cart = server_cart(page)
    assert cart["total"] == str(expected_total)
    assert [(line["product"]["code"], line["quantity"]) for line in cart["lines"]] == [
        ("SP1001", "2.00"), ("SP1002", "2.50"),
    ]
    screenshot(page, "cart-filled")

    # A reload finds everything where it was.
    page.reload()
    expect(product_row(page, "SP1001").get_by_test_id("stepper-qty")).to_have_text("2")
    expect(product_row(page, "SP1002").get_by_test_id("stepper-qty")).to_have_text("2.5")
    expect(page.get_by_test_id("cart-total")).to_have_text(f"¥{expected_total}")
    expect(page.get_by_test_id("cart-count")).to_have_text("2")
    assert Visitor.objects.count() == 1  # every call of the visit used one login
    first_visitor = Visitor.objects.get()

    # Next "day": the browser is closed; the same phone (its cookies and storage) comes back,
    # by now with an expired token, and opens the cart directly. The API answers 401, the
    # page logs in again silently as the same WeChat user, and the cart is intact.
    state = phone.storage_state()
    phone.close()
    for origin in state["origins"]:
        for item in origin["localStorage"]:
            if item["name"] == "visitor_token":
                item["value"] = json.dumps("1:expired:token")
    same_phone = new_phone(storage_state=state)
    page = same_phone.new_page()
    page.goto(live_server.url + "/shop/cart/")
    lines = page.get_by_test_id("cart-line")
    expect(lines).to_have_count(2)
    expect(lines.nth(0).get_by_test_id("product-name")).to_have_text("去皮虾仁")
    expect(lines.nth(0).get_by_test_id("stepper-qty")).to_have_text("2")
    expect(lines.nth(0).get_by_test_id("line-amount")).to_have_text("¥50.00")
    expect(lines.nth(1).get_by_test_id("product-name")).to_have_text("冻南美白虾")
    expect(lines.nth(1).get_by_test_id("stepper-qty")).to_have_text("2.5")
    expect(lines.nth(1).get_by_test_id("line-amount")).to_have_text("¥47.15")
    expect(page.get_by_test_id("cart-total")).to_have_text(f"¥{expected_total}")
    expect(page.get_by_test_id("checkout")).to_be_disabled()
    assert page.evaluate("() => wx.getStorageSync('visitor_token')") not in ("", "1:expired:token")
    assert Visitor.objects.count() == 1
    screenshot(page, "cart-next-day")

    # Another phone is another WeChat user: an empty cart of its own.
    other_phone = new_phone()
    other = other_phone.new_page()
    other.goto(live_server.url + "/shop/cart/")
    expect(other.get_by_test_id("cart-empty")).to_be_visible()
    expect(other.get_by_test_id("cart-line")).to_have_count(0)
    expect(other.get_by_test_id("cart-total")).to_have_text("¥0.00")
    screenshot(other, "other-phone")

    # What the server holds.
    assert Visitor.objects.count() == 2
    other_visitor = Visitor.objects.exclude(pk=first_visitor.pk).get()
    assert sorted(
        CartLine.objects.filter(cart__visitor=first_visitor).values_list("product__code", "quantity")
    ) == [("SP1001", Decimal("2.00")), ("SP1002", Decimal("2.50"))]
    assert CartLine.objects.count() == 2
    assert not CartLine.objects.filter(cart__visitor=other_visitor).exists()


def test_out_of_stock_product_has_a_disabled_stepper_and_stock_limits_are_reported(
    live_server, transactional_db, new_phone, screenshot
):
    shelf = SubCategoryFactory(parent=CategoryFactory(name="冻虾类"), name="虾仁")
    product_with_stock(on_hand="0", code="SP3001", name="黑虎虾仁", unit=Product.Unit.BAG, category=shelf)
    product_with_stock(on_hand="1", code="SP3002", name="北极甜虾", unit=Product.Unit.BAG, category=shelf)
    product_with_stock(on_hand="5", code="SP3003", name="冻甜虾仁", unit=Product.Unit.BAG, category=shelf)
    page = new_phone().new_page()
    page.goto(live_server.url + "/shop/")

    sold_out = product_row(page, "SP3001")
    expect(sold_out.get_by_test_id("stock-label")).to_have_text("缺货")
    expect(sold_out).to_have_class(re.compile("product_soldout"))
    expect(sold_out.get_by_test_id("stepper-plus")).to_be_disabled()
    expect(sold_out.get_by_test_id("stepper-qty")).to_be_hidden()

    # One bag left: the first + takes it, and then + is greyed out (a mini program does not let
    # the buyer tap into the server's refusal).
    tap_plus(page, "SP3002", "1")
    last_bag = product_row(page, "SP3002")
    expect(last_bag.get_by_test_id("stepper-plus")).to_be_disabled()
    expect(last_bag.get_by_test_id("stepper-plus")).to_have_attribute("title", "已达库存上限")
    expect(last_bag.get_by_test_id("stepper-minus")).to_be_enabled()
    screenshot(page, "stock-limit")
    expect(last_bag.get_by_test_id("stepper-qty")).to_have_text("1")
    expect(page.get_by_test_id("cart-total")).to_have_text("¥25.00")
    expect(page.get_by_test_id("toptips")).to_have_count(0)
    assert list(CartLine.objects.values_list("product__code", "quantity")) == [("SP3002", Decimal("1.00"))]

    # Stock sold elsewhere after the list was loaded is still the server's call: it refuses, the
    # page shows why and nothing is added.
    Stock.objects.filter(product__code="SP3003").update(on_hand=0)
    product_row(page, "SP3003").get_by_test_id("stepper-plus").click()
    expect(page.get_by_test_id("toptips")).to_contain_text("冻甜虾仁")
    expect(product_row(page, "SP3003").get_by_test_id("stepper-qty")).to_be_hidden()
    assert list(CartLine.objects.values_list("product__code", "quantity")) == [("SP3002", Decimal("1.00"))]

    # The product page greys out 加入购物车 the same way.
    page.goto(live_server.url + "/shop/p/SP3002/")
    expect(page.get_by_test_id("add-to-cart")).to_have_text("已达库存上限")
    expect(page.get_by_test_id("add-to-cart")).to_be_disabled()

    # The product page says the same and offers no way to add it.
    page.goto(live_server.url + "/shop/p/SP3001/")
    expect(page.get_by_test_id("product-name")).to_have_text("黑虎虾仁")
    expect(page.get_by_test_id("stock-label")).to_have_text("缺货")
    expect(page.get_by_test_id("add-to-cart")).to_be_disabled()
    expect(page.get_by_test_id("add-to-cart")).to_have_text("缺货")
    assert CartLine.objects.count() == 1


def test_product_page_and_cart_page(live_server, transactional_db, catalog, new_phone, screenshot):
    white, hairtail = catalog["white"], catalog["hairtail"]
    page = new_phone().new_page()

    page.goto(live_server.url + "/shop/p/SP1002/")
    detail = page.get_by_test_id("product-detail")
    expect(detail.get_by_test_id("product-name")).to_have_text("冻南美白虾")
    expect(detail.get_by_test_id("price")).to_have_text("¥18.86/斤")
    expect(detail.get_by_test_id("stock-label")).to_have_text("剩余 80 斤")
    expect(detail.get_by_test_id("quantity-rule")).to_have_text("起订 2 斤，每次加 0.5 斤")
    expect(detail).to_contain_text("湛江")
    expect(detail).to_contain_text("冷冻")
    expect(detail).to_contain_text("40-50只/斤")
    page.get_by_test_id("add-to-cart").click()  # the server adds the minimum
    expect(page.get_by_test_id("toast")).to_contain_text("已加入购物车")
    expect(detail.get_by_test_id("stepper-qty")).to_have_text("2")
    page.get_by_test_id("add-to-cart").click()  # then one step
    expect(detail.get_by_test_id("stepper-qty")).to_have_text("2.5")
    screenshot(page, "product")

    page.goto(live_server.url + "/shop/p/SP2001/")
    expect(page.get_by_test_id("product-name")).to_have_text("冻带鱼段")
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("cart-count")).to_have_text("2")

    page.goto(live_server.url + "/shop/p/NOPE/")
    expect(page.get_by_test_id("product-error")).to_contain_text("商品不存在或已下架")

    # The cart page: change a quantity, see a line that can no longer be bought, remove, clear.
    page.goto(live_server.url + "/shop/cart/")
    lines = page.get_by_test_id("cart-line")
    expect(lines).to_have_count(2)
    expect(page.get_by_test_id("cart-total")).to_have_text("¥215.15")  # 2.5 × 18.86 + 168.00
    fish_line = page.locator('[data-testid="cart-line"][data-code="SP2001"]')
    fish_line.get_by_test_id("stepper-plus").click()
    expect(fish_line.get_by_test_id("stepper-qty")).to_have_text("2")
    expect(fish_line.get_by_test_id("line-amount")).to_have_text("¥336.00")
    expect(page.get_by_test_id("cart-total")).to_have_text("¥383.15")

    Product.objects.filter(pk=white.pk).update(is_active=False)  # taken off the shelf meanwhile
    page.reload()
    shrimp_line = page.locator('[data-testid="cart-line"][data-code="SP1002"]')
    expect(shrimp_line.get_by_test_id("cart-problem")).to_have_text("已下架")
    expect(page.get_by_test_id("cart-total")).to_have_text("¥336.00")
    screenshot(page, "cart-problem")
    shrimp_line.get_by_test_id("cart-remove").click()
    expect(lines).to_have_count(1)

    page.get_by_test_id("cart-clear").click()
    page.get_by_test_id("modal-cancel").click()
    expect(lines).to_have_count(1)
    assert list(CartLine.objects.values_list("product_id", "quantity")) == [(hairtail.pk, Decimal("2.00"))]
    page.get_by_test_id("cart-clear").click()
    page.get_by_test_id("modal-confirm").click()
    expect(page.get_by_test_id("cart-empty")).to_be_visible()
    expect(page.get_by_test_id("cart-total")).to_have_text("¥0.00")
    assert CartLine.objects.count() == 0


def test_long_shelf_loads_the_next_page(live_server, transactional_db, new_phone):
    shelf = SubCategoryFactory(parent=CategoryFactory(name="冻鱼类"), name="鱼段")
    for number in range(25):
        product_with_stock(code=f"SP4{number:03d}", name=f"冻鱼段{number:02d}", category=shelf, sort_order=number)
    page = new_phone().new_page()
    page.goto(live_server.url + "/shop/")

    rows = page.locator('[data-testid="product"]')
    expect(rows).to_have_count(20)
    rows.nth(19).scroll_into_view_if_needed()  # the end of the list comes into view
    expect(rows).to_have_count(25)
    expect(page.get_by_test_id("load-more")).to_be_hidden()
    expect(page.get_by_test_id("list-end")).to_be_visible()
    assert listed_codes(page) == [f"SP4{number:03d}" for number in range(25)]
