"""The company dashboard (admin › 公司经营看板): figures on a small known world, Shanghai days,
CSV exports, who may see it, bad filters, and a query count that no range or volume changes."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import unquote

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import ChurnEvent
from dashboard.selectors import Period, company_dashboard
from orders.models import Order, OrderLine, Refund
from tests.factories import CustomerFactory, ProductFactory, RepFactory, SubCategoryFactory

from .world import at, order

pytestmark = pytest.mark.django_db
D = Decimal
PAGE = "/admin/company-dashboard/"
NOVEMBER = {"start": "2026-11-01", "end": "2026-11-30"}


def csv_url(table):
    return f"{PAGE}{table}.csv"


@pytest.fixture
def world():
    """November 2026 in Shanghai: two reps, four restaurants, orders of every kind."""
    zhang, li = RepFactory(name="张三"), RepFactory(name="李四")
    shrimp = SubCategoryFactory(name="虾仁", parent__name="冻虾类")
    fish = SubCategoryFactory(name="带鱼", parent__name="冻鱼类")
    prawn, hairtail = ProductFactory(code="XR01", name="虾仁 500g", category=shrimp), ProductFactory(
        code="DY01", name="带鱼段", category=fish)
    # 老王 has ordered since October: not new in November.
    old = CustomerFactory(name="老王酒家", rep=zhang, acquired_by=zhang, acquired_at=at(1, 9, month=10))
    order(old, total="50.00", paid_at=at(20, 12, month=10), rep=zhang, lines=[(prawn, "50.00")])
    a = CustomerFactory(name="=HYPERLINK(\"x\")餐厅", rep=zhang, acquired_by=zhang, acquired_at=at(3, 10))
    b = CustomerFactory(name="小李烧烤", rep=li, acquired_by=li, acquired_at=at(5, 10))
    c = CustomerFactory(name="散客", rep=None)
    return {
        "zhang": zhang, "li": li, "old": old, "a": a, "b": b, "c": c, "prawn": prawn, "hairtail": hairtail,
        "orders": [
            order(old, total="100.00", paid_at=at(3, 9), rep=zhang, lines=[(prawn, "100.00", 2)]),
            order(a, total="200.00", paid_at=at(3, 23, 59, 59), rep=zhang,
                  lines=[(prawn, "120.00", 2), (hairtail, "80.00", 4)]),                  # a's first, 3rd late at night
            order(a, total="60.00", paid_at=at(4, 0, 0, 0), rep=zhang, lines=[(hairtail, "60.00", 3)],
                  refunds=[("20.00", Refund.Status.SUCCEEDED)]),                           # the 4th, refunded in part
            order(b, total="90.00", paid_at=at(5, 11), rep=li, status=Order.Status.CANCELLED,
                  lines=[(hairtail, "90.00", 4)], refunds=[("90.00", Refund.Status.SUCCEEDED)]),  # fully refunded
            order(b, total="40.00", paid_at=at(30, 23, 30), rep=li, lines=[(prawn, "40.00")]),   # b's first sale
            order(c, total="70.00", paid_at=at(12, 8), lines=[(hairtail, "70.00", 3)]),   # no rep
            order(c, total="33.00", created=at(13, 8)),                                   # never paid
            order(c, total="500.00", paid_at=at(1, 0, 0, 0, month=12)),                   # after the range
            order(old, total="999.00", paid_at=at(31, 23, 59, 59, month=10), rep=zhang),  # before it
        ],
    }


def churn(customer, kind, day, rep=None):
    ChurnEvent.objects.create(customer=customer, kind=kind, night=date(2026, 11, day), rep=rep)


def test_figures_on_known_data(world):
    churn(world["old"], ChurnEvent.Kind.CHURNED, 2, world["zhang"])
    churn(world["old"], ChurnEvent.Kind.REACTIVATED, 3, world["zhang"])
    churn(world["b"], ChurnEvent.Kind.CHURNED, 28, world["li"])
    churn(world["c"], ChurnEvent.Kind.AT_RISK, 10)  # not a churn, not a win-back
    figures = company_dashboard(Period(first=date(2026, 11, 1), last=date(2026, 11, 30)))

    # GMV: 100 + 200 + (60 − 20) + (90 − 90) + 40 + 70; the fully refunded order is no sale.
    assert figures["totals"] == {"orders": 5, "gmv": D("450.00"), "average": D("90.00"), "customers": 4}
    daily = {row["day"].day: row for row in figures["daily"]}
    assert len(daily) == 30
    assert (daily[3]["orders"], daily[3]["gmv"], daily[3]["average"]) == (2, D("300.00"), D("150.00"))
    assert (daily[4]["orders"], daily[4]["gmv"]) == (1, D("40.00"))
    assert (daily[5]["orders"], daily[5]["gmv"], daily[5]["average"]) == (0, D("0.00"), D("0.00"))
    assert daily[30]["gmv"] == D("40.00")  # 23:30 in Shanghai is still the 30th (15:30 UTC)
    assert daily[1]["gmv"] == D("0.00")    # October's last second is not November's
    assert [(row["month"], row["customers"], row["orders"]) for row in figures["monthly"]] == [
        (date(2026, 11, 1), 4, 5)]

    flow = {row["day"].day: row for row in figures["flow"]}
    # New: a on the 3rd, b on the 5th (a first paid order, even one refunded later), c on the 12th.
    assert {day: row["new"] for day, row in flow.items() if row["new"]} == {3: 1, 5: 1, 12: 1}
    assert {day: row["churned"] for day, row in flow.items() if row["churned"]} == {2: 1, 28: 1}
    assert {day: row["reactivated"] for day, row in flow.items() if row["reactivated"]} == {3: 1}
    assert figures["flow_totals"] == {"new": 3, "churned": 2, "reactivated": 1}

    board = {row["name"]: row for row in figures["reps"]}
    assert [row["name"] for row in figures["reps"]] == ["张三", "（无业务员）", "李四"]
    assert (board["张三"]["new_customers"], board["张三"]["orders"], board["张三"]["gmv"], board["张三"]["won_back"]) == (
        1, 3, D("340.00"), 1)
    assert (board["李四"]["new_customers"], board["李四"]["orders"], board["李四"]["gmv"]) == (1, 1, D("40.00"))
    assert board["（无业务员）"]["gmv"] == D("70.00")
    assert sum(row["gmv"] for row in figures["reps"]) == figures["totals"]["gmv"]

    # Lines of paid orders not cancelled: 虾仁 100 + 120 + 40, 带鱼 80 + 60 + 70 (the cancelled 90 left out).
    assert [(row["name"], row["amount"], row["orders"]) for row in figures["categories"]] == [
        ("冻虾类 › 虾仁", D("260.00"), 3), ("冻鱼类 › 带鱼", D("210.00"), 3)]
    assert [(row["code"], row["quantity"], row["amount"]) for row in figures["products"]] == [
        ("XR01", D("5.00"), D("260.00")), ("DY01", D("10.00"), D("210.00"))]


def test_a_range_is_whole_shanghai_days(world):
    third = company_dashboard(Period(first=date(2026, 11, 3), last=date(2026, 11, 3)))
    assert third["totals"]["gmv"] == D("300.00")  # 09:00 and 23:59:59, not 00:00 on the 4th
    fourth = company_dashboard(Period(first=date(2026, 11, 4), last=date(2026, 11, 4)))
    assert fourth["totals"]["gmv"] == D("40.00")
    december = company_dashboard(Period(first=date(2026, 12, 1), last=date(2026, 12, 1)))
    assert december["totals"]["gmv"] == D("500.00")  # 00:00 Shanghai on the 1st = 16:00 UTC on 30 Nov


def test_months_are_cut_to_the_range(world):
    figures = company_dashboard(Period(first=date(2026, 10, 20), last=date(2026, 12, 5)))
    assert [(row["month"], row["first"], row["last"], row["customers"]) for row in figures["monthly"]] == [
        (date(2026, 10, 1), date(2026, 10, 20), date(2026, 10, 31), 1),
        (date(2026, 11, 1), date(2026, 11, 1), date(2026, 11, 30), 4),
        (date(2026, 12, 1), date(2026, 12, 1), date(2026, 12, 5), 1)]


def test_the_page_shows_the_figures_tables_and_charts(admin_client, world):
    response = admin_client.get(PAGE, NOVEMBER)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="total-gmv">¥450.00' in page
    assert "2026-11-01 至 2026-11-30" in page
    for key in ("daily", "monthly", "customers", "reps", "categories", "products"):
        assert f'data-testid="table-{key}"' in page
        assert f'href="{csv_url(key)}?start=2026-11-01&amp;end=2026-11-30"' in page
    assert 'id="chart-daily"' in page and "vendor/chartjs/chart.umd.min.js" in page
    assert 'data-testid="table-campaigns"' in page


def test_defaults_to_the_last_30_shanghai_days(admin_client):
    with time_machine.travel(at(10, 0, 30, month=12), tick=False):  # 00:30 in Shanghai, 16:30 UTC the day before
        response = admin_client.get(PAGE)
    period = response.context["period"]
    assert (period.first, period.last) == (date(2026, 11, 11), date(2026, 12, 10))
    assert len(response.context["daily"]) == 30


def test_linked_from_the_admin_index_for_those_who_may_see_it(admin_client, client):
    assert f'href="{PAGE}"' in admin_client.get("/admin/").content.decode()
    staff = User.objects.create_user(username="plain-staff", password="x", is_staff=True)
    client.force_login(staff)
    assert f'href="{PAGE}"' not in client.get("/admin/").content.decode()


def _rows(response):
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, so Excel opens the Chinese
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_csv_exports_hold_the_tables(admin_client, world):
    churn(world["old"], ChurnEvent.Kind.REACTIVATED, 3, world["zhang"])
    daily = admin_client.get(csv_url("daily"), NOVEMBER)
    assert daily.status_code == 200
    assert daily["Content-Type"] == "text/csv; charset=utf-8"
    disposition = daily["Content-Disposition"]
    assert 'attachment; filename="dashboard-daily-20261101-20261130.csv"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "经营看板-每日订单与GMV-20261101-20261130.csv"
    rows = _rows(daily)
    assert rows[0] == ["日期", "订单数", "GMV(元)", "客单价(元)"]
    assert len(rows) == 31
    assert rows[3] == ["2026-11-03", "2", "300.00", "150.00"]

    reps = _rows(admin_client.get(csv_url("reps"), NOVEMBER))
    assert reps[0][:7] == ["业务员", "在职", "新客户", "订单数", "GMV(元)", "客单价(元)", "召回"]
    assert reps[1][:7] == ["张三", "是", "1", "3", "340.00", "113.33", "1"]

    customers = _rows(admin_client.get(csv_url("customers"), NOVEMBER))
    assert customers[3] == ["2026-11-03", "1", "0", "1"]

    products = _rows(admin_client.get(csv_url("products"), NOVEMBER))
    assert products[0] == ["排名", "SKU", "商品", "单位", "数量", "销售额(元)", "订单数"]
    assert products[1][:3] == ["1", "XR01", "虾仁 500g"]


def test_csv_cells_typed_by_people_cannot_run_as_formulas(admin_client):
    rep = RepFactory(name="=cmd|' /C calc'!A0")
    customer = CustomerFactory(rep=rep)
    order(customer, total="10.00", paid_at=at(3, 12), rep=rep)
    rows = _rows(admin_client.get(csv_url("reps"), NOVEMBER))
    assert rows[1][0] == "'=cmd|' /C calc'!A0"
    assert rows[1][4] == "10.00"  # numbers stay numbers


def test_an_unknown_table_is_a_404(admin_client):
    assert admin_client.get(csv_url("nope"), NOVEMBER).status_code == 404


BAD_FILTERS = [
    ({"start": "2026-13-01"}, "开始日期格式有误"),
    ({"end": "yesterday"}, "结束日期格式有误"),
    ({"start": "2026-11-30", "end": "2026-11-01"}, "开始日期不能晚于结束日期"),
    ({"start": "2025-01-01", "end": "2026-11-30"}, "日期范围最多 366 天"),
    ({"start": "0001-01-01", "end": "0001-01-02"}, "开始日期须在 2000-01-01"),
    ({"start": "9999-12-30", "end": "9999-12-31"}, "开始日期须在 2000-01-01"),
    ({"start": "99999-01-01"}, "开始日期格式有误"),
]


@pytest.mark.parametrize("query,message", BAD_FILTERS, ids=[m for _, m in BAD_FILTERS])
def test_bad_filters_say_why_in_chinese(admin_client, query, message):
    page = admin_client.get(PAGE, query)
    assert page.status_code == 200
    assert message in page.content.decode()
    assert "已显示最近 30 天" in page.content.decode()
    assert len(page.context["daily"]) == 30
    export = admin_client.get(csv_url("daily"), query)
    assert export.status_code == 400
    assert message in export.content.decode()


def test_the_longest_range_is_366_days(admin_client):
    response = admin_client.get(PAGE, {"start": "2025-12-01", "end": "2026-12-01"})
    assert response.status_code == 200 and response.context["error"] == ""
    assert len(response.context["daily"]) == 366


def test_only_staff_with_the_permission(client, world):
    for url in (PAGE, csv_url("daily")):
        assert client.get(url)["Location"].startswith("/admin/login/")
    # Staff holding every other permission of the product are refused; the permission alone lets in.
    staff = User.objects.create_user(username="staff-no-dash", password="x", is_staff=True)
    staff.user_permissions.set(Permission.objects.exclude(content_type__app_label__in=["auth", "dashboard"]))
    client.force_login(staff)
    for url in (PAGE, csv_url("daily")):
        assert client.get(url, NOVEMBER).status_code == 403
    staff.user_permissions.set([Permission.objects.get(codename="view_company_dashboard")])
    staff = User.objects.get(pk=staff.pk)  # the permission cache
    client.force_login(staff)
    assert client.get(PAGE, NOVEMBER).status_code == 200
    assert client.get(csv_url("daily"), NOVEMBER).status_code == 200
    # Not staff at all: admin's login page, whatever the permissions.
    outsider = User.objects.create_user(username="outsider", password="x", is_staff=False)
    outsider.user_permissions.set([Permission.objects.get(codename="view_company_dashboard")])
    client.force_login(outsider)
    assert client.get(PAGE)["Location"].startswith("/admin/login/")


# --- A fixed number of queries -------------------------------------------------------------------

def _orders(n: int, *, first: date, days: int):
    """n paid orders spread over `days` days from `first`, across reps, customers, products and
    refunds, written in bulk."""
    reps = [RepFactory() for _ in range(3)]
    products = [ProductFactory() for _ in range(4)]
    customers = [CustomerFactory(rep=reps[i % 3], acquired_by=reps[i % 3],
                                 acquired_at=at(first.day, 9, month=first.month, year=first.year))
                 for i in range(min(n, 25))]
    for i in range(n):
        moment = at(first.day, 10, month=first.month, year=first.year) + timedelta(days=i % days, minutes=i)
        refunds = [("5.00", Refund.Status.SUCCEEDED)] if i % 7 == 0 else []
        order(customers[i % len(customers)], total="50.00", paid_at=moment, rep=reps[i % 3] if i % 5 else None,
              lines=[(products[i % 4], "50.00")], refunds=refunds)
    for i, customer in enumerate(customers[:6]):
        ChurnEvent.objects.create(customer=customer, night=first + timedelta(days=i % days),
                                  kind=ChurnEvent.Kind.REACTIVATED if i % 2 else ChurnEvent.Kind.CHURNED,
                                  rep=customer.rep)


def _queries(client, query) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(PAGE, query)
    assert response.status_code == 200 and response.context["error"] == ""
    return len(captured)


def test_queries_do_not_grow_with_the_range(admin_client):
    _orders(200, first=date(2026, 3, 1), days=180)
    one_day = _queries(admin_client, {"start": "2026-03-01", "end": "2026-03-01"})
    half_a_year = _queries(admin_client, {"start": "2026-03-01", "end": "2026-08-27"})
    assert one_day == half_a_year


def test_queries_do_not_grow_with_the_orders(admin_client):
    _orders(10, first=date(2026, 3, 1), days=30)
    ten = _queries(admin_client, {"start": "2026-03-01", "end": "2026-03-30"})
    _orders(990, first=date(2026, 3, 1), days=30)
    assert Order.objects.count() == 1000
    thousand = _queries(admin_client, {"start": "2026-03-01", "end": "2026-03-30"})
    assert ten == thousand
    # the user; a savepoint, JIT off, new customers, churn events, campaigns sent in the range
    # (none: one query), campaign results per rep (two), totals, days, months, reps' sales, reps'
    # new customers, the reps, categories, products, its release; three settings rows other
    # admin pages look for.
    assert thousand <= 20


# --- Campaign results (campaigns.results) --------------------------------------------------------

def _campaign_world():
    """张三's two customers get a rep-task campaign on 10 November (both reached); one pays 120.00
    two days later (attributed), the other pays 40.00 nine days later (outside the 7 days)."""
    from campaigns.models import Campaign, CampaignRecipient
    from tests.campaigns.conftest import make_campaign, segment_of, send

    zhang = RepFactory(name="张三")
    first, second = CustomerFactory(rep=zhang), CustomerFactory(rep=zhang)
    campaign = send(make_campaign(segment_of([first, second]), name="新到冻虾"))
    Campaign.objects.filter(pk=campaign.pk).update(send_requested_at=at(10, 9))
    CampaignRecipient.objects.filter(campaign=campaign).update(status=CampaignRecipient.Status.SENT,
                                                               sent_at=at(10, 10))
    order(first, total="120.00", paid_at=at(12, 11), rep=zhang)
    order(second, total="40.00", paid_at=at(19, 11), rep=zhang)
    return zhang, campaign


def test_campaign_results_in_the_table_and_the_leaderboard(admin_client):
    zhang, campaign = _campaign_world()
    figures = company_dashboard(Period(first=date(2026, 11, 1), last=date(2026, 11, 30)))
    [row] = figures["campaigns"]
    assert (row["name"], row["recipients"], row["sent"], row["ordered"], row["gmv"]) == ("新到冻虾", 2, 2, 1, D("120.00"))
    board = {r["name"]: r for r in figures["reps"]}
    assert board["张三"]["campaign"] == {"sent": 2, "ordered": 1, "gmv": D("120.00")}
    assert board["张三"]["gmv"] == D("160.00")  # all their sales, campaign or not
    rows = _rows(admin_client.get(csv_url("campaigns"), NOVEMBER))
    assert rows[0] == ["活动", "发起日期", "目标客户", "已触达", "打开链接", "7 天内下单", "7 天内 GMV(元)", "用券"]
    assert rows[1] == ["新到冻虾", "2026-11-10", "2", "2", "0", "1", "120.00", "0"]
    reps = _rows(admin_client.get(csv_url("reps"), NOVEMBER))
    assert reps[1][0] == "张三" and reps[1][7:] == ["2", "1", "120.00"]
    # A range without the campaign's sending has no campaign rows.
    assert company_dashboard(Period(first=date(2026, 11, 11), last=date(2026, 11, 30)))["campaigns"] == []


def test_queries_with_campaigns_do_not_grow_with_the_range(admin_client):
    _campaign_world()
    _orders(50, first=date(2026, 11, 1), days=30)
    one_day = _queries(admin_client, {"start": "2026-11-10", "end": "2026-11-10"})
    month = _queries(admin_client, {"start": "2026-11-01", "end": "2026-11-30"})
    assert one_day == month
    assert month <= 23  # campaign results: four queries, not one, once there are campaigns


@pytest.mark.django_db(transaction=True)
def test_every_figure_reads_one_snapshot_when_the_dashboard_opens_the_transaction():
    customer = CustomerFactory()
    order(customer, total="88.00", paid_at=at(3, 12))
    with CaptureQueriesContext(connection) as captured:
        figures = company_dashboard(Period(first=date(2026, 11, 1), last=date(2026, 11, 30)))
    assert figures["totals"]["gmv"] == sum(row["gmv"] for row in figures["daily"]) == D("88.00")
    assert any("REPEATABLE READ, READ ONLY" in query["sql"] for query in captured.captured_queries)


# --- The one statement of the top categories and SKUs ---------------------------------------------


@pytest.mark.parametrize("limits", [(10, 20), (1, 1), (2, 3)])
def test_top_lines_statement_agrees_with_the_two_selectors(world, limits):
    """dashboard.selectors.top_lines (one GROUPING SETS statement on PostgreSQL) answers exactly
    what top_categories and top_products (the ORM, and SQLite's path) do: amounts, quantities,
    orders, names, the order of ties and the limits; a third product in another category, lines
    packed to another quantity and a cancelled order included."""
    from dashboard.selectors import top_categories, top_lines, top_products

    crab = ProductFactory(code="XB01", name="蟹棒", category=SubCategoryFactory(name="蟹类", parent=None))
    order(world["b"], total="100.00", paid_at=at(20, 10), rep=world["li"],
          lines=[(crab, "100.00", 5), (world["prawn"], "120.00", 1)])
    OrderLine.objects.filter(product=crab).update(packed_quantity=D("4.5"), actual_amount=D("90.00"))
    for period in (Period(first=date(2026, 11, 1), last=date(2026, 11, 30)),
                   Period(first=date(2026, 11, 4), last=date(2026, 11, 4)),
                   Period(first=date(2026, 10, 1), last=date(2026, 12, 31)),
                   Period(first=date(2025, 1, 1), last=date(2025, 1, 2))):
        categories, products = top_lines(period, categories=limits[0], products=limits[1])
        assert categories == top_categories(period, limit=limits[0])
        assert products == top_products(period, limit=limits[1])
    assert any(row["name"] == "蟹类" for row in top_lines(Period(first=date(2026, 11, 1), last=date(2026, 11, 30)))[0])


def test_sales_groups_statement_agrees_with_the_orm(world):
    """dashboard.selectors.sales_groups (one GROUPING SETS statement on PostgreSQL) answers exactly
    what sales_groups_orm (the ORM, one statement per grouping, and SQLite's path) does: the
    range, its Shanghai days, months and reps, with refunds of every kind and orders without a rep."""
    from dashboard.selectors import sales_groups, sales_groups_orm

    order(world["a"], total="80.00", paid_at=at(15, 12), rep=world["li"],
          refunds=[("30.00", Refund.Status.FAILED), ("10.00", Refund.Status.PROCESSING)])
    order(world["c"], total="0.00", paid_at=at(16, 12))  # paid nothing: no sale, no GMV
    for period in (Period(first=date(2026, 11, 1), last=date(2026, 11, 30)),
                   Period(first=date(2026, 11, 4), last=date(2026, 11, 4)),
                   Period(first=date(2026, 10, 1), last=date(2026, 12, 31)),
                   Period(first=date(2025, 1, 1), last=date(2025, 1, 2))):
        assert sales_groups(period) == sales_groups_orm(period)
    november = sales_groups(Period(first=date(2026, 11, 1), last=date(2026, 11, 30)))
    assert None in november["reps"] and len(november["months"]) == 1 and len(november["days"]) > 3
