"""The real WeCom corp-tag APIs (see `tags_base`), through `wechat.wecom`."""

from .. import http, wecom
from .real_contacts import _refused
from .tags_base import (
    CorpTagGroup, TagsMixin, _ids, validate_add_corp_tags, validate_edit_corp_tag, validate_mark_tag,
)

ADD_API, ADD_PATH = "wecom.add_corp_tag", "/cgi-bin/externalcontact/add_corp_tag"
DEL_API, DEL_PATH = "wecom.del_corp_tag", "/cgi-bin/externalcontact/del_corp_tag"
MARK_API, MARK_PATH = "wecom.mark_tag", "/cgi-bin/externalcontact/mark_tag"
EDIT_API, EDIT_PATH = "wecom.edit_corp_tag", "/cgi-bin/externalcontact/edit_corp_tag"


class RealTagsMixin(TagsMixin):
    def wecom_add_corp_tags(self, *, group_name, names, group_id=""):
        names = validate_add_corp_tags(group_name=group_name, group_id=group_id, names=names)
        body = {"tag": [{"name": name} for name in names]}
        if group_id:
            body["group_id"] = group_id
        else:
            body["group_name"] = group_name
        data = wecom.request_with_token(ADD_PATH, api=ADD_API, json_body=body)
        if http.errcode_of(data):
            raise _refused(ADD_API, data)
        group = data.get("tag_group")
        if not isinstance(group, dict) or not isinstance(group.get("group_id"), str):
            raise http.external_error(api=ADD_API, reason="bad_response")
        tags = {t["name"]: t["id"] for t in group.get("tag") or []
                if isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("id"), str)}
        if set(names) - set(tags):
            raise http.external_error(api=ADD_API, reason="bad_response")
        return CorpTagGroup(group_id=group["group_id"], tags=tags)

    def wecom_del_corp_tags(self, *, tag_ids=(), group_ids=()):
        tag_ids, group_ids = _ids(list(tag_ids)), _ids(list(group_ids))
        if not tag_ids and not group_ids:
            return
        body = {**({"tag_id": tag_ids} if tag_ids else {}), **({"group_id": group_ids} if group_ids else {})}
        data = wecom.request_with_token(DEL_PATH, api=DEL_API, json_body=body)
        if http.errcode_of(data):
            raise _refused(DEL_API, data)

    def wecom_edit_corp_tag(self, *, tag_id, name):
        tag_id, name = validate_edit_corp_tag(tag_id=tag_id, name=name)
        data = wecom.request_with_token(EDIT_PATH, api=EDIT_API, json_body={"id": tag_id, "name": name})
        if http.errcode_of(data):
            raise _refused(EDIT_API, data)

    def wecom_mark_tag(self, *, user_id, external_userid, add=(), remove=()):
        add, remove = validate_mark_tag(user_id=user_id, external_userid=external_userid, add=list(add),
                                        remove=list(remove))
        body = {"userid": user_id, "external_userid": external_userid}
        if add:
            body["add_tag"] = add
        if remove:
            body["remove_tag"] = remove
        data = wecom.request_with_token(MARK_PATH, api=MARK_API, json_body=body)
        if http.errcode_of(data):
            raise _refused(MARK_API, data)
