"""Query counts: the customer's complaint list and the back office's queue read a bounded number
of statements whatever the number of complaints, photos and replies; the queue puts the overdue
ones first."""

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from complaints.models import Complaint, ComplaintEvent, ComplaintPhoto
from complaints.services import complaint_reply

from .conftest import file

pytestmark = pytest.mark.django_db


def _complaints(world, n):
    for k in range(n):
        created = file(world, text=f"第{k}次投诉", order=k % 2 == 0).json()
        complaint_reply(complaint_id=created["id"], user=world.handlers[0], message=f"回复{k}")
        ComplaintPhoto.objects.create(complaint_id=created["id"], image=f"complaints/x/{k}.jpg", width=1, height=1)


def _count(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == 200, response.content[:300]
    return len(queries)


def test_the_customers_list_is_bounded(world, django_assert_max_num_queries):
    _complaints(world, 3)
    few = _count(lambda: world.client.get("/api/v1/complaints"))
    _complaints(world, 12)
    many = _count(lambda: world.client.get("/api/v1/complaints"))
    assert many == few
    with django_assert_max_num_queries(6):  # visitor, count, page, photos, replies (+ order join)
        data = world.client.get("/api/v1/complaints").json()
    assert data["count"] == 15 and len(data["results"]) == 15
    assert all(len(item["replies"]) == 2 for item in data["results"])  # submitted + the reply, not internal rows


def test_the_queue_is_bounded_and_puts_overdue_first(world, client, django_assert_max_num_queries):
    admin = User.objects.create_superuser("queue-admin", password="admin-pw-1")
    client.force_login(admin)
    _complaints(world, 3)
    few = _count(lambda: client.get("/admin/complaints/complaint/"))
    _complaints(world, 12)
    late = file(world, text="一直没人理").json()["id"]
    Complaint.objects.filter(pk=late).update(first_response_due=timezone.now())
    many = _count(lambda: client.get("/admin/complaints/complaint/"))
    assert many <= few + 1  # the one more: nothing grows with the rows
    with django_assert_max_num_queries(many):
        response = client.get("/admin/complaints/complaint/")
    assert response.context["cl"].result_list[0].pk == late
    assert response.content.decode().count('data-testid="overdue"') == 1
    overdue = client.get("/admin/complaints/complaint/?overdue=yes")
    assert [c.pk for c in overdue.context["cl"].result_list] == [late]


def test_staff_reply_through_admin_reaches_the_customer(world, client):
    admin = User.objects.create_superuser("reply-admin", password="admin-pw-1")
    client.force_login(admin)
    complaint_id = file(world).json()["id"]
    url = f"/admin/complaints/complaint/{complaint_id}/reply/"
    assert client.get(url).status_code == 200
    before = ComplaintEvent.objects.count()
    assert client.post(url, {"message": ""}).status_code == 200  # the form again, nothing written
    assert ComplaintEvent.objects.count() == before
    response = client.post(url, {"message": "已安排主管回访", "resolve": "on"})
    assert response.status_code == 302
    data = world.client.get(f"/api/v1/complaints/{complaint_id}").json()
    assert data["status"] == "resolved"
    assert data["replies"][-1]["message"] == "已安排主管回访" and data["replies"][-1]["actor_label"] == "客服"
    event = ComplaintEvent.objects.filter(kind="resolved").get()
    assert event.staff == admin and event.actor == "reply-admin"
