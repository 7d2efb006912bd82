"""Filing (refusals store nothing), owners, deadlines under a frozen clock, safety complaints to
managers at once, escalation repeated every interval until answered or resolved, replies."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from complaints.models import Complaint, ComplaintEvent, ComplaintPhoto, ComplaintSettings, ComplaintStaff
from complaints.rules import overdue_reason
from complaints.services import (
    _clock,
    complaint_assign,
    complaint_reply,
    complaints_escalate_overdue,
)
from complaints.tasks import complaints_escalate_overdue as escalate_task
from notifications.models import Notification
from tests.aftersales.conftest import jpeg_bytes
from tests.factories import VisitorFactory

from .conftest import api_client, file, other_customer_client, staff_user

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def at(day, hour, minute=0):
    return datetime(2026, 12, day, hour, minute, tzinfo=SH)  # the 4th is a Friday


def _stored():
    return (Complaint.objects.count(), ComplaintEvent.objects.count(), ComplaintPhoto.objects.count(),
            Notification.objects.count())


def _escalations(complaint):
    return list(Notification.objects.filter(event_key__startswith=f"complaint:{complaint.pk}:escalation:")
                .order_by("event_key", "recipient_id").values_list("event_key", "recipient_id", "channel", "address"))


def _refused(response, status, code):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and not error["message"].isascii()


def test_a_complaint_filed_friday_evening_is_due_monday_morning_and_has_an_owner(world):
    with time_machine.travel(at(4, 17, 30), tick=False):
        response = file(world, photos=[SimpleUploadedFile("a.jpg", jpeg_bytes(), content_type="image/jpeg")])

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "open" and data["category_label"] == "司机态度/行为"
    assert data["order_number"] == world.order.number and len(data["photos"]) == 1
    assert [reply["kind"] for reply in data["replies"]] == ["submitted"]
    complaint = Complaint.objects.get()
    assert complaint.first_response_due == at(7, 10, 30)
    assert complaint.resolution_due == at(5, 17, 30)
    assert complaint.owner == world.handlers[0]
    # Who it is about, for managers: the driver of the order's stop and the rep.
    assert (complaint.driver, complaint.rep, complaint.visitor) == (world.driver, world.rep, world.visitor)
    # The owner is told; nobody else yet (not a safety complaint).
    assert list(Notification.objects.values_list("event_key", "recipient_kind", "recipient_id")) == [
        (f"complaint:{complaint.pk}:assigned:{world.handlers[0].pk}", "staff", str(world.handlers[0].pk))]


def test_owners_take_turns_or_the_default_owner_takes_all(world):
    owners = [Complaint.objects.get(pk=file(world).json()["id"]).owner for _ in range(3)]
    assert owners == [world.handlers[0], world.handlers[1], world.handlers[0]]

    boss = staff_user("boss")
    ComplaintSettings.objects.filter(pk=1).update(default_owner=boss)
    assert Complaint.objects.get(pk=file(world).json()["id"]).owner == boss


def test_deadlines_follow_the_settings(world):
    ComplaintSettings.objects.filter(pk=1).update(first_response_hours=3, resolution_hours=48, business_opens=time(8),
                                                  business_closes=time(20), saturday=True)
    with time_machine.travel(at(4, 19), tick=False):
        file(world)
    complaint = Complaint.objects.get()
    assert complaint.first_response_due == at(5, 10)  # 1 h on Friday, 2 h on Saturday from 08:00
    assert complaint.resolution_due == at(6, 19)


def test_a_complaint_without_an_order(world):
    response = file(world, category="service", text="客服电话打不通", order=False)
    assert response.status_code == 201, response.content
    complaint = Complaint.objects.get()
    assert complaint.order is None and complaint.driver is None and complaint.rep == world.rep
    assert response.json()["order_id"] is None


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"category": "angry", "text": "太差了"}, 400, "category_invalid"),
    ({"category": "", "text": "太差了"}, 400, "category_invalid"),
    ({"category": "driver", "text": "   "}, 400, "text_required"),
    ({"category": "driver", "text": "差" * 501}, 400, "text_too_long"),
    ({"category": "driver", "text": "差\x00"}, 400, "invalid_characters"),
    ({"category": "driver", "text": "差", "order_id": "not-a-uuid"}, 400, "order_id_invalid"),
    ({"category": "driver", "text": "差", "order_id": "6f1d2c1e-0000-4000-8000-000000000000"}, 404, "order_not_found"),
])
def test_bad_input_is_refused_in_chinese_and_nothing_is_stored(world, body, status, code):
    before = _stored()
    response = world.client.post("/api/v1/complaints", body, format="multipart")
    if code == "invalid_characters":  # refused by core's control-character rule, before or in the view
        assert response.status_code == 400 and response.json()["error"]["message"]
    else:
        _refused(response, status, code)
    assert _stored() == before


def test_someone_elses_order_is_refused_and_nothing_is_stored(world):
    before = _stored()
    _refused(file(world, client=other_customer_client()), 404, "order_not_found")
    assert _stored() == before


def test_a_bad_photo_is_refused_and_nothing_is_stored(world, settings):
    before = _stored()
    response = file(world, photos=[SimpleUploadedFile("a.jpg", b"not an image", content_type="image/jpeg")])
    _refused(response, 400, "photo_invalid")
    assert _stored() == before
    assert not (settings.MEDIA_ROOT.exists() and any(p.is_file() for p in settings.MEDIA_ROOT.rglob("*")))


def test_a_body_larger_than_six_photos_is_refused_before_it_is_read(world):
    from aftersales.photos import MAX_BODY_BYTES

    before = _stored()
    response = world.client.post("/api/v1/complaints", data=b"x", content_type="multipart/form-data; boundary=zz",
                                 CONTENT_LENGTH=str(MAX_BODY_BYTES + 1))
    _refused(response, 400, "photo_too_large")
    assert response.json()["error"]["details"] == {"bytes": MAX_BODY_BYTES + 1}
    assert _stored() == before


def test_more_than_six_photos_are_refused_and_nothing_is_stored(world):
    before = _stored()
    photos = [SimpleUploadedFile(f"{k}.jpg", jpeg_bytes(), content_type="image/jpeg") for k in range(7)]
    _refused(file(world, photos=photos), 400, "too_many_photos")
    assert _stored() == before


def test_a_visitor_without_a_restaurant_cannot_complain(world):
    before = _stored()
    _refused(file(world, order=False, client=api_client(VisitorFactory())), 403, "customer_required")
    assert _stored() == before


def test_a_safety_complaint_goes_to_every_manager_at_once(world):
    with time_machine.travel(at(5, 22), tick=False):  # a Saturday night: no business hours
        complaint = Complaint.objects.get(pk=file(world, category="safety", text="司机言语骚扰").json()["id"])

    assert complaint.is_safety
    told = Notification.objects.filter(event_key=f"complaint:{complaint.pk}:safety").order_by("recipient_id")
    assert [(n.recipient_id, n.channel, n.address) for n in told] == [
        (str(world.managers[0].pk), "wecom", "wangjl"), (str(world.managers[1].pk), "inbox", "")]
    assert "骚扰" in told[0].body
    assert ComplaintEvent.objects.filter(complaint=complaint, kind="safety_alert").count() == 1
    # Nothing reaches the driver or the rep it is about.
    assert not Notification.objects.filter(recipient_kind__in=["driver", "rep"]).exists()


def test_no_managers_configured_means_the_superusers_are_told(world):
    ComplaintStaff.objects.filter(escalations=True).delete()
    root = staff_user("root", is_superuser=True)
    complaint = Complaint.objects.get(pk=file(world, category="safety", text="骚扰").json()["id"])
    assert list(Notification.objects.filter(event_key=f"complaint:{complaint.pk}:safety")
                .values_list("recipient_id", flat=True)) == [str(root.pk)]


def test_escalation_repeats_every_interval_until_answered_and_never_twice_a_round(world):
    with time_machine.travel(at(4, 17, 30), tick=False):
        complaint = Complaint.objects.get(pk=file(world).json()["id"])
    managers = sorted(str(user.pk) for user in world.managers)

    with time_machine.travel(at(5, 9), tick=False):  # Saturday: not yet due (Monday 10:30)
        assert complaints_escalate_overdue() == 0
    with time_machine.travel(at(7, 10, 30), tick=False):  # due: round 1
        assert escalate_task.delay().get() == 1
        assert complaints_escalate_overdue() == 0  # the same round twice: nothing more
    assert [row[:2] for row in _escalations(complaint)] == [
        (f"complaint:{complaint.pk}:escalation:1", managers[0]), (f"complaint:{complaint.pk}:escalation:1", managers[1])]
    with time_machine.travel(at(7, 11, 29), tick=False):  # within the interval (60 min)
        assert complaints_escalate_overdue() == 0
    with time_machine.travel(at(7, 11, 30), tick=False):
        assert complaints_escalate_overdue() == 1
    complaint.refresh_from_db()
    assert complaint.escalation_round == 2 and complaint.next_escalation_at == at(7, 12, 30)
    assert len(_escalations(complaint)) == 4
    first = Notification.objects.get(event_key=f"complaint:{complaint.pk}:escalation:2", channel="wecom")
    assert first.address == "wangjl" and "第 2 次" in first.title and "超时未回复" in first.title

    with time_machine.travel(at(7, 12), tick=False):
        complaint_reply(complaint_id=complaint.pk, user=world.handlers[0], message="已联系司机核实，稍后给您答复")
    complaint.refresh_from_db()
    assert complaint.status == "answered" and complaint.first_response_at == at(7, 12)
    # The resolution deadline (Saturday 17:30) has passed too: answered but unresolved keeps escalating.
    with time_machine.travel(at(7, 12, 30), tick=False):
        assert complaints_escalate_overdue() == 1
    assert "超时未解决" in Notification.objects.get(event_key=f"complaint:{complaint.pk}:escalation:3",
                                                   channel="wecom").title
    with time_machine.travel(at(7, 13), tick=False):
        complaint_reply(complaint_id=complaint.pk, user=world.handlers[0], message="已处理：司机已调岗", resolve=True)
    with time_machine.travel(at(9, 13), tick=False):
        assert complaints_escalate_overdue() == 0
    complaint.refresh_from_db()
    assert complaint.escalation_round == 3 and complaint.status == "resolved"
    assert list(ComplaintEvent.objects.filter(complaint=complaint, kind="escalated").values_list("round", flat=True)) \
        == [1, 2, 3]


def test_an_answer_before_the_first_deadline_stops_escalation_until_the_resolution_deadline(world):
    with time_machine.travel(at(7, 9), tick=False):  # Monday 09:00: due 11:00, resolve by Tuesday 09:00
        complaint = Complaint.objects.get(pk=file(world).json()["id"])
    with time_machine.travel(at(7, 10), tick=False):
        complaint_reply(complaint_id=complaint.pk, user=world.handlers[0], message="收到，正在核实")
    for moment in (at(7, 11), at(7, 18), at(8, 8, 59)):
        with time_machine.travel(moment, tick=False):
            assert complaints_escalate_overdue() == 0
    with time_machine.travel(at(8, 9), tick=False):
        assert complaints_escalate_overdue() == 1
    assert len(_escalations(complaint)) == 2


def test_the_overdue_query_agrees_with_the_rule(world):
    with time_machine.travel(at(7, 9), tick=False):
        complaints = [Complaint.objects.get(pk=file(world).json()["id"]) for _ in range(3)]
    with time_machine.travel(at(7, 10), tick=False):
        complaint_reply(complaint_id=complaints[1].pk, user=None, message="已回复")
        complaint_reply(complaint_id=complaints[2].pk, user=None, message="已解决", resolve=True)
    for moment in (at(7, 10, 59), at(7, 11), at(8, 9), at(9, 9)):
        rule = {c.pk for c in Complaint.objects.all() if overdue_reason(_clock(c), now=moment)}
        assert set(Complaint.objects.overdue(moment).values_list("pk", flat=True)) == rule


def test_a_reply_is_an_audit_row_and_a_subscribe_message_to_the_complainant(world):
    complaint = Complaint.objects.get(pk=file(world).json()["id"])
    event = complaint_reply(complaint_id=complaint.pk, user=world.handlers[1], message="非常抱歉，已批评教育司机")

    assert (event.kind, event.staff, event.actor) == ("reply", world.handlers[1], "kefu-b")
    message = Notification.objects.get(recipient_kind="customer")
    assert (message.template, message.channel, message.address) == ("complaint_reply", "subscribe",
                                                                    world.visitor.openid)
    assert message.event_key == f"complaint:{complaint.pk}:reply:{event.pk}"
    assert message.link == f"/shop/complaints/{complaint.pk}/" and "批评教育" in message.body
    replies = world.client.get(f"/api/v1/complaints/{complaint.pk}").json()["replies"]
    assert [(r["kind"], r["actor_label"], r["message"]) for r in replies][-1] == ("reply", "客服", "非常抱歉，已批评教育司机")


def test_a_resolved_complaint_takes_no_more_replies_and_nothing_changes(world):
    complaint = Complaint.objects.get(pk=file(world).json()["id"])
    complaint_reply(complaint_id=complaint.pk, user=None, message="已解决", resolve=True)
    before = _stored()
    with pytest.raises(Exception) as refused:
        complaint_reply(complaint_id=complaint.pk, user=None, message="再说一句")
    assert refused.value.code == "complaint_resolved"
    assert _stored() == before


def test_changing_the_owner_is_audited(world):
    complaint = Complaint.objects.get(pk=file(world).json()["id"])
    complaint_assign(complaint_id=complaint.pk, user=world.managers[0], owner_id=world.handlers[1].pk)
    complaint.refresh_from_db()
    assert complaint.owner == world.handlers[1]
    assert ComplaintEvent.objects.filter(complaint=complaint, kind="assigned", actor="manager-wang").exists()
