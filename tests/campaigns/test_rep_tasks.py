"""Rep tasks on the assistant: a rep sees only their own customers' tasks, with the message and
its tracked link ready; marking one sent is idempotent; another rep's task (or no task) is 404 and
changes nothing; the tracked link records opens and never redirects off the site."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignRecipient
from campaigns.services import link_token
from tests.factories import CustomerFactory, RepFactory

from .conftest import customers_with_rep, make_campaign, rep_client, segment_of, send

pytestmark = pytest.mark.django_db
Status = CampaignRecipient.Status


@pytest.fixture
def world():
    mine, other = RepFactory(name="张三"), RepFactory(name="李四")
    my_customers = customers_with_rep(2, mine)
    their_customer = CustomerFactory(rep=other, name="别人的餐厅")
    orphan = CustomerFactory(rep=None)
    campaign = send(make_campaign(segment_of([*my_customers, their_customer, orphan]), text="本周虾仁特价"))
    return mine, other, my_customers, their_customer, campaign


def rows():
    return sorted(CampaignRecipient.objects.values_list("pk", "status", "sent_at"))


def test_a_rep_sees_only_their_own_customers_with_the_message_ready(world):
    mine, _, my_customers, their_customer, campaign = world
    body = rep_client(mine).get("/api/v1/rep/campaign-tasks").json()

    assert [c["id"] for c in body["campaigns"]] == [campaign.pk]
    group = body["campaigns"][0]
    assert group["pending"] == 2
    assert sorted(task["customer_id"] for task in group["tasks"]) == sorted(c.pk for c in my_customers)
    for task in group["tasks"]:
        recipient = CampaignRecipient.objects.get(pk=task["id"])
        assert task["link"].endswith("/go/" + link_token(recipient.pk))
        assert task["message"] == "本周虾仁特价\n" + task["link"]
        assert task["status"] == "pending"
    assert their_customer.name not in str(body)


def test_marking_sent_is_idempotent(world):
    mine, _, my_customers, _, campaign = world
    client = rep_client(mine)
    task = CampaignRecipient.objects.get(campaign=campaign, customer=my_customers[0])

    first = client.post(f"/api/v1/rep/campaign-tasks/{task.pk}/sent", format="json")
    snapshot = rows()
    again = client.post(f"/api/v1/rep/campaign-tasks/{task.pk}/sent", format="json")

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["status"] == "sent"
    assert rows() == snapshot
    assert client.get("/api/v1/rep/campaign-tasks").json()["campaigns"][0]["pending"] == 1


@pytest.mark.parametrize("whose", ["other_reps", "no_rep", "missing"])
def test_a_task_that_is_not_the_reps_own_is_not_found_and_nothing_changes(world, whose):
    mine, _, _, their_customer, campaign = world
    target = {"other_reps": lambda: CampaignRecipient.objects.get(customer=their_customer).pk,
              "no_rep": lambda: CampaignRecipient.objects.get(status=Status.NO_REP).pk,
              "missing": lambda: 10**9}[whose]()
    before = rows()
    response = rep_client(mine).post(f"/api/v1/rep/campaign-tasks/{target}/sent", format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "campaign_task_not_found"
    assert rows() == before


def test_a_handover_moves_open_tasks_with_the_customer(world):
    mine, other, my_customers, _, _ = world
    my_customers[0].rep = other
    my_customers[0].save()
    mine_now = rep_client(mine).get("/api/v1/rep/campaign-tasks").json()["campaigns"][0]["tasks"]
    theirs_now = rep_client(other).get("/api/v1/rep/campaign-tasks").json()["campaigns"][0]["tasks"]
    assert [t["customer_id"] for t in mine_now] == [my_customers[1].pk]
    assert my_customers[0].pk in [t["customer_id"] for t in theirs_now]


def test_a_subscribe_campaign_gives_reps_no_tasks(world):
    mine, _, my_customers, _, _ = world
    send(make_campaign(segment_of(my_customers), channel=Campaign.Channel.SUBSCRIBE))
    campaigns = rep_client(mine).get("/api/v1/rep/campaign-tasks").json()["campaigns"]
    assert len(campaigns) == 1


def test_the_assistant_page_has_the_task_list(world):
    mine = world[0]
    page = rep_client(mine).get("/rep/")
    assert 'data-testid="campaign-tasks"' in page.content.decode()


# --- the tracked link ---------------------------------------------------------------------------

def test_the_tracked_link_records_the_first_open_and_the_count_and_redirects_to_the_page(client, world):
    _, _, my_customers, _, campaign = world
    Campaign.objects.filter(pk=campaign.pk).update(link="/shop/coupons/")
    recipient = CampaignRecipient.objects.get(campaign=campaign, customer=my_customers[0])
    url = reverse("campaign-link", args=[link_token(recipient.pk)])

    first = client.get(url)
    recipient.refresh_from_db()
    opened = recipient.first_opened_at
    client.get(url)
    recipient.refresh_from_db()

    assert first.status_code == 302 and first["Location"] == "/shop/coupons/"
    assert recipient.open_count == 2 and recipient.first_opened_at == opened is not None


@pytest.mark.parametrize("token", ["1", "1.abc", "999999.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "x" * 300,
                                   "-1.AAAA", "%00", "１.abc"])
def test_a_bad_or_forged_token_shows_a_chinese_page_and_records_nothing(client, world, token):
    before = rows(), sorted(CampaignRecipient.objects.values_list("pk", "open_count"))
    response = client.get("/go/" + token)
    assert response.status_code == 400
    # Our page; a control character is refused by the middleware before it, in the same language.
    assert "链接无效" in response.content.decode() or "网址含有不可见的控制字符" in response.json()["error"]["message"]
    assert (rows(), sorted(CampaignRecipient.objects.values_list("pk", "open_count"))) == before


def test_a_token_signed_for_another_recipient_id_is_refused(client, world):
    recipient = CampaignRecipient.objects.first()
    signature = link_token(recipient.pk).split(".", 1)[1]
    response = client.get(f"/go/{recipient.pk + 1}.{signature}")
    assert response.status_code == 400
    assert "链接无效" in response.content.decode()


@pytest.mark.parametrize("link", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"])
def test_never_an_open_redirect(client, world, link):
    campaign = world[4]
    Campaign.objects.filter(pk=campaign.pk).update(link=link)  # forced past the form's check
    recipient = CampaignRecipient.objects.filter(campaign=campaign).first()
    response = client.get(reverse("campaign-link", args=[link_token(recipient.pk)]))
    assert response.status_code == 302 and response["Location"] == "/shop/"
