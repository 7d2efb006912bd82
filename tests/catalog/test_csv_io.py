import csv
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import csv_io
from catalog.csv_io import RowError, product_export_csv, product_import_csv
from catalog.models import Category, Product
from catalog.selectors import product_list
from core.errors import Conflict, ValidationFailed
from tests.factories import CategoryFactory, ProductFactory, SubCategoryFactory, SupplierFactory

pytestmark = pytest.mark.django_db

HEADER = ("code,name,category,spec,unit,price,catch_weight,nominal_weight,storage,origin,supplier,"
          "is_active,min_quantity,step_quantity,sort_order")
SNAPSHOT_FIELDS = (
    "code", "name", "category_id", "spec", "unit", "price", "catch_weight", "nominal_weight", "storage", "origin",
    "default_supplier_id", "is_active", "min_quantity", "step_quantity", "sort_order", "search_key",
)


@pytest.fixture
def catalogue():
    shrimp = CategoryFactory(name="冻虾类")
    ribbonfish = SubCategoryFactory(parent=CategoryFactory(name="冻鱼类"), name="带鱼")
    return {
        "meat": SubCategoryFactory(parent=shrimp, name="虾仁"),
        "ribbonfish": ribbonfish,
        "sauces": CategoryFactory(name="调料"),  # a top-level category without shelves takes products
        "supplier": SupplierFactory(name="海丰水产"),
        "existing": ProductFactory(
            code="DY-001", name="冻带鱼段", category=ribbonfish, spec="5斤/箱", unit=Product.Unit.BOX,
            price=Decimal("88.00"), origin="舟山", is_active=True, sort_order=3,
        ),
    }


