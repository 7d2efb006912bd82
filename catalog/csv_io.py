"""CSV import and export of products for the back office.

Import is all or nothing: every row is checked first, and a file with any bad row changes
nothing. A good file is upserted by SKU code in one transaction with bulk writes.
Files come from Excel, so both UTF-8 (with or without BOM) and GBK are read, and export writes
UTF-8 with a BOM, without which Excel on Chinese Windows shows the text garbled. Text cells that
Excel would run as a formula are exported with a leading quote, which import takes off again
(core/csv_safe.py), so a file exported and re-imported changes nothing.
"""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from django.db import IntegrityError, transaction

from core.csv_safe import csv_text, csv_text_read
from core.errors import Conflict, ValidationFailed
from core.inputs import has_control_characters
from logistics.models import Supplier

from .cache import catalog_changed
from .models import Category, Product

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
BATCH_SIZE = 1000
HEADER_ROW = 1  # row numbers are those Excel shows: the header is row 1

CENT = Decimal("0.01")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
TRUE_WORDS = {"1", "true", "是", "y", "yes"}
FALSE_WORDS = {"0", "false", "否", "n", "no"}
BOOLEAN_DOC = "是/否（也可写 1/0、true/false、Y/N）"


@dataclass(frozen=True)
class Column:
    code: str
    label: str  # the Chinese header, accepted in place of the code
    field_name: str  # on Product
    required: bool
    doc: str


def _choices_doc(choices) -> str:
    return "、".join(value if value == label else f"{label}（{value}）" for value, label in choices)


COLUMNS = (
    Column("code", "编码", "code", True, "SKU 编码：字母、数字、- 或 _，最长 32 位。已有的编码更新，新编码新建"),
    Column("name", "名称", "name", True, "商品名称，最长 80 字"),
    Column("category", "分类", "category", True, "“一级/二级”，须已存在；没有二级分类的一级分类只填一级"),
    Column("spec", "规格", "spec", False, "如 1kg/袋，最长 40 字"),
    Column("unit", "单位", "unit", True, _choices_doc(Product.Unit.choices)),
    Column("price", "单价", "price", True, "元，大于 0，最多两位小数"),
    Column("catch_weight", "按实重计价", "catch_weight", False, f"{BOOLEAN_DOC}，空为否；为“是”时须填标称重量"),
    Column("nominal_weight", "标称重量", "nominal_weight", False, "每个销售单位的标称重量（斤），大于 0，最多两位小数"),
    Column("storage", "储存方式", "storage", False, f"{_choices_doc(Product.Storage.choices)}，空为冷冻"),
    Column("origin", "产地", "origin", False, "最长 40 字"),
    Column("supplier", "供应商", "default_supplier", False, "默认供应商名称，须已存在；空为无"),
    Column("is_active", "上架", "is_active", False, f"{BOOLEAN_DOC}，空为是"),
    Column("min_quantity", "起订量", "min_quantity", False, "大于 0，最多两位小数，空为 1"),
    Column("step_quantity", "加购步长", "step_quantity", False, "大于 0，最多两位小数，空为 1"),
    Column("sort_order", "排序", "sort_order", False, "非负整数，空为 0"),
)
COLUMNS_BY_CODE = {column.code: column for column in COLUMNS}
_HEADER_ALIASES = {alias.lower(): c.code for c in COLUMNS for alias in (c.code, c.label)}


@dataclass(frozen=True)
class RowError:
    row: int
    column: str  # a column code, the header text of an unknown column, or "" for the whole row
    message: str

    @property
    def column_label(self) -> str:
        column = COLUMNS_BY_CODE.get(self.column)
        return f"{column.label}（{column.code}）" if column else self.column


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_rows(self) -> list[int]:
        return sorted({error.row for error in self.errors})

    @property
    def error_summary(self) -> str:
        data_rows = [row for row in self.bad_rows if row != HEADER_ROW]
        parts = ["表头有误"] if HEADER_ROW in self.bad_rows else []
        return "，".join(parts + ([f"{len(data_rows)} 行数据有误"] if data_rows else []))

    def add_error(self, row: int, column: str, message: str) -> None:
        self.errors.append(RowError(row=row, column=column, message=message))


