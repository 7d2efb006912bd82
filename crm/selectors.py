"""Reads of the tags that the admin, the rep's customer page and its API share."""

from core.errors import NotFound

from .models import CustomerTag, Tag, TagGroup


def customer_tags(*, customer_id: int) -> list[CustomerTag]:
    """A customer's tags, manual and automatic, in group and tag order (one query)."""
    return list(CustomerTag.objects.filter(customer_id=customer_id).select_related("tag__group"))


def rep_customer_tags(*, rep, customer_id: int) -> list[CustomerTag]:
    """The tags of one of the rep's own customers; another rep's customer is not found."""
    from customers.models import Customer

    if not Customer.objects.filter(pk=customer_id, rep=rep).exists():
        raise NotFound("客户不存在或不归您负责", code="customer_not_found")
    return customer_tags(customer_id=customer_id)


def manual_tag_groups() -> list[dict]:
    """The manual groups with their tags, for a tag picker (one query)."""
    groups: dict[int, dict] = {}
    for tag in Tag.objects.filter(group__kind=TagGroup.Kind.MANUAL).select_related("group"):
        group = groups.setdefault(tag.group_id, {"id": tag.group_id, "name": tag.group.name, "tags": []})
        group["tags"].append({"id": tag.pk, "name": tag.name})
    return list(groups.values())