def upload(text: str, *, encoding="utf-8", name="products.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


def snapshot():
    return list(Product.objects.order_by("code").values_list(*SNAPSHOT_FIELDS))


GOOD_UPDATE = "DY-001,冻带鱼段(大),冻鱼类/带鱼,5斤/箱,箱,92.50,否,,冷冻,舟山,海丰水产,是,1,1,3"
GOOD_CREATE = "XR-001,冻虾仁,冻虾类/虾仁,1kg/袋,千克,45.8,是,2.00,冷冻,湛江,,1,2,0.5,10"


def test_import_creates_and_updates_by_code(catalogue):
    existing = catalogue["existing"]

    report = product_import_csv(file=upload(csv_text(GOOD_UPDATE, GOOD_CREATE)))

    assert report.errors == []
    assert (report.rows, report.created, report.updated, report.unchanged) == (2, 1, 1, 0)
    assert Product.objects.count() == 2
    updated = Product.objects.get(code="DY-001")
    assert updated.pk == existing.pk
    assert updated.created_at == existing.created_at and updated.updated_at > existing.updated_at
    assert (updated.name, updated.price, updated.default_supplier, updated.spec) == (
        "冻带鱼段(大)", Decimal("92.50"), catalogue["supplier"], "5斤/箱"
    )
    created = Product.objects.get(code="XR-001")
    assert created.category == catalogue["meat"]
    assert created.unit == Product.Unit.KG  # the label 千克 is accepted for kg
    assert created.price == Decimal("45.80")
    assert created.catch_weight is True and created.nominal_weight == Decimal("2.00")
    assert created.storage == Product.Storage.FROZEN
    assert (created.origin, created.default_supplier, created.is_active) == ("湛江", None, True)
    assert (created.min_quantity, created.step_quantity, created.sort_order) == (Decimal("2"), Decimal("0.5"), 10)
    assert created.search_key == "冻虾仁|xr-001|dongxiaren|dxr"
    assert updated.search_key == "冻带鱼段大|dy-001|dongdaiyuduanda|ddydd"


def test_imported_products_are_found_by_pinyin_initials(catalogue):
    product_import_csv(file=upload(csv_text(GOOD_CREATE)))

    assert [p.code for p in product_list(query="xr")] == ["XR-001"]
    assert [p.code for p in product_list(query="dxr")] == ["XR-001"]


def test_reimporting_the_same_file_changes_nothing(catalogue):
    product_import_csv(file=upload(csv_text(GOOD_UPDATE, GOOD_CREATE)))
    before = list(Product.objects.order_by("code").values_list("code", "updated_at"))

    report = product_import_csv(file=upload(csv_text(GOOD_UPDATE, GOOD_CREATE)))

    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert list(Product.objects.order_by("code").values_list("code", "updated_at")) == before


def test_columns_left_out_of_the_file_keep_their_values(catalogue):
    existing = catalogue["existing"]
    Product.objects.filter(pk=existing.pk).update(default_supplier=catalogue["supplier"], is_active=False)

    report = product_import_csv(
        file=upload(csv_text("DY-001,冻带鱼段,冻鱼类 / 带鱼,箱,99", header="code,name,category,unit,price"))
    )

    assert (report.created, report.updated) == (0, 1)
    existing.refresh_from_db()
    assert existing.price == Decimal("99.00")
    assert (existing.default_supplier, existing.is_active, existing.origin) == (catalogue["supplier"], False, "舟山")


def test_chinese_column_names_and_any_column_order_are_accepted(catalogue):
    text = csv_text("88.8,冻虾类/虾仁,XR-009,虾仁(中),袋,否", header="单价,分类,编码,名称,单位,上架")

    report = product_import_csv(file=upload(text))

    assert report.errors == []
    product = Product.objects.get(code="XR-009")
    assert (product.name, product.price, product.unit, product.is_active) == (
        "虾仁(中)", Decimal("88.80"), Product.Unit.BAG, False
    )


def test_gbk_file_imports(catalogue):
    report = product_import_csv(file=upload(csv_text(GOOD_CREATE), encoding="gbk"))

    assert (report.created, report.errors) == (1, [])
    assert Product.objects.get(code="XR-001").name == "冻虾仁"
    assert Product.objects.get(code="XR-001").category == catalogue["meat"]


def test_utf8_file_with_bom_imports(catalogue):
    report = product_import_csv(file=upload("\ufeff" + csv_text(GOOD_CREATE)))

    assert (report.created, report.errors) == (1, [])
    assert Product.objects.get(code="XR-001").name == "冻虾仁"


def test_blank_rows_at_the_end_are_skipped(catalogue):
    report = product_import_csv(file=upload(csv_text(GOOD_CREATE, ",,,,,,,,,,,,,,", "")))

    assert (report.rows, report.created, report.errors) == (1, 1, [])


# --- Bad rows: nothing is written, every bad row is reported with the row number Excel shows ---


def with_cell(row: str, column: str, value: str) -> str:
    cells = next(csv.reader([row]))
    cells[HEADER.split(",").index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("price", "abc", "单价不是有效数字：abc"),
        ("price", "0", "单价必须大于 0"),
        ("price", "-5", "单价必须大于 0"),
        ("price", "12.345", "单价最多两位小数"),
        ("price", "", "必填"),
        ("price", "NaN", "单价不是有效数字：NaN"),
        ("category", "冻虾类/龙虾", "分类「冻虾类/龙虾」不存在，请先在后台建好分类"),
        ("category", "冻虾类", "「冻虾类」下还有二级分类，请填到二级分类"),
        ("unit", "吨", "单位「吨」不存在"),
        ("nominal_weight", "", "按实重计价的商品须填写标称重量"),
        ("nominal_weight", "0", "标称重量必须大于 0"),
        ("supplier", "不存在的供应商", "供应商「不存在的供应商」不存在"),
        ("catch_weight", "也许", "应填 是 或 否，而不是「也许」"),
        ("is_active", "maybe", "应填 是 或 否，而不是「maybe」"),
        ("storage", "冰鲜", "储存方式「冰鲜」不存在"),
        ("code", "XR 001", "编码只能含字母、数字、- 和 _，最长 32 位"),
        ("code", "X" * 33, "编码只能含字母、数字、- 和 _，最长 32 位"),
        ("name", "", "必填"),
        ("name", "虾" * 81, "最长 80 字，现有 81 字"),
        ("spec", "规" * 41, "最长 40 字，现有 41 字"),
        ("min_quantity", "0", "起订量必须大于 0"),
        ("step_quantity", "0.001", "加购步长最多两位小数"),
        ("sort_order", "-1", "排序应为非负整数"),
    ],
)
def test_a_bad_row_imports_nothing(catalogue, column, value, message):
    before = snapshot()
    bad = with_cell(GOOD_CREATE, column, value)

    report = product_import_csv(file=upload(csv_text(GOOD_UPDATE, bad)))

    assert [(e.row, e.column) for e in report.errors] == [(3, column)]
    assert report.errors[0].message.startswith(message)
    assert report.bad_rows == [3]
    assert (report.created, report.updated) == (0, 0)
    assert snapshot() == before


