"""Checkout's coupon SQL. Reading: the SQL that joins the coupon the buyer chose, its template,
its categories and whether an order already holds it to checkout's visitor row, and the
`CouponTerms` (coupons.rules) built from what came back. Like the price list
(checkout_prices), it costs no extra round trip: the coupon's id is one more parameter of the
visitor's read. Nothing is locked here: the database's unique rule on held redemptions
(coupons.CouponRedemption, `couponredemption_unique_held`) decides a race when checkout writes.

Writing: the redemption row that holds the coupon for the new order, as one more part of
checkout's single write statement on PostgreSQL (`redemption_cte`) or one INSERT on SQLite
(`redemption_insert`); `coupon_held` tells, on SQLite, that a failed write lost the coupon race.
"""

from __future__ import annotations

from datetime import date

from coupons.models import Coupon, CouponRedemption, CouponTemplate
from coupons.rules import CouponTerms
from core.sql import column, insert_statement, parameter_type, table

from .checkout_prices import _decimal  # NUMERIC columns decoded as the price list's are

HELD_CONSTRAINT = "couponredemption_unique_held"


def _date(value) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value  # SQLite: text


_TERMS = ("name", "kind", "amount_off", "percent_off", "max_discount", "min_spend", "valid_from", "valid_to",
          "is_active")


def coupon_columns(vendor: str) -> list[tuple[str, str]]:
    """(alias, expression) of the coupon `cp` and its template `ct` for the visitor's row."""
    through = CouponTemplate.categories.through
    m, r = table(through), table(CouponRedemption)
    template_of, category_of = (column(through, f) for f in ("coupontemplate", "category"))
    categories = f"SELECT cc.{category_of} FROM {m} cc WHERE cc.{template_of} = ct.{column(CouponTemplate, 'id')}"
    return [
        ("coupon_id", f"cp.{column(Coupon, 'id')}"),
        ("coupon_customer_id", f"cp.{column(Coupon, 'customer_id')}"),
        *((f"coupon_{name}", f"ct.{column(CouponTemplate, name)}") for name in _TERMS),
        ("coupon_held", f"EXISTS (SELECT 1 FROM {r} cr WHERE cr.{column(CouponRedemption, 'coupon_id')} = "
                        f"cp.{column(Coupon, 'id')} AND cr.{column(CouponRedemption, 'released_at')} IS NULL)"),
        ("coupon_category_ids", f"ARRAY({categories})" if vendor == "postgresql"
         else f"(SELECT group_concat(cc.{category_of}) FROM {m} cc "
              f"WHERE cc.{template_of} = ct.{column(CouponTemplate, 'id')})"),
    ]


def coupon_joins(coupon_id: str) -> str:
    """LEFT JOINs of the coupon named by the SQL `coupon_id` (NULL matches nothing) and its template."""
    cp, ct = table(Coupon), table(CouponTemplate)
    return (f"LEFT JOIN {cp} cp ON cp.{column(Coupon, 'id')} = {coupon_id} "
            f"LEFT JOIN {ct} ct ON ct.{column(CouponTemplate, 'id')} = cp.{column(Coupon, 'template_id')}")


def coupon_from_row(row: dict) -> CouponTerms | None:
    """The chosen coupon as the visitor's row brought it (None: no such coupon)."""
    if row.get("coupon_id") is None:
        return None
    categories = row["coupon_category_ids"]
    if isinstance(categories, str):  # SQLite's group_concat
        categories = [int(part) for part in categories.split(",") if part]
    return CouponTerms(
        id=row["coupon_id"], customer_id=row["coupon_customer_id"], name=row["coupon_name"],
        kind=row["coupon_kind"], amount_off=_decimal(row["coupon_amount_off"]),
        percent_off=_decimal(row["coupon_percent_off"]), max_discount=_decimal(row["coupon_max_discount"]),
        min_spend=_decimal(row["coupon_min_spend"]), valid_from=_date(row["coupon_valid_from"]),
        valid_to=_date(row["coupon_valid_to"]), is_active=bool(row["coupon_is_active"]),
        category_ids=frozenset(categories or ()), held=bool(row["coupon_held"]),
    )


# -- writing -------------------------------------------------------------------------------------

REDEMPTION_FIELDS = ("coupon_id", "order_id", "amount", "created_at", "released_at", "release_reason")


def redemption_parameter_types() -> dict[str, str]:
    """The PostgreSQL type of the write statement's coupon parameter."""
    return {"coupon_id": parameter_type(CouponRedemption, "coupon")}


def redemption_cte() -> str:
    """The part of checkout's write statement that holds the coupon for the new order (nothing when
    `%(coupon_id)s` is NULL): the unique index on held redemptions refuses a second order."""
    fields = ", ".join(column(CouponRedemption, name) for name in REDEMPTION_FIELDS)
    return (f"coupon_used AS (INSERT INTO {table(CouponRedemption)} ({fields}) "
            f"SELECT %(coupon_id)s, %(id)s, %(discount)s, %(now)s, NULL, '' WHERE %(coupon_id)s IS NOT NULL)")


def redemption_insert(*, coupon_id: int, order_id, discount, now) -> tuple:
    """The same row as one INSERT (SQLite writes checkout statement by statement)."""
    return insert_statement(CouponRedemption, REDEMPTION_FIELDS, [(coupon_id, order_id, discount, now, None, "")])


def coupon_held(coupon_id: int) -> bool:
    """Whether an order holds the coupon now (the redemption not released)."""
    return CouponRedemption.objects.filter(coupon_id=coupon_id, released_at__isnull=True).exists()