class _CellError(Exception):
    pass


# --- Reading the file -------------------------------------------------------------------------


def _refuse(message: str, code: str) -> NoReturn:
    raise ValidationFailed(f"{message}，未导入任何数据", code=code)


def _read_text(file) -> str:
    if (getattr(file, "size", None) or 0) > MAX_FILE_BYTES:
        _refuse(f"文件超过 {MAX_FILE_BYTES // 1024 // 1024} MB", "csv_too_large")
    data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        _refuse(f"文件超过 {MAX_FILE_BYTES // 1024 // 1024} MB", "csv_too_large")
    not_text = "这不是 CSV 文本文件（Excel 表格请先“另存为 CSV”再导入）"
    if data.startswith(b"PK\x03\x04") or b"\x00" in data:  # .xlsx is a zip; UTF-16 has NULs
        _refuse(not_text, "csv_not_text")
    for encoding in ("utf-8-sig", "gb18030"):  # GB18030 is a superset of GBK, which Excel writes
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        _refuse("无法识别文件编码，请保存为 UTF-8 或 GBK 编码的 CSV", "csv_encoding")
    if has_control_characters(text):  # never in a text file: a binary file that happened to decode
        _refuse(not_text, "csv_not_text")
    if not text.strip():
        _refuse("文件为空", "csv_empty")
    return text


