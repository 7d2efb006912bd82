"""The automatic-tag rules, pure: plain values in, the (customer, tag) pairs out.

crm.autotags computes the same in set-based SQL for the nightly run; tests/crm/test_autotags.py
holds the two to agreement on generated data. The rules (README "Tags and segments"):

A **paid order** is one with `paid_at` set and not cancelled, paid at or before `now`.

**Category share** (a CategoryShareRule: category, threshold %, tag). Over the paid orders of the
last `category_window_days` (AutoTagSettings, default 90: `now - days < paid_at <= now`), a
customer's spend on the category — its lines' amounts (the packed amount once packed, else the
ordered amount) on products of that category, or of any shelf under it when it is an aisle —
divided by the customer's spend on all lines is **≥ threshold** (the edge counts: exactly 30.00 %
with a threshold of 30 gets the tag). A customer with no spend in the window gets none.

**RFM** (tags of an automatic group whose `rfm_segment` is set). Population: customers with at
least one paid order in the last `rfm_window_days` (default 365). For them
R = time of the last paid order (later is better), F = number of paid orders in the window,
M = their totals' sum in the window. Each becomes a score 1-5 by quintile **with ties kept
together**: score = 1 + ⌊5 · (rank − 1) / n⌋, where rank = 1 + how many of the n customers have a
strictly smaller value (SQL's RANK() over ascending values). High means score ≥ 3. Then:

| R | F | M | class |
|---|---|---|---|
| high | high | high | 重要价值 |
| high | low | high | 重要发展 |
| low | high | high | 重要保持 |
| low | low | high | 重要挽留 |
| high | any | low | 一般 |
| low | any | low | 流失 |

and a customer whose paid orders all lie before the window is 流失 too. Never paid: no RFM tag.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from .models import RfmSegment

QUINTILES = 5
HIGH = 3  # a score of 3, 4 or 5 is "high"


@dataclass(frozen=True)
class PaidOrder:
    customer_id: int
    paid_at: datetime
    total: Decimal
    lines: tuple[tuple[int, Decimal], ...] = field(default=())  # (category_id, amount)


@dataclass(frozen=True)
class ShareRule:
    category_id: int
    threshold_percent: Decimal
    tag_id: int


def quintile_scores(values: Mapping[int, object]) -> dict[int, int]:
    """{customer: value} → {customer: 1..5}, ties sharing a score (see the module's docstring)."""
    ordered = sorted(values.values())
    n = len(ordered)
    scores, smaller, previous = {}, {}, object()
    for index, value in enumerate(ordered):
        if value != previous:
            smaller[value], previous = index, value
    for customer_id, value in values.items():
        scores[customer_id] = 1 + (QUINTILES * smaller[value]) // n
    return scores


def rfm_segment(r: int, f: int, m: int) -> str:
    """The RFM class of three 1-5 scores (the table in the module's docstring)."""
    recent, frequent, valuable = r >= HIGH, f >= HIGH, m >= HIGH
    if valuable:
        if recent:
            return RfmSegment.IMPORTANT_VALUE if frequent else RfmSegment.IMPORTANT_DEVELOP
        return RfmSegment.IMPORTANT_KEEP if frequent else RfmSegment.IMPORTANT_WIN_BACK
    return RfmSegment.ORDINARY if recent else RfmSegment.LOST


def rfm_segments(orders: Iterable[PaidOrder], *, now: datetime, window_days: int) -> dict[int, str]:
    """{customer: RFM class} for every customer with a paid order at or before `now`."""
    since = now - timedelta(days=window_days)
    last, count, spend, before = {}, {}, {}, set()
    for order in orders:
        if order.paid_at > now:
            continue
        if order.paid_at <= since:
            before.add(order.customer_id)
            continue
        cid = order.customer_id
        last[cid] = max(last.get(cid, order.paid_at), order.paid_at)
        count[cid] = count.get(cid, 0) + 1
        spend[cid] = spend.get(cid, Decimal("0")) + order.total
    r, f, m = quintile_scores(last), quintile_scores(count), quintile_scores(spend)
    segments = {cid: rfm_segment(r[cid], f[cid], m[cid]) for cid in last}
    segments.update({cid: RfmSegment.LOST for cid in before - set(last)})
    return segments


def category_shares_met(orders: Iterable[PaidOrder], *, now: datetime, window_days: int,
                        rules: Iterable[ShareRule], parents: Mapping[int, int | None]) -> set[tuple[int, int]]:
    """(customer, tag) for every share rule a customer meets (the module's docstring)."""
    since = now - timedelta(days=window_days)
    per_category: dict[int, dict[int, Decimal]] = {}
    for order in orders:
        if not since < order.paid_at <= now:
            continue
        mine = per_category.setdefault(order.customer_id, {})
        for category_id, amount in order.lines:
            mine[category_id] = mine.get(category_id, Decimal("0")) + amount
    met = set()
    rules = list(rules)
    for customer_id, spend in per_category.items():
        total = sum(spend.values(), Decimal("0"))
        if total <= 0:
            continue
        for rule in rules:
            share = sum((amount for category_id, amount in spend.items()
                         if rule.category_id in (category_id, parents.get(category_id))), Decimal("0"))
            if share * 100 >= rule.threshold_percent * total:
                met.add((customer_id, rule.tag_id))
    return met


def auto_tags_decide(orders: Iterable[PaidOrder], *, now: datetime, category_window_days: int,
                     rfm_window_days: int, rules: Iterable[ShareRule], parents: Mapping[int, int | None],
                     rfm_tags: Mapping[str, int]) -> set[tuple[int, int]]:
    """Every (customer, tag) the automatic rules want tonight: category shares and RFM classes."""
    orders = list(orders)
    wanted = category_shares_met(orders, now=now, window_days=category_window_days, rules=rules, parents=parents)
    for customer_id, segment in rfm_segments(orders, now=now, window_days=rfm_window_days).items():
        if segment in rfm_tags:
            wanted.add((customer_id, rfm_tags[segment]))
    return wanted
