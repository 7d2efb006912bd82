"""Sending a campaign: the segment re-evaluated when sent, recipients = the segment, the monthly
cap across campaigns, consent and reps, coupons, idempotency and refusals that change nothing."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignSettings, MonthlyContact
from campaigns.rules import cap_allows, month_of
from campaigns.services import campaign_send_process, campaign_send_start, campaigns_resume, link_recipient_id
from core.errors import Conflict, NotFound, ValidationFailed
from coupons.models import Coupon
from crm.models import CustomerTag
from crm.segments import segment_count
from notifications.models import Notification, SubscribeConsent
from notifications.services import notification_send
from tests.coupons.conftest import template
from tests.factories import CustomerFactory, RepFactory

from .conftest import consenting, customers_with_rep, make_campaign, segment_of, send

pytestmark = pytest.mark.django_db
Status = CampaignRecipient.Status


def statuses(campaign) -> dict[int, str]:
    return dict(CampaignRecipient.objects.filter(campaign=campaign).values_list("customer_id", "status"))


def set_cap(cap: int) -> None:
    settings = CampaignSettings.current()
    settings.monthly_cap = cap
    settings.save()


def test_the_segment_is_evaluated_when_sent_and_its_count_is_exactly_who_is_considered():
    rep = RepFactory()
    first = customers_with_rep(3, rep)
    segment = segment_of(first)
    campaign = make_campaign(segment)
    later = CustomerFactory(rep=rep)  # joins the segment after the campaign was written, before it is sent
    CustomerTag.objects.create(customer=later, tag=segment.tags.get())
    shown = segment_count(segment)

    campaign = send(campaign)

    assert shown == 4
    assert campaign.segment_count == 4 and campaign.status == Campaign.Status.SENT and campaign.sent_at
    assert set(statuses(campaign)) == {c.pk for c in [*first, later]}
    assert set(statuses(campaign).values()) == {Status.PENDING}
    # Customers who join the segment after the send are not added.
    CustomerTag.objects.create(customer=CustomerFactory(rep=rep), tag=segment.tags.get())
    campaign_send_process(campaign_id=campaign.pk)
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 4


def test_segment_count_equals_the_recipients_actually_messaged_through_the_outbox(settings):
    customers = [CustomerFactory() for _ in range(5)]
    for customer in customers[:3]:
        consenting(customer)
    consenting(customers[3], times=0)  # a WeChat user who never accepted
    segment = segment_of(customers)
    count = segment_count(segment)

    campaign = send(make_campaign(segment, channel=Campaign.Channel.SUBSCRIBE))
    for notification in Notification.objects.filter(event_key=f"campaign:{campaign.pk}"):
        notification_send(notification_id=notification.pk)

    assert count == 5 == CampaignRecipient.objects.filter(campaign=campaign).count()
    sent = Notification.objects.filter(event_key=f"campaign:{campaign.pk}", status=Notification.Status.SENT)
    assert sorted(int(pk) for pk in sent.values_list("recipient_id", flat=True)) == sorted(c.pk for c in customers[:3])
    assert {pk: s for pk, s in statuses(campaign).items() if s != Status.QUEUED} == {
        customers[3].pk: Status.NO_CONSENT, customers[4].pk: Status.NO_CONSENT}
    # Each message links to its own signed, tracked URL, and spent one acceptance.
    for recipient in CampaignRecipient.objects.filter(campaign=campaign, status=Status.QUEUED):
        assert recipient.notification.link.startswith("/go/")
        assert link_recipient_id(recipient.notification.link.removeprefix("/go/")) == recipient.pk
        assert recipient.notification.template == "promotion"
    assert set(SubscribeConsent.objects.filter(template="promotion").values_list("available", flat=True)) == {0}


def test_rep_tasks_customers_without_a_rep_are_recorded_for_admin_not_lost_and_not_counted():
    rep = RepFactory()
    with_rep = customers_with_rep(2, rep)
    orphan = CustomerFactory(rep=None)
    campaign = send(make_campaign(segment_of([*with_rep, orphan])))

    assert statuses(campaign) == {with_rep[0].pk: Status.PENDING, with_rep[1].pk: Status.PENDING,
                                  orphan.pk: Status.NO_REP}
    assert not MonthlyContact.objects.filter(customer=orphan).exists()
    assert CampaignRecipient.objects.get(customer=orphan).rep_id is None


def test_the_monthly_cap_holds_across_campaigns_and_the_skipped_are_recorded_with_the_reason():
    set_cap(2)
    customers = customers_with_rep(3)
    segment = segment_of(customers)
    one, two, three = (send(make_campaign(segment)) for _ in range(3))

    assert set(statuses(one).values()) == set(statuses(two).values()) == {Status.PENDING}
    assert set(statuses(three).values()) == {Status.SKIPPED_CAP}
    assert set(MonthlyContact.objects.values_list("count", flat=True)) == {2}


def test_the_cap_is_per_shanghai_calendar_month():
    set_cap(1)
    customers = customers_with_rep(2)
    segment = segment_of(customers)
    # 2026-11-30 23:30 in Shanghai is 15:30 UTC: still November.
    with time_machine.travel(datetime(2026, 11, 30, 15, 30, tzinfo=UTC), tick=False):
        november = send(make_campaign(segment))
        also_november = send(make_campaign(segment))
    # 2026-12-01 00:10 in Shanghai (16:10 UTC on the 30th): a new month.
    with time_machine.travel(datetime(2026, 11, 30, 16, 10, tzinfo=UTC), tick=False):
        december = send(make_campaign(segment))

    assert set(statuses(november).values()) == {Status.PENDING}
    assert set(statuses(also_november).values()) == {Status.SKIPPED_CAP}
    assert set(statuses(december).values()) == {Status.PENDING}
    assert set(MonthlyContact.objects.values_list("month", flat=True)) == {
        datetime(2026, 11, 1).date(), datetime(2026, 12, 1).date()}


def test_the_cap_rule_and_month():
    assert cap_allows(0, 4) and cap_allows(3, 4) and not cap_allows(4, 4) and not cap_allows(5, 4)
    assert month_of(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)).isoformat() == "2027-01-01"
    assert month_of(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)).isoformat() == "2026-12-01"


def test_sending_is_idempotent_a_second_send_is_refused_and_a_retried_task_messages_nobody_twice():
    customers = [CustomerFactory() for _ in range(3)]
    for customer in customers:
        consenting(customer, times=2)
    campaign = make_campaign(segment_of(customers), channel=Campaign.Channel.SUBSCRIBE)
    campaign = send(campaign, batch_size=2)
    before = (list(Notification.objects.order_by("pk").values_list("pk", "recipient_id")), statuses(campaign),
              list(MonthlyContact.objects.values_list("customer_id", "count")))

    with pytest.raises(Conflict):
        campaign_send_start(campaign_id=campaign.pk)
    assert campaign_send_process(campaign_id=campaign.pk) == "not_sending"
    assert campaigns_resume() == 0

    after = (list(Notification.objects.order_by("pk").values_list("pk", "recipient_id")), statuses(campaign),
             list(MonthlyContact.objects.values_list("customer_id", "count")))
    assert after == before and len(before[0]) == 3


def test_a_task_retried_mid_send_continues_where_it_stopped(monkeypatch):
    from campaigns import services

    customers = customers_with_rep(5)
    campaign = make_campaign(segment_of(customers))
    campaign_send_start(campaign_id=campaign.pk)
    real = services._process_batch
    calls = []

    def crash_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_process_batch", crash_on_second)
    with pytest.raises(RuntimeError):
        campaign_send_process(campaign_id=campaign.pk, batch_size=2)
    assert sorted(statuses(campaign).values()).count(Status.PENDING) == 2  # the first batch committed
    monkeypatch.setattr(services, "_process_batch", real)
    assert campaigns_resume() == 1  # the periodic sweep finishes it

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert set(statuses(campaign).values()) == {Status.PENDING}
    assert set(MonthlyContact.objects.values_list("count", flat=True)) == {1}


def test_a_coupon_goes_to_each_customer_reached_in_one_issue_and_not_to_the_skipped():
    set_cap(1)
    reached = customers_with_rep(3)
    capped = CustomerFactory(rep=reached[0].rep)
    send(make_campaign(segment_of([capped])))  # uses capped's one place this month
    orphan = CustomerFactory()
    coupon = template(name="活动券")

    campaign = send(make_campaign(segment_of([*reached, capped, orphan]), coupon_template=coupon), batch_size=2)

    assert campaign.coupon_issue is not None
    assert sorted(Coupon.objects.filter(template=coupon).values_list("customer_id", flat=True)) == sorted(
        c.pk for c in reached)
    assert set(Coupon.objects.filter(template=coupon).values_list("issue_id", flat=True)) == {campaign.coupon_issue_id}
    campaign.coupon_issue.refresh_from_db()
    assert campaign.coupon_issue.issued_count == 3


@pytest.mark.parametrize("problem", ["empty_segment", "bad_link", "expired_coupon", "missing"])
def test_refusals_change_nothing(problem):
    customers = customers_with_rep(2)
    campaign = make_campaign(segment_of([] if problem == "empty_segment" else customers))
    if problem == "bad_link":
        Campaign.objects.filter(pk=campaign.pk).update(link="https://evil.example/")
    if problem == "expired_coupon":
        coupon = template(valid_from=timezone.localdate() - timedelta(days=9),
                          valid_to=timezone.localdate() - timedelta(days=1))
        Campaign.objects.filter(pk=campaign.pk).update(coupon_template=coupon)
    campaign_id = campaign.pk + 1000 if problem == "missing" else campaign.pk

    with pytest.raises(NotFound if problem == "missing" else ValidationFailed):
        campaign_send_start(campaign_id=campaign_id)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and campaign.segment_count is None
    assert not CampaignRecipient.objects.exists() and not MonthlyContact.objects.exists()
    assert not Coupon.objects.exists()
