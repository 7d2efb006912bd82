"""Which price list is in force (catalog.price_lists): the customer's own, else its tags' by
priority, only while it applies; kept on the customer by every event that changes it, and the
same price on every path when the list comes from a tag."""

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from catalog.models import PriceList, PriceListEntry
from catalog.price_lists import ListHeader, list_in_force, refresh
from crm.autotags import auto_tags_recompute
from crm.models import AutoTagSettings, CustomerTag, Tag, TagGroup
from crm.services import customer_tags_set
from customers.models import Customer
from tests.catalog.test_price_lists import test_the_same_price_in_listing_product_page_cart_quote_checkout_and_reorder \
    as same_price_everywhere
from tests.catalog.test_price_lists import world  # noqa: F401 (the fixture)
from tests.factories import CustomerFactory

D = Decimal
DAY = date(2026, 12, 7)


def header(pk, *, active=True, start=None, end=None, priority=0):
    return ListHeader(id=pk, is_active=active, valid_from=start, valid_to=end, priority=priority)


# -- the rule, pure ---------------------------------------------------------------------------------

def test_the_own_list_beats_every_tag_list():
    assert list_in_force(own=header(1), tag_lists=[header(2, priority=9)], day=DAY) == 1


def test_an_own_list_out_of_its_dates_or_inactive_gives_way_to_a_tag_list():
    for own in (header(1, end=DAY - timedelta(days=1)), header(1, start=DAY + timedelta(days=1)),
                header(1, active=False)):
        assert list_in_force(own=own, tag_lists=[header(2)], day=DAY) == 2


def test_tag_lists_by_priority_then_the_older_list():
    lists = [header(5, priority=1), header(3, priority=2), header(4, priority=2)]
    assert list_in_force(own=None, tag_lists=lists, day=DAY) == 3
    assert list_in_force(own=None, tag_lists=[header(5, priority=1), header(3, priority=2, active=False)],
                         day=DAY) == 5


def test_dates_are_inclusive_and_nothing_applicable_is_no_list():
    assert list_in_force(own=header(1, start=DAY, end=DAY), tag_lists=[], day=DAY) == 1
    assert list_in_force(own=header(1, end=DAY - timedelta(days=1)),
                         tag_lists=[header(2, active=False)], day=DAY) is None
    assert list_in_force(own=None, tag_lists=[], day=DAY) is None


# -- the set-based refresh agrees with the rule -----------------------------------------------------

@pytest.mark.django_db
def test_the_refresh_writes_what_the_rule_gives_on_random_customers():
    rng = random.Random(16)
    lists = []
    for i in range(8):
        start = rng.choice([None, DAY - timedelta(days=3), DAY, DAY + timedelta(days=1)])
        end = rng.choice([None, DAY - timedelta(days=1), DAY, DAY + timedelta(days=5)])
        if start and end and end < start:
            end = None
        lists.append(PriceList.objects.create(name=f"价目表{i}", is_active=rng.random() < 0.8, valid_from=start,
                                              valid_to=end, priority=rng.choice([0, 0, 1, 5])))
    group = TagGroup.objects.create(name="渠道", kind=TagGroup.Kind.MANUAL)
    tags = [Tag.objects.create(group=group, name=f"标签{i}", price_list=rng.choice([None, *lists]))
            for i in range(6)]
    customers = []
    for i in range(120):
        customer = CustomerFactory(own_price_list=rng.choice([None, None, *lists]))
        for tag in rng.sample(tags, rng.randint(0, 3)):
            CustomerTag.objects.create(customer=customer, tag=tag)
        customers.append(customer)
    Customer.objects.update(price_list=lists[0])  # wrong for most: the refresh must rewrite them

    refresh(None, day=DAY)

    def headers(price_lists):
        return [header(p.pk, active=p.is_active, start=p.valid_from, end=p.valid_to, priority=p.priority)
                for p in price_lists]
    for customer in customers:
        own = headers([customer.own_price_list])[0] if customer.own_price_list else None
        tagged = headers(t.price_list for t in Tag.objects.filter(customer_tags__customer=customer)
                         .select_related("price_list") if t.price_list)
        expected = list_in_force(own=own, tag_lists=tagged, day=DAY)
        assert Customer.objects.get(pk=customer.pk).price_list_id == expected, customer.pk
    assert refresh(None, day=DAY) == 0  # nothing left to change


# -- every event keeps the list in force ------------------------------------------------------------

