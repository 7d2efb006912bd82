"""The nightly automatic tags, set-based: the rules of crm.rules in SQL, then one DELETE and one
INSERT of the difference. A handful of statements whatever the number of customers; no customer
row travels to Python. Runs on PostgreSQL and on SQLite (`make run`).

`auto_tags_wanted_sql` is the rules' SQL in one statement from the order lines (what the
benchmark times on its own as the raw aggregate). `auto_tags_recompute` first writes the spend
per customer and category over the window (CustomerSpend, which segments' spend and category
filters read), computes the wanted tags from it, then removes the automatic tags no longer wanted
and adds the new ones; manual tags are never touched. Refused (Conflict) while another run holds
the settings row.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.errors import Conflict
from core.sql import table

from .models import AutoTagSettings, CategoryShareRule, CustomerSpend, CustomerTag, Tag, TagGroup

logger = logging.getLogger(__name__)
WANTED_TABLE = "crm_autotag_wanted"
SPEND_TABLE = "crm_autotag_spend"
SUMMARY_INDEX = "customerspend_category_idx"  # CustomerSpend.Meta.indexes


@dataclass(frozen=True)
class AutoTagResult:
    wanted: int
    added: int
    removed: int


def _names() -> dict:
    from catalog.models import Category, Product
    from orders.models import Order, OrderLine

    return {"order": table(Order), "line": table(OrderLine), "product": table(Product),
            "category": table(Category), "rule": table(CategoryShareRule), "tag": table(Tag),
            "group": table(TagGroup), "cancelled": Order.Status.CANCELLED, "auto": TagGroup.Kind.AUTO}


def _spend_sql(*, now: datetime, rules: AutoTagSettings) -> tuple[str, list]:
    """SELECT customer_id, category_id, amount: each customer's line amounts (packed amount once
    packed) per product category over the category window, paid and not cancelled orders."""
    n = _names()
    adapt = connection.ops.adapt_datetimefield_value
    return f"""
        SELECT o.customer_id, p.category_id, SUM(COALESCE(l.actual_amount, l.amount)) AS amount
        FROM {n['line']} l
        JOIN {n['order']} o ON o.id = l.order_id
        JOIN {n['product']} p ON p.id = l.product_id
        WHERE o.paid_at IS NOT NULL AND o.paid_at <= %s AND o.status <> '{n['cancelled']}' AND o.paid_at > %s
        GROUP BY o.customer_id, p.category_id""", [
        adapt(now), adapt(now - timedelta(days=rules.category_window_days))]


def _rules_sql(*, now: datetime, rules: AutoTagSettings, spend: str) -> tuple[str, list]:
    """The rules over `spend` (a relation of customer_id, category_id, amount): SELECT customer_id,
    tag_id. Scores are integers (RANK() and integer division), shares compared as sums × 100 ≥
    threshold × total, so nothing depends on floating point and the result equals crm.rules exactly."""
    n = _names()
    adapt = connection.ops.adapt_datetimefield_value
    rfm_since = adapt(now - timedelta(days=rules.rfm_window_days))
    sql = f"""
        total AS (
            SELECT customer_id, SUM(amount) AS amount FROM {spend} GROUP BY customer_id
        ), shares AS (
            SELECT s.customer_id, r.tag_id
            FROM {spend} s
            JOIN {n['category']} k ON k.id = s.category_id
            JOIN {n['rule']} r ON r.is_active AND (r.category_id = k.id OR r.category_id = k.parent_id)
            JOIN total t ON t.customer_id = s.customer_id
            WHERE t.amount > 0
            GROUP BY s.customer_id, r.id, r.tag_id, r.threshold_percent, t.amount
            HAVING SUM(s.amount) * 100 >= r.threshold_percent * t.amount
        ), rfm AS (
            SELECT o.customer_id, MAX(o.paid_at) AS last_at,
                   SUM(CASE WHEN o.paid_at > %s THEN 1 ELSE 0 END) AS f,
                   SUM(CASE WHEN o.paid_at > %s THEN o.total ELSE 0 END) AS m
            FROM {n['order']} o
            WHERE o.paid_at IS NOT NULL AND o.paid_at <= %s AND o.status <> '{n['cancelled']}'
            GROUP BY o.customer_id
        ), scored AS (
            SELECT customer_id, f,
                   1 + (5 * (RANK() OVER (ORDER BY last_at) - 1)) / COUNT(*) OVER () AS rs,
                   1 + (5 * (RANK() OVER (ORDER BY f) - 1)) / COUNT(*) OVER () AS fs,
                   1 + (5 * (RANK() OVER (ORDER BY m) - 1)) / COUNT(*) OVER () AS ms
            FROM rfm WHERE f > 0
        ), classes AS (
            SELECT customer_id, CASE
                WHEN ms >= 3 AND rs >= 3 AND fs >= 3 THEN 'important_value'
                WHEN ms >= 3 AND rs >= 3 THEN 'important_develop'
                WHEN ms >= 3 AND fs >= 3 THEN 'important_keep'
                WHEN ms >= 3 THEN 'important_win_back'
                WHEN rs >= 3 THEN 'ordinary'
                ELSE 'lost' END AS segment
            FROM scored
            UNION ALL
            SELECT customer_id, 'lost' FROM rfm WHERE f = 0
        )
        SELECT customer_id, tag_id FROM shares
        UNION
        SELECT c.customer_id, t.id
        FROM classes c
        JOIN {n['tag']} t ON t.rfm_segment = c.segment
        JOIN {n['group']} g ON g.id = t.group_id AND g.kind = '{n['auto']}'"""
    return sql, [rfm_since, rfm_since, adapt(now)]


def auto_tags_wanted_sql(*, now: datetime, rules: AutoTagSettings) -> tuple[str, list]:
    """SELECT customer_id, tag_id of every automatic tag wanted at `now` (crm.rules, in SQL), in one
    statement straight from the order lines: what the benchmark times as the raw aggregate."""
    spend_sql, spend_params = _spend_sql(now=now, rules=rules)
    rules_sql, rules_params = _rules_sql(now=now, rules=rules, spend="spend")
    return f"WITH spend AS ({spend_sql}), {rules_sql}", spend_params + rules_params


def auto_tags_recompute(*, now: datetime | None = None) -> AutoTagResult:
    """Tonight's automatic tags: what the rules want, no more, no less; and the spend summary
    (CustomerSpend) segments read. Safe to run twice."""
    now = now or timezone.now()
    AutoTagSettings.current()  # make sure the row to lock exists
    tags, summary = table(CustomerTag), table(CustomerSpend)
    with transaction.atomic():
        try:
            rules = AutoTagSettings.objects.select_for_update(nowait=True).get(pk=1)
        except DatabaseError:
            raise Conflict("自动标签正在计算，请稍后再试", code="autotags_running")
        spend_sql, spend_params = _spend_sql(now=now, rules=rules)
        wanted_sql, params = _rules_sql(now=now, rules=rules, spend=SPEND_TABLE)
        with connection.cursor() as cursor:
            # Tonight's spend into a temporary table first: CREATE TABLE AS may aggregate the lines
            # in parallel on PostgreSQL, INSERT ... SELECT may not (it took twice as long).
            cursor.execute(f"DROP TABLE IF EXISTS {SPEND_TABLE}")
            cursor.execute(f"CREATE TEMPORARY TABLE {SPEND_TABLE} AS {spend_sql}", spend_params)
            cursor.execute(f"ANALYZE {SPEND_TABLE}")
            # The summary segments read: rewritten whole, with a NULL-category row per customer (the total).
            # TRUNCATE on PostgreSQL: deleting half a million rows a night left as many dead ones for
            # the segment counts to step over until autovacuum came (readers wait for the commit).
            postgresql = connection.vendor == "postgresql"
            cursor.execute(f"TRUNCATE {summary}" if postgresql else f"DELETE FROM {summary}")
            # Its (category, customer) index built once after the rows are in, not entry by entry in
            # hash order (a third of the summary's write). TRUNCATE already holds the table's lock.
            if postgresql:
                cursor.execute(_summary_index_sql("remove"))
            cursor.execute(f"INSERT INTO {summary} (customer_id, category_id, amount) "
                           f"SELECT customer_id, category_id, amount FROM {SPEND_TABLE} UNION ALL "
                           f"SELECT customer_id, NULL, SUM(amount) FROM {SPEND_TABLE} GROUP BY customer_id")
            if postgresql:
                cursor.execute(_summary_index_sql("create"))
            cursor.execute(f"ANALYZE {summary}")
            cursor.execute(f"DROP TABLE IF EXISTS {WANTED_TABLE}")
            cursor.execute(f"CREATE TEMPORARY TABLE {WANTED_TABLE} AS WITH {wanted_sql}", params)
            # Indexed, so the DELETE's anti-join probes it whatever the planner believes about the
            # tag table: its statistics may still say "no automatic tags" (the night before), and a
            # nested loop over two unindexed sets would compare every tag with every wanted row.
            cursor.execute(f"CREATE INDEX {WANTED_TABLE}_idx ON {WANTED_TABLE} (customer_id, tag_id)")
            cursor.execute(f"ANALYZE {WANTED_TABLE}")
            cursor.execute(f"SELECT COUNT(*) FROM {WANTED_TABLE}")
            wanted = cursor.fetchone()[0]
            cursor.execute(f"""
                DELETE FROM {tags} WHERE source = %s AND NOT EXISTS (
                    SELECT 1 FROM {WANTED_TABLE} w WHERE w.customer_id = {tags}.customer_id AND w.tag_id = {tags}.tag_id)
            """, [CustomerTag.Source.AUTO])
            removed = cursor.rowcount
            # In (customer, tag) order: the unique index and the customer index take their entries
            # in key order. No ON CONFLICT: the NOT EXISTS already leaves out every pair present,
            # runs are one at a time (the settings row's lock), and people cannot add a tag of an
            # automatic group, so no other transaction can insert one of these pairs meanwhile; a
            # speculative insert per row cost more than the anti-join.
            cursor.execute(f"""
                INSERT INTO {tags} (customer_id, tag_id, source, created_at)
                SELECT w.customer_id, w.tag_id, %s, %s FROM {WANTED_TABLE} w
                WHERE NOT EXISTS (SELECT 1 FROM {tags} t WHERE t.customer_id = w.customer_id AND t.tag_id = w.tag_id)
                ORDER BY w.customer_id, w.tag_id
            """, [CustomerTag.Source.AUTO, connection.ops.adapt_datetimefield_value(now)])
            added = cursor.rowcount
            cursor.execute(f"DROP TABLE {WANTED_TABLE}")
            cursor.execute(f"DROP TABLE {SPEND_TABLE}")
        # An automatic tag may bring a price list: the lists in force follow tonight's tags.
        if Tag.objects.filter(group__kind=TagGroup.Kind.AUTO, price_list__isnull=False).exists():
            from catalog.price_lists import refresh

            refresh(None)
    logger.info("auto tags at %s: %s wanted, %s added, %s removed", now, wanted, added, removed)
    return AutoTagResult(wanted=wanted, added=added, removed=removed)


def _summary_index_sql(action: str) -> str:
    """DROP or CREATE of CustomerSpend's (category, customer) index, as the model declares it."""
    index = next(index for index in CustomerSpend._meta.indexes if index.name == SUMMARY_INDEX)
    qn = connection.ops.quote_name
    if action == "remove":
        return f"DROP INDEX {qn(index.name)}"
    columns = ", ".join(qn(CustomerSpend._meta.get_field(name).column) for name in index.fields)
    return f"CREATE INDEX {qn(index.name)} ON {qn(CustomerSpend._meta.db_table)} ({columns})"


