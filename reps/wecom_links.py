"""Which restaurant a rep's WeCom contact is: the link rule (README "WeCom contacts").

WeCom's add-customer event names only the member and the customer's `external_userid`. What can
tie that customer to one of our restaurants comes from WeCom's customer profile
(externalcontact/get, through `wechat/`):

1. the **unionid**, when WeCom gives one (the mini program and WeCom bound to one Open Platform
   account): the restaurant of a mini-program user (Visitor) with the same unionid;
2. else a **phone** the rep noted on the contact (`remark_mobiles`), normalised as customers'
   phones are: the restaurant with that phone (one phone is one restaurant).

A link is made only when exactly one restaurant matches, and is never changed once made. It is
tried from both sides, so the order of events does not matter: when the contact is recorded (a task
the callback sends; the restaurant may already exist) and when a restaurant gets its phone or a visitor joins
it (`customer_bind_phone`; the contact may already exist).
"""

from __future__ import annotations

import logging

from django.db.models import Q

from core.errors import ApplicationError
from customers.models import Customer, Visitor
from customers.phones import phone_normalize
from wechat.backends import get_backend

from .models import WeComContact

logger = logging.getLogger("reps")


def _match(*, unionid: str, phone: str) -> int | None:
    if unionid:
        ids = set(Visitor.objects.filter(unionid=unionid, customer__isnull=False)
                  .values_list("customer_id", flat=True)[:2])
        if len(ids) == 1:
            return ids.pop()
    if phone:
        return Customer.objects.filter(phone=phone).values_list("pk", flat=True).first()
    return None


def wecom_contact_profile_fetch(*, contact_id: int) -> WeComContact | None:
    """Fetch the contact's WeCom profile (network: never inside a transaction), store what links
    it (name, unionid, noted phone) and link it to its restaurant by the rule above."""
    contact = WeComContact.objects.filter(pk=contact_id).first()
    if contact is None:
        return None
    try:
        backend = get_backend()
        profile = (backend.wecom_external_contact(external_userid=contact.external_userid)
                   if backend.wecom_available() else None)
    except ApplicationError as error:
        logger.warning("WeCom profile of contact %s not fetched: %s %s", contact.pk, error.code, error.details)
        profile = None
    if profile is not None:
        phone = next((p for p in map(phone_normalize, profile.phones) if p), "")
        WeComContact.objects.filter(pk=contact.pk).update(name=profile.name, unionid=profile.unionid, phone=phone)
        contact.name, contact.unionid, contact.phone = profile.name, profile.unionid, phone
    wecom_contact_link(contact=contact)
    return contact


def wecom_contact_link(*, contact: WeComContact) -> int | None:
    """Link one contact to its restaurant when the rule finds exactly one; the customer id or None."""
    if contact.customer_id is None:
        customer_id = _match(unionid=contact.unionid, phone=contact.phone)
        if customer_id is not None and WeComContact.objects.filter(pk=contact.pk, customer__isnull=True).update(
                customer_id=customer_id):
            contact.customer_id = customer_id
    return contact.customer_id


def wecom_contacts_link_customer(*, customer: Customer, unionid: str = "") -> int:
    """The other side: a restaurant just got its phone (or a visitor with `unionid` joined it);
    link the unlinked contacts that carry either. Returns how many were linked."""
    match = Q(phone=customer.phone) if customer.phone else Q(pk__in=[])
    if unionid:
        match |= Q(unionid=unionid)
    return WeComContact.objects.filter(match, customer__isnull=True).update(customer=customer)
