"""The dashboard's tables: one definition each, read by the page and by its CSV export, so the file
holds exactly what the page shows (header row, then one row per line)."""

import csv
import io
from dataclasses import dataclass
from typing import Callable

from django.utils import timezone

from core.csv_safe import csv_text

from . import selectors


@dataclass(frozen=True)
class Table:
    key: str          # in the export's URL and file name
    title: str        # the page's heading and the file's Chinese name
    header: list[str]
    rows: Callable[[dict], list]   # the dashboard's figures → the table's rows (lists of cells)


def _d(day):
    return f"{day:%Y-%m-%d}"


def _campaign_rows(figures):
    return [[row["name"], f"{timezone.localtime(row['sent_at']):%Y-%m-%d}" if row["sent_at"] else "", row["recipients"], row["sent"], row["opened"], row["ordered"], row["gmv"],
             row["coupons_used"]] for row in figures["campaigns"] or []]


TABLES = [
    Table("daily", "每日订单与 GMV", ["日期", "订单数", "GMV(元)", "客单价(元)"],
          lambda f: [[_d(r["day"]), r["orders"], r["gmv"], r["average"]] for r in f["daily"]]),
    Table("monthly", "每月下单客户", ["月份", "起始日", "截止日", "下单客户数", "订单数"],
          lambda f: [[f"{r['month']:%Y-%m}", _d(r["first"]), _d(r["last"]), r["customers"], r["orders"]]
                     for r in f["monthly"]]),
    Table("customers", "新客户、流失与召回", ["日期", "新客户", "流失", "召回"],
          lambda f: [[_d(r["day"]), r["new"], r["churned"], r["reactivated"]] for r in f["flow"]]),
    Table("reps", "业务员排行", ["业务员", "在职", "新客户", "订单数", "GMV(元)", "客单价(元)", "召回",
                              "活动触达", "活动下单", "活动 GMV(元)"],
          lambda f: [[r["name"], "是" if r["active"] else "否", r["new_customers"], r["orders"], r["gmv"],
                      r["average"], r["won_back"],
                      *((r["campaign"]["sent"], r["campaign"]["ordered"], r["campaign"]["gmv"]) if r["campaign"]
                        else ("", "", ""))] for r in f["reps"]]),
    Table("categories", "热销品类", ["排名", "品类", "销售额(元)", "订单数"],
          lambda f: [[n, r["name"], r["amount"], r["orders"]] for n, r in enumerate(f["categories"], 1)]),
    Table("products", "热销商品", ["排名", "SKU", "商品", "单位", "数量", "销售额(元)", "订单数"],
          lambda f: [[n, r["code"], r["name"], r["unit"], r["quantity"], r["amount"],
                      r["orders"]] for n, r in enumerate(f["products"], 1)]),
    Table("campaigns", "营销活动效果", ["活动", "发起日期", "目标客户", "已触达", "打开链接", "7 天内下单", "7 天内 GMV(元)", "用券"],
          _campaign_rows),
]
BY_KEY = {table.key: table for table in TABLES}


def table_csv(table: Table, figures: dict) -> str:
    """The table as CSV text with a byte-order mark first: Excel in China opens UTF-8 only with one."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(table.header)
    # Text cells (names are typed by people) made safe for spreadsheets; numbers stay numbers.
    writer.writerows([csv_text(cell) if isinstance(cell, str) else cell for cell in row]
                     for row in table.rows(figures))
    return out.getvalue()


def table_filename(table: Table, period: selectors.Period) -> tuple[str, str]:
    """(ASCII name, Chinese name) of the export: which table and which days."""
    span = f"{period.first:%Y%m%d}-{period.last:%Y%m%d}"
    return f"dashboard-{table.key}-{span}.csv", f"经营看板-{table.title.replace(' ', '')}-{span}.csv"