def auto_tags_wanted_python(*, now: datetime) -> set[tuple[int, int]]:
    """The same pairs from the pure rules over every paid order loaded into Python: for the tests
    that hold the SQL to the rules (never for production sizes)."""
    from catalog.models import Category
    from orders.models import Order, OrderLine

    from .rules import PaidOrder, ShareRule, auto_tags_decide

    rules = AutoTagSettings.current()
    paid = Order.objects.filter(paid_at__isnull=False, paid_at__lte=now).exclude(status=Order.Status.CANCELLED)
    lines: dict = {}
    for order_id, category_id, amount, actual in OrderLine.objects.filter(order__in=paid).values_list(
            "order_id", "product__category_id", "amount", "actual_amount"):
        lines.setdefault(order_id, []).append((category_id, actual if actual is not None else amount))
    orders = [PaidOrder(customer_id=cid, paid_at=paid_at, total=total, lines=tuple(lines.get(pk, ())))
              for pk, cid, paid_at, total in paid.values_list("pk", "customer_id", "paid_at", "total")]
    share_rules = [ShareRule(category_id=r.category_id, threshold_percent=r.threshold_percent, tag_id=r.tag_id)
                   for r in CategoryShareRule.objects.filter(is_active=True)]
    rfm_tags = dict(Tag.objects.filter(group__kind=TagGroup.Kind.AUTO).exclude(rfm_segment="")
                    .values_list("rfm_segment", "pk"))
    parents = dict(Category.objects.values_list("pk", "parent_id"))
    return auto_tags_decide(orders, now=now, category_window_days=rules.category_window_days,
                            rfm_window_days=rules.rfm_window_days, rules=share_rules, parents=parents,
                            rfm_tags=rfm_tags)
