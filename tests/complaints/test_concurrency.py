"""Two escalation sweeps at once, and a sweep racing a reply, on PostgreSQL with threads: a round is
made (and told) once; a reply that wins leaves nothing to escalate."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from complaints.models import Complaint, ComplaintEvent
from complaints.services import complaint_escalate, complaint_reply, complaints_escalate_overdue
from notifications.models import Notification
from tests.concurrency import run_in_threads

from .conftest import file

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")


def _overdue(world) -> Complaint:
    complaint = Complaint.objects.get(pk=file(world).json()["id"])
    Complaint.objects.filter(pk=complaint.pk).update(first_response_due=timezone.now() - timedelta(minutes=1))
    return complaint


def test_two_sweeps_at_once_make_one_round(world):
    complaint = _overdue(world)
    now = timezone.now()

    results = run_in_threads(4, lambda index: complaint_escalate(complaint_id=complaint.pk, now=now,
                                                                 repeat_minutes=60))

    assert sorted(results) == [False, False, False, True], results
    complaint.refresh_from_db()
    assert complaint.escalation_round == 1
    assert ComplaintEvent.objects.filter(complaint=complaint, kind="escalated").count() == 1
    assert Notification.objects.filter(event_key__contains=":escalation:").count() == len(world.managers)


def test_a_reply_racing_a_sweep_leaves_a_consistent_complaint(world):
    complaint = _overdue(world)

    def act(index):
        if index == 0:
            return complaint_reply(complaint_id=complaint.pk, user=world.handlers[0], message="已处理")
        return complaints_escalate_overdue()

    results = run_in_threads(2, act)

    assert not any(isinstance(r, Exception) for r in results), results
    complaint.refresh_from_db()
    assert complaint.status == "answered"
    rounds = ComplaintEvent.objects.filter(complaint=complaint, kind="escalated").count()
    assert rounds == results[1] and rounds in (0, 1)  # escalated before the reply, or found it answered
    assert complaints_escalate_overdue() == 0  # answered: nothing more until the resolution deadline