def test_every_bad_row_is_reported(catalogue):
    before = snapshot()
    rows = [
        with_cell(GOOD_CREATE, "price", "0"),                                           # row 2
        GOOD_UPDATE,                                                                    # row 3
        with_cell(with_cell(GOOD_CREATE, "code", "XR-002"), "unit", "吨"),              # row 4
        with_cell(with_cell(GOOD_CREATE, "code", "XR-003"), "supplier", "无名"),        # row 5
        with_cell(GOOD_UPDATE, "price", "1.999"),                                        # row 6: also a duplicate
    ]

    report = product_import_csv(file=upload(csv_text(*rows)))

    assert [(e.row, e.column) for e in report.errors] == [
        (2, "price"), (4, "unit"), (5, "supplier"), (6, "price"), (6, "code"),
    ]
    assert report.errors[-1].message == "编码 DY-001 与第 3 行重复"
    assert report.bad_rows == [2, 4, 5, 6]
    assert report.error_summary == "4 行数据有误"
    assert snapshot() == before


def test_duplicate_code_in_the_file_is_refused(catalogue):
    before = snapshot()

    report = product_import_csv(file=upload(csv_text(GOOD_CREATE, GOOD_UPDATE, GOOD_CREATE)))

    assert report.errors == [RowError(row=4, column="code", message="编码 XR-001 与第 2 行重复")]
    assert snapshot() == before


def test_missing_required_column_is_refused(catalogue):
    before = snapshot()
    header = HEADER.replace(",price", "")
    row = "XR-001,冻虾仁,冻虾类/虾仁,1kg/袋,千克,否,,冷冻,湛江,,1,2,0.5,10"

    report = product_import_csv(file=upload(csv_text(row, header=header)))

    assert report.errors == [RowError(row=1, column="price", message="缺少必填列")]
    assert snapshot() == before


def test_unknown_and_repeated_columns_are_refused(catalogue):
    before = snapshot()

    report = product_import_csv(
        file=upload(csv_text("XR-001,冻虾仁,冻虾类/虾仁,袋,10,红,11", header="code,name,category,unit,price,colour,单价"))
    )

    assert report.errors == [
        RowError(row=1, column="colour", message="未知列「colour」"),
        RowError(row=1, column="price", message="列重复"),
    ]
    assert report.error_summary == "表头有误"
    assert snapshot() == before


def test_cells_beyond_the_header_are_refused(catalogue):
    before = snapshot()

    report = product_import_csv(file=upload(csv_text(GOOD_CREATE + ",多出来的")))

    assert [(e.row, e.column) for e in report.errors] == [(2, "")]
    assert snapshot() == before


# --- Files refused as a whole ---


@pytest.mark.parametrize(
    "content, code",
    [
        (b"", "csv_empty"),
        (b"\xef\xbb\xbf \r\n\r\n", "csv_empty"),
        (b",,,\r\nXR-001,x\r\n", "csv_no_header"),
        (bytes(range(256)) * 40, "csv_not_text"),
        (b"PK\x03\x04" + b"\x14\x00\x06\x00" * 100, "csv_not_text"),  # an .xlsx workbook
        ("code,name\r\n".encode("utf-16"), "csv_not_text"),
        (b"code,name\r\n\x81\x30\x81\xff\xfe\r\n", "csv_encoding"),
        (b"code,name\r\n\x07\x1b[0m,x\r\n", "csv_not_text"),
    ],
)
def test_unreadable_files_are_refused(catalogue, content, code):
    before = snapshot()

    with pytest.raises(ValidationFailed) as excinfo:
        product_import_csv(file=SimpleUploadedFile("x.csv", content))

    assert excinfo.value.code == code
    assert excinfo.value.message.endswith("未导入任何数据")
    assert snapshot() == before


