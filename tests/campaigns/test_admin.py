"""Admin: create a campaign (its link checked), see the segment's count before sending, send once
through the confirmation page, read the results; the results API for staff only, its inputs checked."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CustomerFactory

from .conftest import customers_with_rep, make_campaign, segment_of, send

pytestmark = pytest.mark.django_db


def test_staff_create_a_campaign_and_a_link_off_the_site_is_refused(admin_client):
    segment = segment_of(customers_with_rep(2), name="火锅客户")
    form = {"name": "十二月虾仁", "channel": "rep_task", "segment": segment.pk, "title": "虾仁特价",
            "text": "本周虾仁特价", "link": "https://evil.example/", "coupon_template": ""}
    refused = admin_client.post(reverse("admin:campaigns_campaign_add"), form)
    assert refused.status_code == 200 and "请填写以 / 开头的站内路径" in refused.content.decode()
    assert not Campaign.objects.exists()

    saved = admin_client.post(reverse("admin:campaigns_campaign_add"), {**form, "link": "/shop/coupons/"})
    assert saved.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.DRAFT and campaign.created_by.username == "admin"


def test_the_count_is_shown_before_sending_and_the_send_happens_once(admin_client, django_capture_on_commit_callbacks):
    CustomerFactory()  # not in the segment
    campaign = make_campaign(segment_of(customers_with_rep(3), name="火锅客户"))

    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "4 位客户 → 3 位火锅客户" in page and "发送…" in page
    confirm = admin_client.get(reverse("admin:campaigns_campaign_send", args=[campaign.pk])).content.decode()
    assert "4 位客户 → 3 位火锅客户" in confirm and "每位客户每月最多收到 <b>4</b>" in confirm

    with django_capture_on_commit_callbacks(execute=True):
        sent = admin_client.post(reverse("admin:campaigns_campaign_send", args=[campaign.pk]))
    assert sent.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT and campaign.segment_count == 3  # the task ran after commit
    assert CampaignRecipient.objects.filter(campaign=campaign, status="pending").count() == 3

    again = admin_client.post(reverse("admin:campaigns_campaign_send", args=[campaign.pk]), follow=True)
    assert "该活动已发送，不能再次发送" in again.content.decode()
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 3
    results = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'data-testid="result-recipients">3<' in results
    listing = admin_client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
    assert campaign.name in listing


def test_an_empty_segment_is_refused_on_the_confirmation_page_and_nothing_changes(admin_client):
    campaign = make_campaign(segment_of([]))
    response = admin_client.post(reverse("admin:campaigns_campaign_send", args=[campaign.pk]))
    assert response.status_code == 200 and "目前没有客户" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and not CampaignRecipient.objects.exists()


def test_the_results_api_is_for_staff_with_the_permission(client, admin_client):
    campaign = send(make_campaign(segment_of(customers_with_rep(2))))
    body = admin_client.get(f"/api/v1/campaigns/results?ids={campaign.pk}").json()
    assert body["results"][0]["recipients"] == 2 and body["results"][0]["gmv"] == "0.00"
    assert admin_client.get("/api/v1/campaigns/results").json()["results"][0]["id"] == campaign.pk

    clerk = User.objects.create_user("clerk-x", password="pw-12345678", is_staff=True)
    client.force_login(clerk)
    refused = client.get("/api/v1/campaigns/results")
    assert refused.status_code == 403 and refused.json()["error"]["message"] == "需要营销活动的查看权限"


@pytest.mark.parametrize("query", ["ids=", "ids=a,b", "ids=" + ",".join(["1"] * 101), "from=2026-13-01",
                                   "from=2026-12-10&to=2026-12-01", "from=2020-01-01&to=2026-12-01",
                                   "ids=99999999999999999999"])
def test_bad_result_queries_are_refused_in_chinese(admin_client, query):
    response = admin_client.get("/api/v1/campaigns/results?" + query)
    assert response.status_code == 400
    assert response.json()["error"]["message"]
