"""Complaint deadlines and escalation: pure functions over plain values (no database, no clock).

Rules (the ones a customer or a manager would ask about):

- **First response** is due after N *business* hours (ComplaintSettings, default 2), counted in
  Asia/Shanghai: only time between the opening and the closing hour (default 09:00–18:00) on a
  business day (default Monday–Friday) counts. A complaint filed outside business hours starts
  counting at the next opening: filed at 17:30 on a Friday with 2 hours due, half an hour counts
  on Friday and the deadline is Monday 10:30; filed on Saturday, it is Monday 11:00; filed at
  08:00 on a business day, 11:00 that day. Time that ends exactly at closing is due at closing
  (filed 16:00 → 18:00 the same day, not the next morning). Public holidays are not known to the
  rule: a manager unticks the day or answers early (the escalation still runs on a holiday).
- **Resolution** is due N *calendar* hours after filing (default 24), whatever the business hours:
  a complaint must not wait a weekend to be dealt with.
- **Overdue**: not answered at or after its first-response deadline, or not resolved at or after
  its resolution deadline. A resolved complaint is never overdue; an answered one only for its
  resolution deadline.
- **Escalation**: an overdue complaint is escalated to the managers on the escalation list when
  it has never been escalated or its next escalation time has come; each escalation is a new
  round and sets the next one at now + the repeat interval (default 60 minutes), so managers are
  told again every interval until the complaint is answered (first deadline) or resolved
  (second deadline). Safety/harassment complaints go to the managers at once on filing, before
  any deadline (complaints.services).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
UNANSWERED, UNRESOLVED = "unanswered", "unresolved"
REASON_LABELS = {UNANSWERED: "超时未回复", UNRESOLVED: "超时未解决"}


@dataclass(frozen=True)
class BusinessHours:
    opens: time
    closes: time
    days: frozenset[int]  # ISO weekdays: 1 = Monday … 7 = Sunday

    def __post_init__(self):
        if not self.days or not self.days <= set(range(1, 8)):
            raise ValueError("at least one business day (1-7) is needed")
        if self.opens >= self.closes:
            raise ValueError("business hours must open before they close")


def _at(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, tzinfo=SHANGHAI)


def first_response_due(*, filed_at: datetime, hours: int, business: BusinessHours) -> datetime:
    """filed_at + `hours` business hours, as an aware datetime in Asia/Shanghai."""
    left = timedelta(hours=hours)
    local = filed_at.astimezone(SHANGHAI)
    day, cursor = local.date(), local
    daily = _at(day, business.closes) - _at(day, business.opens)
    # Each business day gives `daily`; at most six closed days lie between two business days.
    for _ in range(7 * (left // daily + 2)):
        opens, closes = _at(day, business.opens), _at(day, business.closes)
        if day.isoweekday() in business.days and cursor < closes:
            start = max(cursor, opens)
            if start + left <= closes:
                return start + left
            left -= closes - start
        day += timedelta(days=1)
        cursor = _at(day, time.min)
    raise ValueError("business hours too short for the deadline")  # pragma: no cover - bounded above


def resolution_due(*, filed_at: datetime, hours: int) -> datetime:
    return filed_at + timedelta(hours=hours)


@dataclass(frozen=True)
class Clock:
    """What the escalation rule reads of a complaint."""

    first_response_due: datetime
    resolution_due: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    next_escalation_at: datetime | None


def overdue_reason(state: Clock, *, now: datetime) -> str | None:
    """UNANSWERED, UNRESOLVED or None (not overdue)."""
    if state.resolved_at is not None:
        return None
    if state.first_response_at is None and now >= state.first_response_due:
        return UNANSWERED
    if now >= state.resolution_due:
        return UNRESOLVED
    return None


def escalation_due(state: Clock, *, now: datetime) -> str | None:
    """The reason to escalate now (a new round), or None: overdue and its next round has come."""
    reason = overdue_reason(state, now=now)
    if reason is None:
        return None
    if state.next_escalation_at is not None and now < state.next_escalation_at:
        return None
    return reason


def next_escalation(*, now: datetime, repeat_minutes: int) -> datetime:
    return now + timedelta(minutes=repeat_minutes)
