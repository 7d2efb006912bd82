"""The company dashboard's figures, over a range of Shanghai days.

Every figure is an aggregate computed by the database; Python only lays the rows out (a day with
no orders gets its zeros) and divides two sums for an average. The number of queries is fixed —
it does not grow with the days in the range, the orders, the reps, the categories or the
products (tests/dashboard/test_company_dashboard.py counts them). On PostgreSQL the range's
orders are read once for the totals, days, months and reps (`sales_groups`) and its lines once
for the top categories and SKUs (`top_lines`); the ORM's per-figure queries (`sales_groups_orm`,
`top_categories`, `top_products`) are SQLite's path and the reference they are tested equal to.

The rules come from where they live:
- GMV and what counts as a sale: `orders.gmv` (all paid orders, net of refunds; the order's rep
  plays no part);
- churned and reactivated: the `ChurnEvent` rows the churn rule writes (`customers.churn`: the
  nightly sweep marks a customer churned, a churned customer's next payment reactivates them and
  credits the rep looking after them with the win-back);
- a new customer: one whose first paid order ever was paid in the range (as the rep dashboard's
  首单); a rep's new customers: restaurants the rep brought in (`Customer.acquired_by`) in the range;
- campaign results (per campaign sent in the range, and per rep): `campaigns.results`.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate, TruncMonth

from campaigns import results
from catalog.models import Category, Product
from customers.models import ChurnEvent, Customer
from orders.gmv import MONEY_FIELD, ZERO, with_gmv
from orders.models import Order, OrderLine
from reps.models import Rep

SHANGHAI = ZoneInfo(settings.TIME_ZONE)
TOP_CATEGORIES = 10
TOP_PRODUCTS = 20
NO_REP = "（无业务员）"


@dataclass(frozen=True)
class Period:
    """Shanghai days `first` to `last`, both included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, datetime.min.time(), tzinfo=SHANGHAI)

    @property
    def end(self) -> datetime:
        """The first moment after the range: midnight in Shanghai after `last`."""
        return datetime.combine(self.last + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def months(self) -> list[date]:
        months, month = [], self.first.replace(day=1)
        while month <= self.last:
            months.append(month)
            month = (month + timedelta(days=32)).replace(day=1)
        return months


def average(gmv: Decimal, orders: int) -> Decimal:
    """Average order value: GMV over the orders that count as sales; 0 without any."""
    return (gmv / orders).quantize(Decimal("0.01")) if orders else ZERO


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _sales(period: Period):
    """Paid orders of the range, each with its GMV (orders.gmv)."""
    return with_gmv(Order.objects.filter(paid_at__gte=period.start, paid_at__lt=period.end)).order_by()


SALE = Q(gmv__gt=0)


def _line_sales(period: Period):
    """Lines of the range's paid orders not cancelled, each with what it sold for: charged (the
    packed amount once packed) less its share of a coupon."""
    charged = ExpressionWrapper(Coalesce(F("actual_amount"), F("amount")) - F("discount"), output_field=MONEY_FIELD)
    return (OrderLine.objects.filter(order__paid_at__gte=period.start, order__paid_at__lt=period.end)
            .exclude(order__status=Order.Status.CANCELLED).annotate(sold=charged).order_by())


def sales_groups_orm(period: Period) -> dict:
    """The range's sales grouped four ways, by the ORM in four statements (one per grouping): the
    reference `sales_groups` is held equal to, and SQLite's path. Each group is {"orders": sales,
    "gmv": GMV, "customers": restaurants with a sale}; "days", "months" and "reps" by key."""
    def group(row, gmv="gmv"):
        return {"orders": row["orders"], "gmv": _money(row[gmv]), "customers": row["customers"]}

    total = _sales(period).aggregate(orders=Count("pk", filter=SALE), s_gmv=Sum("gmv"),
                                     customers=Count("customer_id", filter=SALE, distinct=True))
    by = {}
    for key, expression in (("days", TruncDate("paid_at", tzinfo=SHANGHAI)),
                            ("months", TruncMonth("paid_at", tzinfo=SHANGHAI)), ("reps", F("rep_id"))):
        rows = (_sales(period).annotate(key=expression).values("key")
                .annotate(orders=Count("pk", filter=SALE), s_gmv=Sum("gmv"),
                          customers=Count("customer_id", filter=SALE, distinct=True)))
        by[key] = {(row["key"].date() if isinstance(row["key"], datetime) else row["key"]): group(row, "s_gmv")
                   for row in rows}
    return {"total": group(total, "s_gmv"), **by}


def sales_groups(period: Period) -> dict:
    """`sales_groups_orm` in ONE statement on PostgreSQL: the range's paid orders, each with its
    GMV (`_sales`, i.e. orders.gmv's SQL, the same compiled query), are read once and grouped four
    ways (GROUPING SETS: the whole range, Shanghai days, months, reps) instead of once per figure."""
    if connection.vendor != "postgresql":
        return sales_groups_orm(period)
    orders = _sales(period).values(s_customer=F("customer_id"), s_rep=F("rep_id"), s_gmv=F("gmv"),
                                   s_day=TruncDate("paid_at", tzinfo=SHANGHAI),
                                   s_month=TruncMonth("paid_at", tzinfo=SHANGHAI))
    inner, params = orders.query.sql_with_params()
    # GROUPING(day, month, rep): a bit for each column grouped away, the day's the highest.
    sql = f"""
        SELECT GROUPING(s.s_day, s.s_month, s.s_rep), s.s_day, s.s_month, s.s_rep,
               count(*) FILTER (WHERE s.s_gmv > 0), sum(s.s_gmv),
               count(DISTINCT s.s_customer) FILTER (WHERE s.s_gmv > 0)
          FROM ({inner}) s
         GROUP BY GROUPING SETS ((), (s.s_day), (s.s_month), (s.s_rep))"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    result = {"total": {"orders": 0, "gmv": ZERO, "customers": 0}, "days": {}, "months": {}, "reps": {}}
    for grouping, day, month, rep_id, n, gmv, customers in rows:
        group = {"orders": n, "gmv": _money(gmv), "customers": customers}
        if grouping == 0b111:
            result["total"] = group
        elif grouping == 0b011:
            result["days"][day] = group
        elif grouping == 0b101:
            result["months"][month.date() if isinstance(month, datetime) else month] = group
        else:
            result["reps"][rep_id] = group
    return result


def totals(period: Period, groups: dict | None = None) -> dict:
    total = (groups or sales_groups(period))["total"]
    return {"orders": total["orders"], "gmv": total["gmv"], "average": average(total["gmv"], total["orders"]),
            "customers": total["customers"]}


def daily_sales(period: Period, groups: dict | None = None) -> list[dict]:
    """Per Shanghai day: orders (sales), GMV, average order value."""
    found = (groups or sales_groups(period))["days"]
    result = []
    for day in period.days:
        row = found.get(day, {})
        gmv, orders = row.get("gmv", ZERO), row.get("orders", 0)
        result.append({"day": day, "orders": orders, "gmv": gmv, "average": average(gmv, orders)})
    return result


def monthly_customers(period: Period, groups: dict | None = None) -> list[dict]:
    """Per calendar month (the part of it inside the range): restaurants with at least one sale."""
    found = (groups or sales_groups(period))["months"]
    result = []
    for month in period.months:
        row = found.get(month, {})
        result.append({"month": month, "first": max(month, period.first),
                       "last": min((month + timedelta(days=32)).replace(day=1) - timedelta(days=1), period.last),
                       "customers": row.get("customers", 0), "orders": row.get("orders", 0)})
    return result


def customer_flow(period: Period) -> tuple[list[dict], dict[int | None, int]]:
    """Per Shanghai day: new customers (first paid order ever), churned and reactivated (the churn
    rule's events). Also the win-backs per rep, from the same rows."""
    firsts = (Order.objects.filter(paid_at__gte=period.start, paid_at__lt=period.end).first_paid()
              .annotate(day=TruncDate("paid_at", tzinfo=SHANGHAI)).values("day")
              .annotate(n=Count("customer_id", distinct=True)).order_by())
    new = {row["day"]: row["n"] for row in firsts}
    events = (ChurnEvent.objects.filter(night__gte=period.first, night__lte=period.last,
                                        kind__in=[ChurnEvent.Kind.CHURNED, ChurnEvent.Kind.REACTIVATED])
              .values("night", "kind", "rep_id").annotate(n=Count("pk")).order_by())
    churned: dict[date, int] = {}
    reactivated: dict[date, int] = {}
    won_back: dict[int | None, int] = {}
    for row in events:
        if row["kind"] == ChurnEvent.Kind.CHURNED:
            churned[row["night"]] = churned.get(row["night"], 0) + row["n"]
        else:
            reactivated[row["night"]] = reactivated.get(row["night"], 0) + row["n"]
            won_back[row["rep_id"]] = won_back.get(row["rep_id"], 0) + row["n"]
    days = [{"day": day, "new": new.get(day, 0), "churned": churned.get(day, 0),
             "reactivated": reactivated.get(day, 0)} for day in period.days]
    return days, won_back


def rep_leaderboard(period: Period, *, won_back: dict, campaigns: dict | None = None,
                    groups: dict | None = None) -> list[dict]:
    """Per rep: new customers brought in, sales and GMV of the orders credited to them, win-backs,
    and their campaign results (reached, and the sales and GMV attributed to those reaches). Orders without a rep get a row of their
    own, so the board adds up to the company's GMV. Sorted by GMV."""
    sales = {rep_id: {"orders": row["orders"], "rep_gmv": row["gmv"]}
             for rep_id, row in (groups or sales_groups(period))["reps"].items()}
    acquired = {row["acquired_by_id"]: row["n"] for row in
                Customer.objects.filter(acquired_by__isnull=False, acquired_at__gte=period.start,
                                        acquired_at__lt=period.end)
                .values("acquired_by_id").annotate(n=Count("pk")).order_by()}
    campaigns = campaigns or {}
    ids = {pk for pk in [*sales, *acquired, *won_back, *campaigns] if pk is not None}
    reps = Rep.objects.filter(Q(is_active=True) | Q(pk__in=ids)).only("id", "name", "is_active").order_by("name", "id")
    rows = []
    for rep in reps:
        row = sales.get(rep.pk, {})
        gmv, orders = _money(row.get("rep_gmv")), row.get("orders", 0)
        rows.append({"rep_id": rep.pk, "name": rep.name, "active": rep.is_active, "new_customers": acquired.get(rep.pk, 0),
                     "orders": orders, "gmv": gmv, "average": average(gmv, orders), "won_back": won_back.get(rep.pk, 0),
                     "campaign": campaigns.get(rep.pk)})
    if None in sales or won_back.get(None) or None in campaigns:
        row = sales.get(None, {})
        gmv, orders = _money(row.get("rep_gmv")), row.get("orders", 0)
        rows.append({"rep_id": None, "name": NO_REP, "active": True, "new_customers": 0, "orders": orders,
                     "gmv": gmv, "average": average(gmv, orders), "won_back": won_back.get(None, 0),
                     "campaign": campaigns.get(None)})
    rows.sort(key=lambda r: (-r["gmv"], -r["new_customers"], r["rep_id"] is None, r["name"]))
    return rows


def top_categories(period: Period, *, limit: int = TOP_CATEGORIES) -> list[dict]:
    rows = list(_line_sales(period).values("product__category_id")
                .annotate(amount=Sum("sold"), orders=Count("order_id", distinct=True),
                          name=F("product__category__name"), parent=F("product__category__parent__name"))
                .order_by("-amount", "product__category_id")[:limit])
    return [{"category_id": row["product__category_id"],
             "name": f"{row['parent']} › {row['name']}" if row["parent"] else row["name"],
             "amount": _money(row["amount"]), "orders": row["orders"]} for row in rows]


def top_products(period: Period, *, limit: int = TOP_PRODUCTS) -> list[dict]:
    rows = list(_line_sales(period).values("product_id")
                .annotate(amount=Sum("sold"), quantity=Sum(Coalesce(F("packed_quantity"), F("quantity"))),
                          orders=Count("order_id", distinct=True), code=F("product__code"),
                          name=F("product__name"), unit=F("product__unit"))
                .order_by("-amount", "product_id")[:limit])
    return [{"product_id": row["product_id"], "code": row["code"], "name": row["name"], "unit": row["unit"],
             "quantity": row["quantity"], "amount": _money(row["amount"]), "orders": row["orders"]} for row in rows]


def top_lines(period: Period, *, categories: int = TOP_CATEGORIES, products: int = TOP_PRODUCTS) -> tuple[list, list]:
    """(top_categories, top_products) in ONE statement on PostgreSQL, by hash aggregates the
    database can run in parallel rather than a sort per DISTINCT: per SKU (and its category) the
    amount, quantity and orders — a count of lines, since an order holds a product on one line
    (orderline_unique_product); per category the amount summed from its SKUs and the orders as
    distinct (category, order) pairs. The lines and what they sold for are `_line_sales`'s (the
    same compiled query); elsewhere (SQLite) the two selectors above answer, and tests/dashboard
    holds the two equal."""
    if connection.vendor != "postgresql":
        return top_categories(period, limit=categories), top_products(period, limit=products)
    lines = _line_sales(period).values(
        s_product=F("product_id"), s_category=F("product__category_id"), s_order=F("order_id"), s_sold=F("sold"),
        s_quantity=Coalesce(F("packed_quantity"), F("quantity")))
    inner, params = lines.query.sql_with_params()
    product, category = Product._meta.db_table, Category._meta.db_table
    sql = f"""
        WITH per_product AS (
            SELECT s.s_product AS product_id, s.s_category AS category_id, sum(s.s_sold) AS amount,
                   sum(s.s_quantity) AS quantity, count(*) AS orders
              FROM ({inner}) s
             GROUP BY s.s_product, s.s_category
        ), per_category AS (
            SELECT a.category_id, a.amount, o.orders
              FROM (SELECT category_id, sum(amount) AS amount FROM per_product GROUP BY category_id) a
              JOIN (SELECT d.s_category AS category_id, count(*) AS orders
                      FROM (SELECT DISTINCT s.s_category, s.s_order FROM ({inner}) s) d
                     GROUP BY d.s_category) o ON o.category_id IS NOT DISTINCT FROM a.category_id
        ), ranked AS (
            SELECT 1 AS by_category, NULL::bigint AS product_id, category_id, amount, NULL::numeric AS quantity, orders,
                   row_number() OVER (ORDER BY amount DESC, category_id) AS place
              FROM per_category
             UNION ALL
            SELECT 0, product_id, NULL, amount, quantity, orders,
                   row_number() OVER (ORDER BY amount DESC, product_id)
              FROM per_product
        )
        SELECT r.by_category, r.product_id, r.category_id, r.amount, r.quantity, r.orders,
               p.code, p.name, p.unit, c.name, pc.name
          FROM ranked r
          LEFT JOIN {product} p ON p.id = r.product_id
          LEFT JOIN {category} c ON c.id = r.category_id
          LEFT JOIN {category} pc ON pc.id = c.parent_id
         WHERE r.place <= CASE WHEN r.by_category = 1 THEN %s ELSE %s END
         ORDER BY r.by_category DESC, r.place"""
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, *params, categories, products))
        rows = cursor.fetchall()
    top_c, top_p = [], []
    for by_category, product_id, category_id, amount, quantity, orders, code, name, unit, cname, parent in rows:
        if by_category:
            top_c.append({"category_id": category_id, "name": f"{parent} › {cname}" if parent else cname,
                          "amount": _money(amount), "orders": orders})
        else:
            top_p.append({"product_id": product_id, "code": code, "name": name, "unit": unit, "quantity": quantity,
                          "amount": _money(amount), "orders": orders})
    return top_c, top_p