@pytest.fixture
def lists(db):
    big = PriceList.objects.create(name="大客户价")
    chain = PriceList.objects.create(name="连锁店价", priority=1)
    new = PriceList.objects.create(name="新客价")
    group = TagGroup.objects.create(name="客户类型", kind=TagGroup.Kind.MANUAL)
    chain_tag = Tag.objects.create(group=group, name="连锁店", price_list=chain)
    new_tag = Tag.objects.create(group=group, name="新客", price_list=new)
    return dict(big=big, chain=chain, new=new, chain_tag=chain_tag, new_tag=new_tag, group=group)


def in_force(customer):
    return Customer.objects.get(pk=customer.pk).price_list_id


@pytest.mark.django_db
def test_own_list_and_tags_set_and_cleared(lists):
    customer = CustomerFactory()
    customer_tags_set(customer_id=customer.pk, tag_ids=[lists["new_tag"].pk])
    assert in_force(customer) == lists["new"].pk
    customer_tags_set(customer_id=customer.pk, tag_ids=[lists["new_tag"].pk, lists["chain_tag"].pk])
    assert in_force(customer) == lists["chain"].pk  # the higher priority
    customer.own_price_list = lists["big"]
    customer.save()
    assert in_force(customer) == lists["big"].pk  # its own list first
    customer.own_price_list = None
    customer.save()
    assert in_force(customer) == lists["chain"].pk
    customer_tags_set(customer_id=customer.pk, tag_ids=[])
    assert in_force(customer) is None


@pytest.mark.django_db
def test_a_tag_given_another_list_or_deleted_and_a_list_changed_or_deleted(lists):
    customer = CustomerFactory()
    customer_tags_set(customer_id=customer.pk, tag_ids=[lists["new_tag"].pk, lists["chain_tag"].pk])
    assert in_force(customer) == lists["chain"].pk
    lists["chain_tag"].price_list = lists["big"]
    lists["chain_tag"].save()
    assert in_force(customer) == lists["big"].pk  # 大客户价 and 新客价 both priority 0: the older
    lists["new"].priority = 3
    lists["new"].save()
    assert in_force(customer) == lists["new"].pk
    lists["new"].is_active = False
    lists["new"].save()
    assert in_force(customer) == lists["big"].pk
    lists["big"].delete()
    assert in_force(customer) is None  # 新客价 inactive, 大客户价 gone
    lists["new"].is_active = True
    lists["new"].save()
    assert in_force(customer) == lists["new"].pk
    lists["new_tag"].delete()
    assert in_force(customer) is None  # the other tag lost its list with 大客户价


@pytest.mark.django_db
def test_the_nightly_refresh_follows_the_dates_in_shanghai(lists):
    from catalog.tasks import price_lists_refresh_task

    today = timezone.localdate()
    lists["big"].valid_to = today
    lists["big"].save()
    lists["new"].valid_from = today + timedelta(days=1)
    lists["new"].save()
    customer = CustomerFactory(own_price_list=lists["big"])
    customer_tags_set(customer_id=customer.pk, tag_ids=[lists["new_tag"].pk])
    assert in_force(customer) == lists["big"].pk
    tomorrow = timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min))
    with time_machine.travel(tomorrow + timedelta(minutes=1), tick=False):
        assert price_lists_refresh_task() == {"changed": 1}
    assert in_force(customer) == lists["new"].pk


@pytest.mark.django_db
def test_automatic_tags_bring_their_lists():
    vip = PriceList.objects.create(name="大客户价")
    auto = TagGroup.objects.create(name="RFM", kind=TagGroup.Kind.AUTO)
    AutoTagSettings.current()
    Tag.objects.create(group=auto, name="重要价值", rfm_segment="important_value", price_list=vip)
    stranger = CustomerFactory()
    Customer.objects.filter(pk=stranger.pk).update(price_list=vip)  # not tagged: must lose it
    auto_tags_recompute()
    assert in_force(stranger) is None


# -- the same price everywhere when the list comes from a tag ---------------------------------------

@pytest.mark.django_db
def test_a_tags_list_prices_listing_product_page_cart_checkout_and_reorder(world):  # noqa: F811
    customer = world["customer"]
    Customer.objects.filter(pk=customer.pk).update(price_list=None)
    group = TagGroup.objects.create(name="客户类型", kind=TagGroup.Kind.MANUAL)
    tag = Tag.objects.create(group=group, name="大客户", price_list=world["big"])
    customer_tags_set(customer_id=customer.pk, tag_ids=[tag.pk])
    assert in_force(customer) == world["big"].pk
    same_price_everywhere(world)
