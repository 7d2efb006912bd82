"""The complainant is never shown to the driver or the rep a complaint is about: none of their
pages or APIs reveals that a complaint exists, what it says or who filed it, and neither is ever
sent a message about it (the authorisation table checks the same text against every URL too:
authz_world.SECRET_COMPLAINT)."""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from complaints.models import Complaint
from complaints.services import complaint_reply, complaints_escalate_overdue
from logistics.models import DeliveryRun, Stop
from notifications.models import Notification
from reps.feed import feed_token_make
from tests.factories import delivery_order

from .conftest import file

pytestmark = pytest.mark.django_db
SECRET = "司机甲在店里骚扰收银员"


@pytest.fixture
def filed(world):
    """Today's run of the driver with this restaurant's order on it, the restaurant the rep's own,
    and a safety complaint about that stop, escalated and answered."""
    today = timezone.localdate()
    order = delivery_order(delivery_date=today, status="out_for_delivery")
    order.customer, order.visitor, order.rep = world.customer, world.visitor, world.rep
    order.restaurant_name = world.customer.name
    order.save(update_fields=["customer", "visitor", "rep", "restaurant_name"])
    run = DeliveryRun.objects.create(driver=world.driver, delivery_date=today, status="in_progress")
    stop = Stop.objects.create(run=run, order=order, sequence=1)
    world.rep.user = User.objects.create_user(username="rep-li", password="rep-pw-1")
    world.rep.save(update_fields=["user"])
    world.order = order
    response = file(world, category="safety", text=SECRET)
    assert response.status_code == 201
    complaint = Complaint.objects.get()
    assert (complaint.driver, complaint.rep) == (world.driver, world.rep)
    Complaint.objects.filter(pk=complaint.pk).update(first_response_due=timezone.now(), resolution_due=timezone.now())
    complaints_escalate_overdue()
    complaint_reply(complaint_id=complaint.pk, user=world.handlers[0], message="已核实，司机停职处理")
    return world, stop, complaint


def _assert_silent(text: str, world):
    assert SECRET not in text
    assert "投诉" not in text and "complaint" not in text.lower()
    assert "停职" not in text  # the reply either
    assert world.visitor.openid not in text


def test_the_drivers_pages_never_show_the_complaint(client, filed):
    world, stop, _ = filed
    client.force_login(world.driver.user)
    for url in ("/ops/delivery/", "/ops/delivery/run.json", f"/ops/delivery/stops/{stop.pk}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert world.customer.name in response.content.decode()  # the stop is there …
        _assert_silent(response.content.decode(), world)         # … the complaint is not


def test_the_reps_pages_and_apis_never_show_the_complaint(client, filed):
    world, _, _ = filed
    client.force_login(world.rep.user)
    customer = world.customer.pk
    pages = ["/rep/", f"/rep/customers/{customer}/", "/api/v1/rep/me", "/api/v1/rep/summary",
             "/api/v1/rep/customers", f"/api/v1/rep/customers/{customer}", "/api/v1/rep/feed", "/api/v1/rep/inbox",
             "/api/v1/rep/nearby?latitude=22.54&longitude=114.06"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:200])
        _assert_silent(response.content.decode(), world)
    poll = client.get("/api/v1/rep/feed/poll", HTTP_X_FEED_TOKEN=feed_token_make(world.rep))
    assert poll.status_code == 200
    _assert_silent(poll.content.decode(), world)


def test_no_message_about_it_reaches_the_driver_or_the_rep(filed):
    world, _, complaint = filed
    assert Notification.objects.filter(event_key__startswith=f"complaint:{complaint.pk}:").exists()
    assert not Notification.objects.filter(recipient_kind__in=["driver", "rep"]).exists()
    staff_told = set(Notification.objects.filter(recipient_kind="staff").values_list("recipient_id", flat=True))
    assert str(world.driver.user_id) not in staff_told
