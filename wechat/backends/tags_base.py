"""WeCom corp tags (企业客户标签): the company's tag groups mirrored so reps see them in WeCom.

- `wecom_add_corp_tags` (externalcontact/add_corp_tag): tags into a group, by `group_id` when the
  group exists, else by `group_name` (WeCom creates the group, or adds to the one of that name);
  returns the group id and each tag's id. ≤3000 tags per corp.
- `wecom_del_corp_tags` (externalcontact/del_corp_tag): by tag and group ids.
- `wecom_edit_corp_tag` (externalcontact/edit_corp_tag): a tag's new name, by its id.
- `wecom_mark_tag` (externalcontact/mark_tag): one member's customer gains and loses tags.

An app may edit only the tags it created: callers pass only ids these calls returned.
"""

from dataclasses import dataclass

from core.errors import ValidationFailed

from .codes_base import WECOM_USER_ID
from .contacts_base import validate_external_userid

CORP_TAG_NAME_MAX_LENGTH = 30
CORP_TAG_ID_MAX_LENGTH = 64
CORP_TAGS_PER_CALL = 100


@dataclass(frozen=True)
class CorpTagGroup:
    group_id: str
    tags: dict[str, str]  # name → tag id


def _names(names: object) -> list[str]:
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names or len(names) > CORP_TAGS_PER_CALL:
        raise ValidationFailed(f"每次须添加 1-{CORP_TAGS_PER_CALL} 个标签", code="invalid_tags")
    for name in names:
        if not isinstance(name, str) or not name.strip() or len(name) > CORP_TAG_NAME_MAX_LENGTH:
            raise ValidationFailed(f"标签名须为 1-{CORP_TAG_NAME_MAX_LENGTH} 个字", code="invalid_tags")
    return list(dict.fromkeys(names))


def _ids(ids: object, *, allow_empty: bool = True) -> list[str]:
    if isinstance(ids, str) or not isinstance(ids, (list, tuple)) or (not ids and not allow_empty):
        raise ValidationFailed("标签 ID 无效", code="invalid_tag_ids")
    if not all(isinstance(i, str) and 0 < len(i) <= CORP_TAG_ID_MAX_LENGTH and i.isprintable() for i in ids):
        raise ValidationFailed("标签 ID 无效", code="invalid_tag_ids")
    return list(dict.fromkeys(ids))


def validate_add_corp_tags(*, group_name: object, group_id: object, names: object) -> list[str]:
    if not isinstance(group_id, str) or (group_id and len(group_id) > CORP_TAG_ID_MAX_LENGTH):
        raise ValidationFailed("标签组 ID 无效", code="invalid_tag_ids")
    if not group_id and (not isinstance(group_name, str) or not group_name.strip()
                         or len(group_name) > CORP_TAG_NAME_MAX_LENGTH):
        raise ValidationFailed(f"标签组名须为 1-{CORP_TAG_NAME_MAX_LENGTH} 个字", code="invalid_tags")
    return _names(names)


def validate_edit_corp_tag(*, tag_id: object, name: object) -> tuple[str, str]:
    if not isinstance(tag_id, str):
        raise ValidationFailed("标签 ID 无效", code="invalid_tag_ids")
    (tag_id,) = _ids([tag_id], allow_empty=False)
    (name,) = _names([name])
    return tag_id, name


def validate_mark_tag(*, user_id: object, external_userid: object, add: object, remove: object):
    if not isinstance(user_id, str) or not WECOM_USER_ID.match(user_id):
        raise ValidationFailed("企业微信成员账号无效", code="invalid_user_ids")
    validate_external_userid(external_userid)
    add, remove = _ids(add), _ids(remove)
    if not add and not remove:
        raise ValidationFailed("没有要添加或移除的标签", code="invalid_tag_ids")
    if len(add) + len(remove) > CORP_TAGS_PER_CALL:
        raise ValidationFailed(f"每次最多 {CORP_TAGS_PER_CALL} 个标签", code="invalid_tag_ids")
    return add, remove


class TagsMixin:
    def wecom_add_corp_tags(self, *, group_name: str, names: list[str], group_id: str = "") -> CorpTagGroup:
        raise NotImplementedError

    def wecom_del_corp_tags(self, *, tag_ids: list[str] = (), group_ids: list[str] = ()) -> None:
        raise NotImplementedError

    def wecom_edit_corp_tag(self, *, tag_id: str, name: str) -> None:
        raise NotImplementedError

    def wecom_mark_tag(self, *, user_id: str, external_userid: str, add: list[str] = (),
                       remove: list[str] = ()) -> None:
        raise NotImplementedError
