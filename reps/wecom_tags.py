"""The company's customer tags mirrored as WeCom corp tags (README "Tags to WeCom").

- Every `crm.Tag` gets a WeCom corp tag in a corp tag group named after its `TagGroup`
  (`add_corp_tag`; the group is made by name the first time, then addressed by its id). The ids
  WeCom returns are kept in `WeComCorpTag`: only tags this app created are ever marked or deleted.
  A tag deleted here is deleted in WeCom (`del_corp_tag`), which also takes it off every customer;
  a tag renamed here is renamed there (`edit_corp_tag`, by its id: the marks stay).
- Each active WeCom contact linked to a restaurant carries, on its rep's side, exactly the mirrored
  tags the restaurant has (`mark_tag`): tags the restaurant gained are added, tags it lost removed.
  What was marked is kept in `WeComTagMark`, so a run compares the wanted set with it in SQL and
  calls WeCom only for the difference: running it twice makes no second call.
- `wecom_tags_sync` runs every 15 minutes (and is safe at any time); a WeCom refusal for one
  contact is logged and retried next run, the rest go on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from itertools import islice

from django.db import transaction
from django.db.models import F

from core.errors import ApplicationError
from crm.models import CustomerTag, Tag
from wechat.backends import get_backend
from wechat.backends.tags_base import CORP_TAGS_PER_CALL

from .models import WeComContact, WeComCorpTag, WeComTagMark

logger = logging.getLogger("reps")


def _chunks(items, size):
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def wecom_corp_tags_mirror() -> int:
    """Create the missing corp tags, delete those whose tag is gone. Returns how many changed."""
    backend = get_backend()
    changed = 0
    missing = defaultdict(list)
    for tag in Tag.objects.filter(wecom_corp_tag__isnull=True).select_related("group").order_by("group_id", "pk"):
        missing[tag.group].append(tag)
    groups = dict(WeComCorpTag.objects.exclude(group=None).values_list("group_id", "wecom_group_id").distinct())
    for group, tags in missing.items():
        for chunk in _chunks(tags, CORP_TAGS_PER_CALL):
            result = backend.wecom_add_corp_tags(group_name=group.name, group_id=groups.get(group.pk, ""),
                                                 names=[t.name for t in chunk])
            groups[group.pk] = result.group_id
            WeComCorpTag.objects.bulk_create(
                [WeComCorpTag(tag=t, group=group, name=t.name, wecom_group_id=result.group_id,
                              wecom_tag_id=result.tags[t.name]) for t in chunk], ignore_conflicts=True)
            changed += len(chunk)
    renamed = WeComCorpTag.objects.filter(tag__isnull=False).exclude(name=F("tag__name")).select_related("tag")
    for corp_tag in renamed:
        backend.wecom_edit_corp_tag(tag_id=corp_tag.wecom_tag_id, name=corp_tag.tag.name)
        WeComCorpTag.objects.filter(pk=corp_tag.pk).update(name=corp_tag.tag.name)
        changed += 1
    gone = list(WeComCorpTag.objects.filter(tag__isnull=True).values_list("pk", "wecom_tag_id"))
    for chunk in _chunks(gone, CORP_TAGS_PER_CALL):
        backend.wecom_del_corp_tags(tag_ids=[wecom_id for _, wecom_id in chunk])
        WeComCorpTag.objects.filter(pk__in=[pk for pk, _ in chunk]).delete()  # and their marks
        changed += len(chunk)
    return changed


def _wanted() -> set[tuple[int, int]]:
    """(contact, corp tag) pairs that should be marked: one query."""
    return set(CustomerTag.objects.filter(
        customer__wecom_contacts__status=WeComContact.Status.ACTIVE, tag__wecom_corp_tag__isnull=False,
    ).values_list("customer__wecom_contacts__id", "tag__wecom_corp_tag__id"))


def wecom_tag_marks_sync() -> int:
    """Mark and unmark each contact's tags in WeCom to match its restaurant's; calls made."""
    backend = get_backend()
    # Marks of contacts no longer active mean nothing in WeCom any more: forgotten, no call.
    WeComTagMark.objects.exclude(contact__status=WeComContact.Status.ACTIVE).delete()
    wanted = _wanted()
    have = set(WeComTagMark.objects.values_list("contact_id", "corp_tag_id"))
    add, remove = defaultdict(list), defaultdict(list)
    for contact_id, tag_id in wanted - have:
        add[contact_id].append(tag_id)
    for contact_id, tag_id in have - wanted:
        remove[contact_id].append(tag_id)
    contact_ids = set(add) | set(remove)
    if not contact_ids:
        return 0
    contacts = {c.pk: c for c in WeComContact.objects.filter(pk__in=contact_ids).select_related("rep")}
    wecom_ids = dict(WeComCorpTag.objects.filter(
        pk__in={t for ts in (*add.values(), *remove.values()) for t in ts}).values_list("pk", "wecom_tag_id"))
    calls = 0
    for contact_id in sorted(contact_ids):
        contact = contacts[contact_id]
        adding, removing = sorted(add.get(contact_id, [])), sorted(remove.get(contact_id, []))
        try:
            backend.wecom_mark_tag(user_id=contact.rep.wecom_user_id, external_userid=contact.external_userid,
                                   add=[wecom_ids[t] for t in adding], remove=[wecom_ids[t] for t in removing])
        except ApplicationError as error:
            logger.warning("WeCom tags of contact %s not marked: %s %s", contact_id, error.code, error.details)
            continue
        calls += 1
        with transaction.atomic():
            WeComTagMark.objects.bulk_create([WeComTagMark(contact_id=contact_id, corp_tag_id=t) for t in adding],
                                             ignore_conflicts=True)
            WeComTagMark.objects.filter(contact_id=contact_id, corp_tag_id__in=removing).delete()
    return calls


def wecom_tags_sync() -> tuple[int, int]:
    """Both halves; nothing when WeCom is not set up. (corp tags changed, mark calls made)."""
    if not get_backend().wecom_available():
        return 0, 0
    return wecom_corp_tags_mirror(), wecom_tag_marks_sync()
