"""The campaigns' rules, pure (no database): the link a campaign may point at, the monthly cap and
its month, and which campaign an order is attributed to. campaigns.services and campaigns.results
apply them in SQL; tests/campaigns hold the SQL to these functions."""

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.utils import timezone

# An order is counted for a campaign when it is paid within this long after the campaign reached
# the customer (the reach's moment included, the window's end excluded).
ATTRIBUTION_WINDOW = timedelta(days=7)
MAX_LINK = 200


def link_problem(link: str) -> str | None:
    """Why `link` cannot be a campaign's destination, or None. Only a path of this site: the
    tracked redirect must never send a customer elsewhere (no open redirect)."""
    if not link:
        return "请填写链接"
    if len(link) > MAX_LINK:
        return f"链接不能超过 {MAX_LINK} 个字符"
    if not link.startswith("/") or link.startswith("//") or "\\" in link:
        return "请填写以 / 开头的站内路径，如 /shop/"
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in link):
        return "链接不能含空格或控制字符"
    return None


def month_of(moment: datetime) -> date:
    """The Shanghai calendar month a moment falls in, as its first day (the cap's month)."""
    return timezone.localtime(moment).date().replace(day=1)


def cap_allows(count_this_month: int, cap: int) -> bool:
    """May a customer who already got `count_this_month` campaign messages this month get one more?"""
    return count_this_month < cap


def attribute_order(paid_at: datetime, reaches: Iterable[tuple[datetime, int]]) -> int | None:
    """The campaign an order paid at `paid_at` counts for, or None.

    `reaches` are (moment the campaign reached the customer, campaign id) of every campaign that
    reached the order's customer: a subscribe message sent by WeChat, or a rep task the rep marked
    sent. The order counts once, for the latest reach at or before its payment, if that reach was
    less than ATTRIBUTION_WINDOW before it (a later campaign takes over from an earlier one; on a
    tie of moments the higher campaign id, the later created, wins)."""
    latest = max(((at, campaign) for at, campaign in reaches if at <= paid_at), default=None)
    if latest is None or paid_at >= latest[0] + ATTRIBUTION_WINDOW:
        return None
    return latest[1]