def test_too_big_a_file_is_refused(catalogue, monkeypatch):
    monkeypatch.setattr(csv_io, "MAX_FILE_BYTES", 200)
    before = snapshot()

    with pytest.raises(ValidationFailed) as excinfo:
        product_import_csv(file=upload(csv_text(GOOD_CREATE, GOOD_UPDATE)))

    assert excinfo.value.code == "csv_too_large"
    assert snapshot() == before


def test_too_many_rows_are_refused(catalogue, monkeypatch):
    monkeypatch.setattr(csv_io, "MAX_ROWS", 2)
    rows = [with_cell(GOOD_CREATE, "code", f"XR-{i}") for i in range(3)]
    before = snapshot()

    with pytest.raises(ValidationFailed) as excinfo:
        product_import_csv(file=upload(csv_text(*rows)))

    assert excinfo.value.code == "csv_too_many_rows"
    assert snapshot() == before


def test_max_rows_is_accepted(catalogue, monkeypatch):
    monkeypatch.setattr(csv_io, "MAX_ROWS", 3)
    rows = [with_cell(GOOD_CREATE, "code", f"XR-{i}") for i in range(3)]

    assert product_import_csv(file=upload(csv_text(*rows))).created == 3


# --- Export, and export -> import ---


def export_bytes() -> bytes:
    return "".join(product_export_csv()).encode("utf-8")


def test_export_writes_bom_header_and_rows(catalogue):
    ProductFactory(
        code="XR-001", name="冻虾仁", category=catalogue["meat"], spec="1kg/袋", unit=Product.Unit.KG,
        price=Decimal("45.80"), catch_weight=True, nominal_weight=Decimal("2"), storage=Product.Storage.CHILLED,
        origin="湛江", default_supplier=catalogue["supplier"], is_active=False, min_quantity=Decimal("2"),
        step_quantity=Decimal("0.5"), sort_order=1,
    )

    content = export_bytes()

    assert content.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(content.decode("utf-8-sig")))) == [
        HEADER.split(","),
        ["XR-001", "冻虾仁", "冻虾类/虾仁", "1kg/袋", "kg", "45.80", "是", "2.00", "冷藏", "湛江", "海丰水产", "否",
         "2.00", "0.50", "1"],
        ["DY-001", "冻带鱼段", "冻鱼类/带鱼", "5斤/箱", "箱", "88.00", "否", "", "冷冻", "舟山", "", "是", "1.00",
         "1.00", "3"],
    ]


def test_export_comes_in_chunks(catalogue):
    for i in range(30):
        ProductFactory(category=catalogue["meat"])

    chunks = list(product_export_csv(chunk_chars=500))

    assert len(chunks) > 3
    assert len(list(csv.reader(io.StringIO("".join(chunks))))) == 32


def test_export_then_import_reproduces_the_data(catalogue):
    ProductFactory(
        code="XR-001", name="冻虾仁", category=catalogue["meat"], unit=Product.Unit.JIN, price=Decimal("45.80"),
        catch_weight=True, nominal_weight=Decimal("1.25"), storage=Product.Storage.CHILLED,
        default_supplier=catalogue["supplier"], is_active=False, step_quantity=Decimal("0.5"),
    )
    ProductFactory(code="TL_1", name="蒜蓉酱, 特辣", category=catalogue["sauces"], spec='12"瓶', origin="",
                   storage=Product.Storage.AMBIENT)
    original = snapshot()
    exported = export_bytes()
    Product.objects.update(
        name="改过", category=catalogue["ribbonfish"], spec="", unit=Product.Unit.EACH, price=Decimal("1"),
        catch_weight=False, nominal_weight=None, storage=Product.Storage.FROZEN, origin="别处",
        default_supplier=None, is_active=True, min_quantity=Decimal("3"), step_quantity=Decimal("3"), sort_order=99,
    )

    report = product_import_csv(file=SimpleUploadedFile("export.csv", exported))

    assert (report.created, report.updated, report.errors) == (0, 3, [])
    assert snapshot() == original
    again = product_import_csv(file=SimpleUploadedFile("export.csv", exported))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)