def _read_records(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the data records, each with the row number Excel shows."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records = []
    try:
        header = next(reader, [])
        for row_number, cells in enumerate(reader, start=HEADER_ROW + 1):
            if row_number - HEADER_ROW > MAX_ROWS:
                _refuse(f"超过 {MAX_ROWS} 行，请分成多个文件导入", "csv_too_many_rows")
            records.append((row_number, [csv_text_read(cell.strip()) for cell in cells]))
    except csv.Error as exc:
        _refuse(f"第 {reader.line_num} 行不是有效的 CSV（{exc}）", "csv_malformed")
    if not any(cell.strip() for cell in header):
        _refuse("第 1 行须为表头（列名）", "csv_no_header")
    return header, records


def _header_columns(header: list[str], report: ImportReport) -> dict[int, str]:
    """Cell index -> column code. Unknown, repeated and missing columns are errors on row 1."""
    columns: dict[int, str] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lstrip("\ufeff")
        if not name:
            continue
        code = _HEADER_ALIASES.get(name.lower())
        if code is None:
            report.add_error(HEADER_ROW, name, f"未知列「{name}」")
        elif code in columns.values():
            report.add_error(HEADER_ROW, code, "列重复")
        else:
            columns[index] = code
    for column in COLUMNS:
        if column.required and column.code not in columns.values():
            report.add_error(HEADER_ROW, column.code, "缺少必填列")
    return columns


# --- Checking cells ---------------------------------------------------------------------------


def _decimal(raw: str, *, what: str, max_digits: int) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _CellError(f"{what}不是有效数字：{raw}")
    if not value.is_finite():
        raise _CellError(f"{what}不是有效数字：{raw}")
    if value <= 0:
        raise _CellError(f"{what}必须大于 0")
    if value >= 10 ** (max_digits - 2):
        raise _CellError(f"{what}过大")
    if value != value.quantize(CENT):
        raise _CellError(f"{what}最多两位小数")
    return value.quantize(CENT)


def _boolean(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _CellError(f"应填 是 或 否，而不是「{raw}」")


def _choice(raw: str, choices, what: str) -> str:
    for value, label in choices:
        if raw.lower() == value.lower() or raw == label:
            return value
    raise _CellError(f"{what}「{raw}」不存在，可填：{_choices_doc(choices)}")


def _text(raw: str, *, max_length: int) -> str:
    if len(raw) > max_length:
        raise _CellError(f"最长 {max_length} 字，现有 {len(raw)} 字")
    return raw


def _category_path(text: str) -> str:
    return "/".join(part.strip() for part in text.split("/"))


def _code(raw: str) -> str:
    if not CODE_PATTERN.match(raw):
        raise _CellError("编码只能含字母、数字、- 和 _，最长 32 位")
    return raw


def _sort_order(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 2_147_483_647:  # "²".isdigit() is true
        raise _CellError("排序应为非负整数")
    return int(raw)


class _CellParser:
    """Turns one cell into a model value; categories and suppliers are looked up in memory."""

    def __init__(self):
        categories = list(Category.objects.select_related("parent"))
        parents = {c.parent_id for c in categories if c.parent_id}
        self.categories: dict[str, Category | None] = {}
        for category in categories:
            path = f"{category.parent.name}/{category.name}" if category.parent_id else category.name
            # A top-level category with shelves under it takes no products (Product.clean): None.
            usable = category.parent_id or category.pk not in parents
            self.categories[_category_path(path)] = category if usable else None
        self.suppliers = {supplier.name: supplier for supplier in Supplier.objects.all()}
        self.parsers = {
            "code": _code,
            "name": lambda raw: _text(raw, max_length=80),
            "category": self._category,
            "spec": lambda raw: _text(raw, max_length=40),
            "unit": lambda raw: _choice(raw, Product.Unit.choices, "单位"),
            "price": lambda raw: _decimal(raw, what="单价", max_digits=10),
            "catch_weight": _boolean,
            "nominal_weight": lambda raw: _decimal(raw, what="标称重量", max_digits=8),
            "storage": lambda raw: _choice(raw, Product.Storage.choices, "储存方式"),
            "origin": lambda raw: _text(raw, max_length=40),
            "supplier": self._supplier,
            "is_active": _boolean,
            "min_quantity": lambda raw: _decimal(raw, what="起订量", max_digits=8),
            "step_quantity": lambda raw: _decimal(raw, what="加购步长", max_digits=8),
            "sort_order": _sort_order,
        }

    def parse(self, code: str, raw: str):
        column = COLUMNS_BY_CODE[code]
        if raw == "":
            if column.required:
                raise _CellError("必填")
            return Product._meta.get_field(column.field_name).get_default()
        return self.parsers[code](raw)

    def _category(self, raw: str) -> Category:
        path = _category_path(raw)
        if path not in self.categories:
            raise _CellError(f"分类「{raw}」不存在，请先在后台建好分类")
        if self.categories[path] is None:
            raise _CellError(f"「{raw}」下还有二级分类，请填到二级分类")
        return self.categories[path]

    def _supplier(self, raw: str) -> Supplier:
        if raw not in self.suppliers:
            raise _CellError(f"供应商「{raw}」不存在")
        return self.suppliers[raw]


# --- Import -----------------------------------------------------------------------------------


def product_import_csv(*, file) -> ImportReport:
    """Check every row of a product CSV; if all are good, create or update products by code.

    An unreadable file is refused with ValidationFailed. Row problems come back in the report,
    and then nothing is written. Existing products keep the values of columns the file leaves out.
    """
    header, records = _read_records(_read_text(file))
    report = ImportReport()
    columns = _header_columns(header, report)
    code_index = next((index for index, code in columns.items() if code == "code"), None)
    codes = {cells[code_index] for _, cells in records if code_index is not None and len(cells) > code_index}
    existing = Product.objects.in_bulk(codes, field_name="code") if codes else {}
    parser = _CellParser()
    first_row_of_code: dict[str, int] = {}
    to_create, to_update, unchanged = [], [], 0
    changed_fields: set[str] = set()

    for row_number, cells in records:
        if not any(cells):
            continue  # Excel leaves blank rows at the end of a sheet
        report.rows += 1
        errors_before = len(report.errors)
        values = _row_values(row_number, cells, header=header, columns=columns, parser=parser, report=report)
        code = values.get("code")
        if code in first_row_of_code:
            report.add_error(row_number, "code", f"编码 {code} 与第 {first_row_of_code[code]} 行重复")
        elif code:
            first_row_of_code[code] = row_number
        if len(report.errors) > errors_before:
            continue
        product = existing.get(code) or Product()
        is_new = product.pk is None
        changed = _apply(product, values)
        if product.catch_weight and product.nominal_weight is None:
            report.add_error(row_number, "nominal_weight", "按实重计价的商品须填写标称重量")
        elif is_new:
            to_create.append(product)
        elif changed:
            to_update.append(product)
            changed_fields |= changed
        else:
            unchanged += 1

    if report.ok:
        _save(to_create=to_create, to_update=to_update, update_fields=changed_fields)
        report.created, report.updated, report.unchanged = len(to_create), len(to_update), unchanged
    return report


def _row_values(row_number, cells, *, header, columns, parser, report) -> dict:
    """Column code -> parsed value for one row; every bad cell goes into the report."""
    values = {}
    cells = cells + [""] * (len(header) - len(cells))  # some tools drop trailing empty cells
    for index, cell in enumerate(cells):
        if index in columns:
            try:
                values[columns[index]] = parser.parse(columns[index], cell)
            except _CellError as exc:
                report.add_error(row_number, columns[index], str(exc))
        elif cell and (index >= len(header) or not header[index].strip()):
            report.add_error(row_number, "", f"第 {index + 1} 列有内容但没有列名（多了逗号？）")
    return values


def _apply(product: Product, values: dict) -> set[str]:
    """Set the file's values on the product; the names of the fields whose value changed."""
    changed = set()
    for code, value in values.items():
        model_field = Product._meta.get_field(COLUMNS_BY_CODE[code].field_name)
        # Compare foreign keys by id: reading product.category would cost a query per row.
        current = getattr(product, model_field.attname)
        new = (value.pk if value else None) if model_field.is_relation else value
        if current != new:
            setattr(product, model_field.name, value)
            changed.add(model_field.name)
    return changed


def _save(*, to_create: list[Product], to_update: list[Product], update_fields: set[str]) -> None:
    """One INSERT ... ON CONFLICT (code) DO UPDATE per batch for new and changed products alike.

    bulk_update would write a CASE per column per row: 80 s for 30,000 changed SKUs here, against
    a few seconds for the upsert. Bulk writes skip Product.save(), which keeps the search key.
    """
    for product in to_create + (to_update if "name" in update_fields else []):
        product.refresh_search_key()
    derived = {"search_key", "updated_at"} if "name" in update_fields else {"updated_at"}
    try:
        with transaction.atomic():
            Product.objects.bulk_create(
                to_create + to_update, batch_size=BATCH_SIZE, update_conflicts=True, unique_fields=["code"],
                update_fields=sorted(update_fields | derived),
            )
    except IntegrityError:
        # Someone deleted a category or supplier, or edited a product, while the file was checked.
        raise Conflict("导入时商品、分类或供应商被他人同时修改，未导入任何数据，请重试", code="csv_conflict")
    catalog_changed()


# --- Export -----------------------------------------------------------------------------------


def _export_row(product: Product) -> list[str]:
    """Text cells go through csv_text (formula injection); numbers and yes/no are ours and stay bare."""
    category = product.category
    path = f"{category.parent.name}/{category.name}" if category.parent_id else category.name
    return [
        csv_text(product.code),
        csv_text(product.name),
        csv_text(path),
        csv_text(product.spec),
        product.unit,
        f"{product.price:f}",
        "是" if product.catch_weight else "否",
        "" if product.nominal_weight is None else f"{product.nominal_weight:f}",
        product.get_storage_display(),
        csv_text(product.origin),
        csv_text(product.default_supplier.name) if product.default_supplier_id else "",
        "是" if product.is_active else "否",
        f"{product.min_quantity:f}",
        f"{product.step_quantity:f}",
        str(product.sort_order),
    ]


def product_export_csv(*, chunk_chars: int = 64 * 1024) -> Iterator[str]:
    """All products as CSV text in chunks, BOM first; memory stays flat at 30,000 SKUs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([column.code for column in COLUMNS])
    products = Product.objects.select_related("category__parent", "default_supplier").order_by("sort_order", "id")
    for product in products.iterator(chunk_size=2000):
        writer.writerow(_export_row(product))
        if buffer.tell() >= chunk_chars:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
