"""WeCom retries arriving at once: one record, the others see a duplicate (PostgreSQL, threads)."""

import pytest

from reps import wecom
from reps.models import Rep, WeComContact, WeComContactEvent
from tests.concurrency import run_in_threads
from wechat.wecom_callback import WeComEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _event(change_type, create_time):
    return WeComEvent(event="change_external_contact", change_type=change_type, user_id="rep.li",
                      external_userid="wmCONC", state="", welcome_code="", fail_reason="",
                      create_time=create_time, msg_id="")


def test_the_same_event_delivered_concurrently_is_recorded_once():
    Rep.objects.create(name="李四", key="LI2345", wecom_user_id="rep.li")
    results = run_in_threads(4, lambda i: wecom.wecom_event_record(_event("add_external_contact", 1700000000))[0])
    assert sorted(results) == [wecom.DUPLICATE] * 3 + [wecom.RECORDED]
    assert WeComContact.objects.count() == 1 and WeComContactEvent.objects.count() == 1


def test_two_different_adds_concurrently_share_one_contact():
    Rep.objects.create(name="李四", key="LI2345", wecom_user_id="rep.li")
    results = run_in_threads(2, lambda i: wecom.wecom_event_record(_event("add_external_contact", 1700000000 + i))[0])
    assert all(isinstance(r, str) for r in results), results
    assert WeComContact.objects.count() == 1 and WeComContactEvent.objects.count() == 2