def campaign_results(period: Period) -> dict:
    """The campaigns sent in the range and their results, and the same per rep (the customer's
    rep when the campaign was sent): `campaigns.results`, whose rules (reach, the 7-day
    attribution, GMV by orders.gmv) live there. Six queries with campaigns, three without."""
    rows = results.campaign_results(since=period.start, until=period.end)
    return {"rows": rows, "per_rep": results.campaign_results_by_rep(since=period.start, until=period.end)}


def _prepare(*, outermost: bool) -> None:
    """On PostgreSQL, in one statement:
    - one snapshot for every figure (REPEATABLE READ, read only), so the totals, the days and the
      leaderboard add up even while orders are being paid — when the dashboard opens the
      transaction itself (not inside another one, e.g. a test's);
    - JIT off: it compiles a plan whose estimated cost is high — these aggregates' is, from the
      refunds' subplans — and on 30 days of 600,000 orders it spent 4 s compiling for 0.6 s of
      work (bench/company_dashboard.py);
    - work_mem 64MB: the sorts and hashes of a month's orders and lines (tens of MB) stay in
      memory instead of spilling to disk (external merge sorts, batched hashes).
    For this transaction only."""
    if connection.vendor != "postgresql":
        return
    snapshot = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; " if outermost else ""
    with connection.cursor() as cursor:
        cursor.execute(snapshot + "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")


def company_dashboard(period: Period) -> dict:
    """Everything the dashboard shows, in a fixed number of queries."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        _prepare(outermost=outermost)
        return _figures(period)


def _figures(period: Period) -> dict:
    flow, won_back = customer_flow(period)
    campaigns = campaign_results(period)
    categories, products = top_lines(period)
    groups = sales_groups(period)
    return {
        "totals": totals(period, groups),
        "daily": daily_sales(period, groups),
        "monthly": monthly_customers(period, groups),
        "flow": flow,
        "flow_totals": {key: sum(row[key] for row in flow) for key in ("new", "churned", "reactivated")},
        "reps": rep_leaderboard(period, won_back=won_back, campaigns=campaigns["per_rep"], groups=groups),
        "categories": categories,
        "products": products,
        "campaigns": campaigns["rows"],
    }
