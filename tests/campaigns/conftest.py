"""Campaigns' test world: customers tagged into a segment, reps, consent, and sending."""

import itertools

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from campaigns.models import Campaign
from campaigns.services import campaign_send_process, campaign_send_start
from crm.models import CustomerTag, Segment, Tag, TagGroup
from tests.factories import CustomerFactory, RepFactory, VisitorFactory, subscribe_consent

_n = itertools.count(1)


def segment_of(customers, name: str | None = None) -> Segment:
    """A saved segment holding exactly these customers (a tag they alone carry)."""
    n = next(_n)
    group = TagGroup.objects.create(name=f"活动组{n}")
    tag = Tag.objects.create(group=group, name=f"活动{n}")
    CustomerTag.objects.bulk_create([CustomerTag(customer=c, tag=tag) for c in customers])
    segment = Segment.objects.create(name=name or f"分群{n}")
    segment.tags.set([tag])
    return segment


def make_campaign(segment, *, channel=Campaign.Channel.REP_TASK, **fields) -> Campaign:
    values = dict(name=f"活动{next(_n)}", title="新到冻虾", text="新到一批阿根廷红虾，欢迎下单", link="/shop/")
    values.update(fields)
    return Campaign.objects.create(segment=segment, channel=channel, **values)


def send(campaign, **kwargs) -> Campaign:
    campaign_send_start(campaign_id=campaign.pk)
    campaign_send_process(campaign_id=campaign.pk, **kwargs)
    campaign.refresh_from_db()
    return campaign


def customers_with_rep(count: int, rep=None):
    rep = rep or RepFactory()
    return [CustomerFactory(rep=rep) for _ in range(count)]


def consenting(customer, times: int = 1):
    """The customer's WeChat user, having accepted the promotion template `times` times."""
    visitor = VisitorFactory(customer=customer)
    if times:
        subscribe_consent(visitor.openid, "promotion", times=times)
    return visitor


def rep_client(rep) -> APIClient:
    user = User.objects.create_user(f"rep-{rep.pk}-{next(_n)}", password="pw-12345678")
    rep.user = user
    rep.save()
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def rep():
    return RepFactory()
