"""Manual tags: staff in admin, a rep for their own customers only (API), never automatic tags by hand."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.test import APIClient

from crm.models import CustomerTag, Tag, TagGroup
from tests.factories import CustomerFactory, RepFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tags():
    business = TagGroup.objects.create(name="业态", sort_order=1)
    size = TagGroup.objects.create(name="规模", sort_order=2)
    auto = TagGroup.objects.create(name="购买偏好", kind=TagGroup.Kind.AUTO, sort_order=3)
    return {
        "火锅": Tag.objects.create(group=business, name="火锅"), "烧烤": Tag.objects.create(group=business, name="烧烤"),
        "大": Tag.objects.create(group=size, name="大"), "买虾": Tag.objects.create(group=auto, name="买虾"),
    }


def rep_client(rep):
    user = User.objects.create_user(f"rep-{rep.pk}", password="pw-12345678")
    rep.user = user
    rep.save()
    client = APIClient()
    client.force_login(user)
    return client


def state():
    return sorted(CustomerTag.objects.values_list("customer_id", "tag_id", "source"))


def test_a_rep_sets_the_manual_tags_of_their_customer_and_keeps_the_automatic_ones(tags):
    rep = RepFactory()
    customer = CustomerFactory(rep=rep)
    CustomerTag.objects.create(customer=customer, tag=tags["买虾"], source=CustomerTag.Source.AUTO)
    CustomerTag.objects.create(customer=customer, tag=tags["烧烤"])
    client = rep_client(rep)

    response = client.put(f"/api/v1/rep/customers/{customer.pk}/tags",
                          {"tag_ids": [tags["火锅"].pk, tags["大"].pk]}, format="json")

    assert response.status_code == 200, response.content
    assert [(t["group"], t["name"], t["source"]) for t in response.json()["tags"]] == [
        ("业态", "火锅", "manual"), ("规模", "大", "manual"), ("购买偏好", "买虾", "auto")]
    assert [g["name"] for g in response.json()["groups"]] == ["业态", "规模"]  # the picker: manual groups
    assert CustomerTag.objects.get(customer=customer, tag=tags["火锅"]).created_by == rep.user
    got = client.get(f"/api/v1/rep/customers/{customer.pk}/tags")
    assert got.json() == response.json()


def test_a_rep_cannot_tag_another_reps_customer_and_nothing_changes(tags):
    mine, theirs = RepFactory(), RepFactory()
    customer = CustomerFactory(rep=theirs)
    CustomerTag.objects.create(customer=customer, tag=tags["烧烤"])
    before = state()
    client = rep_client(mine)

    put = client.put(f"/api/v1/rep/customers/{customer.pk}/tags", {"tag_ids": [tags["火锅"].pk]}, format="json")
    cleared = client.put(f"/api/v1/rep/customers/{customer.pk}/tags", {"tag_ids": []}, format="json")
    read = client.get(f"/api/v1/rep/customers/{customer.pk}/tags")

    assert [put.status_code, cleared.status_code, read.status_code] == [404, 404, 404]
    assert put.json()["error"]["code"] == "customer_not_found"
    assert "烧烤" not in read.content.decode()
    assert state() == before


@pytest.mark.parametrize("body", [
    {"tag_ids": ["auto"]}, {"tag_ids": [999999]}, {"tag_ids": "1"}, {}, {"tag_ids": [0]}, {"tag_ids": [2**63]},
    {"tag_ids": list(range(1, 102))},
])
def test_bad_tag_lists_are_refused_in_the_error_shape_and_change_nothing(tags, body):
    rep = RepFactory()
    customer = CustomerFactory(rep=rep)
    CustomerTag.objects.create(customer=customer, tag=tags["烧烤"])
    before = state()

    response = rep_client(rep).put(f"/api/v1/rep/customers/{customer.pk}/tags", body, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert state() == before


def test_an_automatic_tag_cannot_be_set_by_hand(tags):
    rep = RepFactory()
    customer = CustomerFactory(rep=rep)
    before = state()
    response = rep_client(rep).put(f"/api/v1/rep/customers/{customer.pk}/tags",
                                   {"tag_ids": [tags["火锅"].pk, tags["买虾"].pk]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"tag_ids": [tags["买虾"].pk]}
    assert state() == before


def test_the_rep_page_shows_the_tags_section(tags):
    rep = RepFactory()
    customer = CustomerFactory(rep=rep)
    client = rep_client(rep)
    page = client.get(reverse("rep:customer", args=[customer.pk]))
    assert page.status_code == 200
    assert 'data-testid="customer-tags"' in page.content.decode()


def change_form_data(page) -> dict:
    """What the browser would post back for an admin change page as shown (inlines included)."""
    form = page.context["adminform"].form
    data = {name: value for name in form.fields if (value := form.initial.get(name)) is not None}
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update({f"{formset.prefix}-TOTAL_FORMS": str(formset.total_form_count()),
                     f"{formset.prefix}-INITIAL_FORMS": str(formset.initial_form_count()),
                     f"{formset.prefix}-MIN_NUM_FORMS": "0", f"{formset.prefix}-MAX_NUM_FORMS": "1000"})
        for sub in formset.initial_forms:
            for name, field in sub.fields.items():
                value = sub.initial.get(name, field.initial)
                if value is not None:
                    data[sub.add_prefix(name)] = getattr(value, "pk", value)
        data[f"{formset.prefix}-TOTAL_FORMS"] = str(formset.initial_form_count())
    return data


def test_staff_tag_a_customer_by_hand_in_admin_and_see_both_kinds(tags, admin_client):
    customer = CustomerFactory(name="老王火锅")
    CustomerTag.objects.create(customer=customer, tag=tags["买虾"], source=CustomerTag.Source.AUTO)
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "自动标签（每晚按规则计算）" in html and "买虾" in html
    data = change_form_data(page)
    manual = page.context["inline_admin_formsets"][0].formset
    data[f"{manual.prefix}-TOTAL_FORMS"] = str(manual.initial_form_count() + 1)
    data[f"{manual.prefix}-{manual.initial_form_count()}-tag"] = str(tags["火锅"].pk)

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    row = CustomerTag.objects.get(customer=customer, tag=tags["火锅"])
    assert row.source == CustomerTag.Source.MANUAL
    assert row.created_by.username == "admin"
    choices = [c for c in page.context["inline_admin_formsets"][0].formset.empty_form.fields["tag"].queryset]
    assert tags["买虾"] not in choices
