"""complaints.rules at its edges: business-hour deadlines in Asia/Shanghai, the calendar
resolution deadline, and when a complaint is overdue and due for another escalation round."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from complaints.rules import (
    UNANSWERED,
    UNRESOLVED,
    BusinessHours,
    Clock,
    escalation_due,
    first_response_due,
    next_escalation,
    overdue_reason,
    resolution_due,
)

SH = ZoneInfo("Asia/Shanghai")
WEEKDAYS = BusinessHours(opens=time(9), closes=time(18), days=frozenset({1, 2, 3, 4, 5}))


def at(day, hour, minute=0, second=0):
    """2026-12-<day> in Shanghai: the 4th is a Friday, the 5th/6th the weekend, the 7th a Monday."""
    return datetime(2026, 12, day, hour, minute, second, tzinfo=SH)


@pytest.mark.parametrize(("filed", "due"), [
    ((4, 17, 30), (7, 10, 30)),        # Friday 17:30: half an hour on Friday, 1.5 h on Monday
    ((4, 16, 0), (4, 18, 0)),          # ends exactly at closing: due at closing, not next morning
    ((4, 16, 0, 1), (7, 9, 0, 1)),     # one second later: that second runs over to Monday
    ((4, 18, 0), (7, 11, 0)),          # filed at closing: counting starts Monday 09:00
    ((5, 12, 0), (7, 11, 0)),          # Saturday
    ((6, 23, 59), (7, 11, 0)),         # Sunday night
    ((7, 8, 0), (7, 11, 0)),           # before opening on a business day
    ((7, 9, 0), (7, 11, 0)),           # at opening
    ((7, 10, 15), (7, 12, 15)),        # inside business hours
    ((3, 17, 59), (4, 10, 59)),        # Thursday evening into Friday
])
def test_first_response_counts_business_hours_only(filed, due):
    assert first_response_due(filed_at=at(*filed), hours=2, business=WEEKDAYS) == at(*due)


def test_a_utc_filing_time_is_read_in_shanghai():
    filed = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)  # 17:30 in Shanghai, a Friday
    assert first_response_due(filed_at=filed, hours=2, business=WEEKDAYS) == at(7, 10, 30)


def test_many_hours_span_several_days_and_a_weekend():
    # 20 business hours from Thursday 09:00: Thursday 9 + Friday 9 + Monday 2 → Monday 11:00
    assert first_response_due(filed_at=at(3, 9), hours=20, business=WEEKDAYS) == at(7, 11)


def test_other_business_days_and_hours_are_followed():
    saturdays = BusinessHours(opens=time(8, 30), closes=time(12), days=frozenset({6}))
    # Friday 17:30 → Saturday 08:30 + 2 h
    assert first_response_due(filed_at=at(4, 17, 30), hours=2, business=saturdays) == at(5, 10, 30)
    # 4 h on a 3.5 h day: the rest runs into the next Saturday
    assert first_response_due(filed_at=at(4, 17, 30), hours=4, business=saturdays) == at(12, 9)


@pytest.mark.parametrize("bad", [
    dict(opens=time(18), closes=time(9), days=frozenset({1})),
    dict(opens=time(9), closes=time(9), days=frozenset({1})),
    dict(opens=time(9), closes=time(18), days=frozenset()),
    dict(opens=time(9), closes=time(18), days=frozenset({0})),
])
def test_impossible_business_hours_are_refused(bad):
    with pytest.raises(ValueError):
        BusinessHours(**bad)


def test_resolution_is_calendar_hours():
    assert resolution_due(filed_at=at(4, 17, 30), hours=24) == at(5, 17, 30)


def _clock(**overrides):
    values = dict(first_response_due=at(7, 11), resolution_due=at(8, 9), first_response_at=None, resolved_at=None,
                  next_escalation_at=None)
    return Clock(**{**values, **overrides})


def test_overdue_at_its_edges():
    state = _clock()
    assert overdue_reason(state, now=at(7, 11) - timedelta(seconds=1)) is None
    assert overdue_reason(state, now=at(7, 11)) == UNANSWERED
    answered = _clock(first_response_at=at(7, 10))
    assert overdue_reason(answered, now=at(7, 12)) is None
    assert overdue_reason(answered, now=at(8, 9) - timedelta(seconds=1)) is None
    assert overdue_reason(answered, now=at(8, 9)) == UNRESOLVED
    assert overdue_reason(_clock(first_response_at=at(7, 10), resolved_at=at(7, 10)), now=at(9, 9)) is None
    assert overdue_reason(_clock(resolved_at=at(7, 12)), now=at(9, 9)) is None


def test_a_round_is_due_once_per_interval():
    now = at(7, 11)
    assert escalation_due(_clock(), now=now) == UNANSWERED
    following = next_escalation(now=now, repeat_minutes=60)
    assert following == at(7, 12)
    assert escalation_due(_clock(next_escalation_at=following), now=at(7, 11, 59, 59)) is None
    assert escalation_due(_clock(next_escalation_at=following), now=at(7, 12)) == UNANSWERED
    assert escalation_due(_clock(next_escalation_at=following, first_response_at=at(7, 11, 30)), now=at(7, 12)) is None
