import pytest

from catalog.search import build_search_key, normalize_query, pinyin_initials
from catalog.selectors import product_list
from tests.factories import ProductFactory, SubCategoryFactory

pytestmark = pytest.mark.django_db


def test_search_key_holds_name_code_pinyin_and_initials():
    key = build_search_key(name="去皮虾仁 1kg", code="SF-0001")
    assert key.split("|") == ["去皮虾仁1kg", "sf-0001", "qupixiaren1kg", "qpxr1kg"]


def test_initials_of_shrimp_meat():
    assert pinyin_initials("虾仁") == "xr"


def test_normalize_query_drops_spaces_and_case():
    assert normalize_query("  X R ") == "xr"


def names(queryset):
    return [p.name for p in queryset]


@pytest.fixture
def shelf_products():
    shelf = SubCategoryFactory(name="虾仁")
    return {
        "shrimp_meat": ProductFactory(name="去皮虾仁", code="SF000001", category=shelf),
        "white_shrimp": ProductFactory(name="冻南美白虾", code="SF000002", category=shelf),
        "hairtail": ProductFactory(name="冻带鱼段", code="SF000003"),
        "hidden": ProductFactory(name="虾仁(停售)", code="SF000004", category=shelf, is_active=False),
    }


def test_search_by_chinese_substring(shelf_products):
    assert set(names(product_list(query="虾"))) == {"去皮虾仁", "冻南美白虾"}


def test_search_by_pinyin_initials_finds_shrimp_meat(shelf_products):
    assert names(product_list(query="xr")) == ["去皮虾仁"]


def test_search_by_full_pinyin(shelf_products):
    assert names(product_list(query="daiyu")) == ["冻带鱼段"]


def test_search_by_sku_code_ranks_exact_code_first(shelf_products):
    assert names(product_list(query="sf000002"))[0] == "冻南美白虾"
    assert names(product_list(query="SF000003")) == ["冻带鱼段"]


def test_search_never_returns_inactive_products(shelf_products):
    assert "虾仁(停售)" not in names(product_list(query="虾仁"))


def test_blank_search_returns_nothing(shelf_products):
    assert names(product_list(query="   ")) == []


def test_renaming_a_product_refreshes_its_search_key(shelf_products):
    product = shelf_products["hairtail"]
    product.name = "冻鲳鱼"
    product.save(update_fields=["name"])
    assert names(product_list(query="cy")) == ["冻鲳鱼"]
    assert names(product_list(query="daiyu")) == []