def test_exported_file_creates_the_same_products_elsewhere(catalogue):
    """The file of one shop imports into another: a database with the same categories and suppliers."""
    exported = export_bytes()
    existing = catalogue["existing"]
    Product.objects.filter(pk=existing.pk).update(code="DY-OLD")

    report = product_import_csv(file=SimpleUploadedFile("export.csv", exported))

    assert (report.created, report.updated) == (1, 0)
    fields = [f for f in SNAPSHOT_FIELDS if f not in ("code", "search_key")]
    assert Product.objects.filter(code="DY-001").values(*fields).get() == (
        Product.objects.filter(code="DY-OLD").values(*fields).get()
    )


def test_export_neutralises_formulas_in_text_cells_and_reimports_them_unchanged(catalogue):
    formula_supplier = SupplierFactory(name="@供应商")
    ProductFactory(
        code="-X1", name='=HYPERLINK("http://evil.example","冻虾仁")', category=catalogue["meat"], spec="+1kg",
        origin="\t湛江", default_supplier=formula_supplier, price=Decimal("45.80"),
    )
    ProductFactory(code="Q-1", name="'=已带引号", category=catalogue["meat"], spec="'普通", origin="-")
    original = snapshot()

    exported = export_bytes()
    rows = {row[0]: row for row in csv.reader(io.StringIO(exported.decode("utf-8-sig"), newline=""))}

    assert rows["'-X1"][1:4] == ['\'=HYPERLINK("http://evil.example","冻虾仁")', "冻虾类/虾仁", "'+1kg"]
    assert (rows["'-X1"][5], rows["'-X1"][9], rows["'-X1"][10]) == ("45.80", "'\t湛江", "'@供应商")
    assert (rows["Q-1"][1], rows["Q-1"][3], rows["Q-1"][9]) == ("''=已带引号", "'普通", "'-")
    formula_starts = ("=", "+", "-", "@", "\t", "\r")
    assert not [cell for row in rows.values() for cell in row if cell.startswith(formula_starts)]

    Product.objects.update(name="改过", spec="", origin="别处")
    report = product_import_csv(file=SimpleUploadedFile("export.csv", exported))

    assert (report.created, report.updated, report.errors) == (0, 3, [])
    assert snapshot() == original


@pytest.mark.parametrize("n", [10, 200])
def test_import_runs_a_bounded_number_of_queries(catalogue, django_assert_max_num_queries, n):
    ProductFactory.create_batch(n, category=catalogue["meat"])
    rows = [f"{p.code},{p.name}新,冻虾类/虾仁,袋,30" for p in Product.objects.exclude(code="DY-001")]
    rows += [f"NEW-{i},新品{i},冻虾类/虾仁,袋,30" for i in range(n)]

    with django_assert_max_num_queries(8):
        report = product_import_csv(file=upload(csv_text(*rows, header="code,name,category,unit,price")))

    assert (report.created, report.updated) == (n, n)


@pytest.mark.django_db(transaction=True)
def test_a_category_deleted_while_the_file_is_checked_refuses_the_import(catalogue, monkeypatch):
    spare = SubCategoryFactory(parent=catalogue["meat"].parent, name="虾球")
    before = snapshot()
    check_row = csv_io._apply

    def delete_category_then_check(product, values):
        Category.objects.filter(pk=spare.pk).delete()  # another admin, between checking and writing
        return check_row(product, values)

    monkeypatch.setattr(csv_io, "_apply", delete_category_then_check)

    with pytest.raises(Conflict) as excinfo:
        product_import_csv(file=upload(csv_text(GOOD_UPDATE, with_cell(GOOD_CREATE, "category", "冻虾类/虾球"))))

    assert excinfo.value.code == "csv_conflict"
    assert snapshot() == before
