"""Writes of the tags: a person (staff, or the customer's own rep) sets a customer's manual tags."""

from collections.abc import Iterable

from django.db import transaction

from core.errors import NotFound, ValidationFailed

from .models import CustomerTag, Tag, TagGroup
from .selectors import customer_tags

MAX_TAGS = 100


def _manual_tag_ids(tag_ids: Iterable) -> set[int]:
    """The ids, each an existing tag of a manual group; anything else refuses the whole request."""
    try:
        wanted = {int(pk) for pk in tag_ids}
    except (TypeError, ValueError):
        raise ValidationFailed("标签参数无效", code="invalid_tags")
    if len(wanted) > MAX_TAGS:
        raise ValidationFailed(f"一次最多 {MAX_TAGS} 个标签", code="invalid_tags")
    found = set(Tag.objects.filter(pk__in=wanted, group__kind=TagGroup.Kind.MANUAL).values_list("pk", flat=True))
    if found != wanted:
        raise ValidationFailed("标签不存在，或是自动标签（不能手动设置）", code="invalid_tags",
                               details={"tag_ids": sorted(wanted - found)})
    return wanted


def customer_tags_set(*, customer_id: int, tag_ids: Iterable, user=None, rep=None) -> list[CustomerTag]:
    """Make the customer's manual tags exactly `tag_ids`; automatic tags are left alone.

    With `rep`, only that rep's own customer (another rep's is "not found", and nothing changes).
    Returns the customer's tags afterwards, manual and automatic."""
    from customers.models import Customer

    wanted = _manual_tag_ids(tag_ids)
    with transaction.atomic():
        # The customer's row lock serialises two edits of one customer's tags (LOCK_ORDER: customer).
        customers = Customer.objects.select_for_update().filter(pk=customer_id)
        if rep is not None:
            customers = customers.filter(rep=rep)
        customer = customers.first()
        if customer is None:
            raise NotFound("客户不存在或不归您负责", code="customer_not_found")
        mine = CustomerTag.objects.filter(customer=customer, source=CustomerTag.Source.MANUAL)
        mine.exclude(tag_id__in=wanted).delete()
        have = set(CustomerTag.objects.filter(customer=customer).values_list("tag_id", flat=True))
        CustomerTag.objects.bulk_create([
            CustomerTag(customer=customer, tag_id=pk, source=CustomerTag.Source.MANUAL,
                        created_by=user if getattr(user, "pk", None) else None)
            for pk in sorted(wanted - have)])
        from catalog.price_lists import refresh_on_commit

        refresh_on_commit([customer.pk])  # a tag may bring a price list (catalog.price_lists)
    return customer_tags(customer_id=customer.pk)
