"""Two campaigns sent at the same moment to overlapping segments, for real on PostgreSQL (threads,
their own connections, committed transactions): no customer ever gets more than the monthly cap,
and every recipient is either reached once or recorded as skipped for the cap."""

from collections import Counter

import pytest
from django.db import connection

from campaigns.models import Campaign, CampaignRecipient, CampaignSettings, MonthlyContact
from campaigns.services import campaign_send_process, campaign_send_start
from tests.concurrency import run_in_threads

from .conftest import customers_with_rep, make_campaign, segment_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
Status = CampaignRecipient.Status


@pytest.fixture(autouse=True)
def _no_eager_task(monkeypatch):
    """The test runs the send itself, in threads: the task the start would run on commit (eagerly
    in tests) does not."""
    from campaigns import tasks

    monkeypatch.setattr(tasks.campaign_send_task, "delay", lambda *args, **kwargs: None)


@pytest.mark.parametrize("cap", [1, 2])
def test_campaigns_sent_at_once_never_exceed_the_monthly_cap(cap):
    if connection.vendor != "postgresql":
        pytest.skip("the race is decided by PostgreSQL's row locks")
    settings = CampaignSettings.current()
    settings.monthly_cap = cap
    settings.save()
    customers = customers_with_rep(60)
    # Three campaigns over overlapping thirds of the customers (each customer in two or three).
    segments = [segment_of(customers[:45]), segment_of(customers[15:]), segment_of(customers[::2])]
    campaigns = [make_campaign(segment) for segment in segments]
    for campaign in campaigns:
        campaign_send_start(campaign_id=campaign.pk)

    results = run_in_threads(len(campaigns), lambda i: campaign_send_process(campaign_id=campaigns[i].pk,
                                                                             batch_size=7))

    assert results == ["sent"] * len(campaigns)
    reached = Counter(CampaignRecipient.objects.filter(status=Status.PENDING).values_list("customer_id", flat=True))
    wanted = Counter(CampaignRecipient.objects.values_list("customer_id", flat=True))
    for customer in customers:
        assert reached[customer.pk] == min(cap, wanted[customer.pk]), customer.pk
    assert set(CampaignRecipient.objects.values_list("status", flat=True)) <= {Status.PENDING, Status.SKIPPED_CAP}
    assert dict(MonthlyContact.objects.values_list("customer_id", "count")) == dict(reached)
    assert set(Campaign.objects.values_list("status", flat=True)) == {Campaign.Status.SENT}


def test_two_workers_on_the_same_campaign_reach_each_customer_once():
    if connection.vendor != "postgresql":
        pytest.skip("the race is decided by PostgreSQL's row locks")
    customers = customers_with_rep(30)
    campaign = make_campaign(segment_of(customers))
    campaign_send_start(campaign_id=campaign.pk)

    results = run_in_threads(2, lambda i: campaign_send_process(campaign_id=campaign.pk, batch_size=4))

    # The second waits for each batch of the first; whichever finds nothing left finishes it, the
    # other then finds it sent already.
    assert "sent" in results and set(results) <= {"sent", "not_sending"}
    assert CampaignRecipient.objects.filter(campaign=campaign, status=Status.PENDING).count() == 30
    assert set(MonthlyContact.objects.values_list("count", flat=True)) == {1}
