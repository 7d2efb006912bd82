"""rep_flags: a missing in-person scan is flagged only for working days the rep was employed on
and that are over (today only from 18:00 Shanghai time)."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from reps.selectors import last_judged_day, rep_flags
from reps.services import entry_record
from tests.factories import RepFactory, VisitorFactory

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def hired(when: datetime, **kwargs):
    with time_machine.travel(when, tick=False):
        return RepFactory(**kwargs)


def scan_in_person(rep, when: datetime):
    with time_machine.travel(when, tick=False):
        entry_record(visitor=VisitorFactory(), scene=f"r={rep.key}", launch_scene=1047, first_login=True)


def flagged_days(flags, rep) -> list[int]:
    return [f["day"].day for f in flags if f["rep_id"] == rep.pk and f["kind"] == "no_in_person_scans"]


def test_days_before_the_rep_joined_are_not_flagged():
    veteran = hired(at(1, 9))
    newcomer = hired(at(18, 10))

    flags = rep_flags(day_from=date(2026, 11, 16), day_to=date(2026, 11, 22), now=at(23, 13))

    assert flagged_days(flags, veteran) == [16, 17, 18, 19, 20, 21]  # Sunday the 22nd is no working day
    assert flagged_days(flags, newcomer) == [18, 19, 20, 21]


def test_the_joining_day_is_the_shanghai_date_not_the_utc_one():
    # 00:30 on the 18th in Shanghai is still the 17th in UTC.
    early = hired(at(18, 0, 30))
    flags = rep_flags(day_from=date(2026, 11, 16), day_to=date(2026, 11, 18), now=at(23, 13))
    assert flagged_days(flags, early) == [18]


def test_today_is_judged_only_once_the_working_day_is_over():
    rep = hired(at(1, 9))
    week = {"day_from": date(2026, 11, 16), "day_to": date(2026, 11, 18)}  # Monday to Wednesday

    before = rep_flags(**week, now=at(18, 17, 59))
    after = rep_flags(**week, now=at(18, 18, 0))

    assert flagged_days(before, rep) == [16, 17]
    assert flagged_days(after, rep) == [16, 17, 18]


def test_a_scan_today_clears_today_and_days_to_come_are_never_flagged():
    rep = hired(at(1, 9))
    scan_in_person(rep, at(18, 10))

    flags = rep_flags(day_from=date(2026, 11, 16), day_to=date(2026, 11, 21), now=at(18, 20))

    assert flagged_days(flags, rep) == [16, 17]  # 18th scanned; 19th to 21st still ahead


def test_last_judged_day_around_the_end_of_the_working_day_and_midnight():
    assert last_judged_day(at(18, 17, 59)) == date(2026, 11, 17)
    assert last_judged_day(at(18, 18, 0)) == date(2026, 11, 18)
    # 23:30 UTC on the 18th is 07:30 on the 19th in Shanghai: the 18th is over, the 19th is not.
    assert last_judged_day(datetime(2026, 11, 18, 23, 30, tzinfo=ZoneInfo("UTC"))) == date(2026, 11, 18)
