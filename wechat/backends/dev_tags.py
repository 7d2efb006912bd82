"""The dev WeCom's corp tags: each group and tag a `DevMessage` (kind wecom_tag), each customer's
marks a `DevMessage` (kind wecom_mark, data.tags); the admin's 模拟微信消息 shows them."""

import secrets

from core.errors import ValidationFailed

from ..models import DevMessage
from .tags_base import (
    CorpTagGroup, TagsMixin, _ids, validate_add_corp_tags, validate_edit_corp_tag, validate_mark_tag,
)


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(11)  # WeCom's look: "et" + 22 characters


class DevTagsMixin(TagsMixin):
    def wecom_add_corp_tags(self, *, group_name, names, group_id=""):
        names = validate_add_corp_tags(group_name=group_name, group_id=group_id, names=names)
        groups = DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_TAG, data__type="group")
        group = groups.filter(to=group_id).first() if group_id else groups.filter(text=group_name).first()
        if group_id and group is None:
            raise ValidationFailed("标签组不存在", code="40068")
        if group is None:
            group = DevMessage.objects.create(kind=DevMessage.Kind.WECOM_TAG, to=_new_id("et"), text=group_name,
                                              data={"type": "group"})
        tags = {}
        for name in names:
            tag = DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_TAG, data__group=group.to, text=name).first()
            if tag is None:
                tag = DevMessage.objects.create(kind=DevMessage.Kind.WECOM_TAG, to=_new_id("et"), text=name,
                                                data={"type": "tag", "group": group.to})
            tags[name] = tag.to
        return CorpTagGroup(group_id=group.to, tags=tags)

    def wecom_del_corp_tags(self, *, tag_ids=(), group_ids=()):
        tag_ids, group_ids = _ids(list(tag_ids)), _ids(list(group_ids))
        DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_TAG, to__in=tag_ids + group_ids).delete()
        DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_TAG, data__group__in=group_ids).delete()

    def wecom_edit_corp_tag(self, *, tag_id, name):
        tag_id, name = validate_edit_corp_tag(tag_id=tag_id, name=name)
        if not DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_TAG, to=tag_id).update(text=name):
            raise ValidationFailed("标签不存在", code="40068")

    def wecom_mark_tag(self, *, user_id, external_userid, add=(), remove=()):
        add, remove = validate_mark_tag(user_id=user_id, external_userid=external_userid, add=list(add),
                                        remove=list(remove))
        known = set(DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_TAG, to__in=add)
                    .values_list("to", flat=True))
        if set(add) - known:
            raise ValidationFailed("标签不存在", code="40068")
        row, _ = DevMessage.objects.get_or_create(kind=DevMessage.Kind.WECOM_MARK, to=external_userid[:64],
                                                  template_id=user_id[:64], defaults={"data": {"tags": []}})
        tags = [t for t in row.data.get("tags", []) if t not in remove]
        row.data = {"tags": tags + [t for t in add if t not in tags]}
        row.save(update_fields=["data"])
