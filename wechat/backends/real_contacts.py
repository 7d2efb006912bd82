"""The real WeCom customer APIs (see `contacts_base`), through `wechat.wecom` (token, transport).

externalcontact/get is a GET; the transfer APIs are POSTs whose refusal of the whole call (a
member not found, no permission) is an `ExternalServiceError` with WeCom's errmsg, while a
refusal of one customer comes back in that customer's errcode.
"""

import logging

from django.conf import settings

from .. import http, wecom
from .contacts_base import (
    ContactsMixin, ExternalContact, TransferStatus, validate_external_userid, validate_transfer,
)

logger = logging.getLogger("wechat")

GET_API, GET_PATH = "wecom.externalcontact_get", "/cgi-bin/externalcontact/get"
TRANSFER_PATHS = {False: "/cgi-bin/externalcontact/transfer_customer",
                  True: "/cgi-bin/externalcontact/resigned/transfer_customer"}
RESULT_PATHS = {False: "/cgi-bin/externalcontact/transfer_result",
                True: "/cgi-bin/externalcontact/resigned/transfer_result"}
_ERR_NOT_CUSTOMER = 84061  # not an external contact of the corp
_ERRMSG_DETAIL_LIMIT = 200
_MAX_RESULT_PAGES = 100


def _refused(api: str, data: dict):
    error = http.errcode_error(api=api, data=data)
    error.details["errmsg"] = str(data.get("errmsg", ""))[:_ERRMSG_DETAIL_LIMIT]
    return error


def _text(value, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


class RealContactsMixin(ContactsMixin):
    def wecom_available(self):
        return bool(settings.WECOM_CORP_ID and settings.WECOM_SECRET)

    def wecom_external_contact(self, *, external_userid):
        validate_external_userid(external_userid)
        data = wecom.request_with_token(GET_PATH, api=GET_API, method="GET",
                                        params={"external_userid": external_userid})
        errcode = http.errcode_of(data)
        if errcode == _ERR_NOT_CUSTOMER:
            return None
        if errcode:
            raise _refused(GET_API, data)
        contact = data.get("external_contact")
        if not isinstance(contact, dict):
            raise http.external_error(api=GET_API, reason="bad_response")
        phones = []
        for follow in data.get("follow_user") or []:
            if isinstance(follow, dict):
                phones += [p for p in follow.get("remark_mobiles") or [] if isinstance(p, str) and p]
        return ExternalContact(external_userid=external_userid, name=_text(contact.get("name"), 64),
                               unionid=_text(contact.get("unionid"), 64),
                               phones=tuple(dict.fromkeys(p[:20] for p in phones))[:5])

    def wecom_transfer_customers(self, *, handover_userid, takeover_userid, external_userids, resigned=False,
                                 message=""):
        ids = validate_transfer(handover_userid=handover_userid, takeover_userid=takeover_userid,
                                external_userids=external_userids, message=message)
        api = "wecom.resigned_transfer_customer" if resigned else "wecom.transfer_customer"
        body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid, "external_userid": ids}
        if message and not resigned:  # the resigned endpoint takes no message
            body["transfer_success_msg"] = message
        data = wecom.request_with_token(TRANSFER_PATHS[bool(resigned)], api=api, json_body=body)
        if http.errcode_of(data):
            raise _refused(api, data)
        answers = {}
        for item in data.get("customer") or []:
            if isinstance(item, dict) and item.get("external_userid") in ids:
                answers[item["external_userid"]] = http.errcode_of(item)
        missing = [i for i in ids if i not in answers]
        if missing:
            logger.warning("WeCom %s answered no status for %s of %s customers", api, len(missing), len(ids))
        return answers

    def wecom_transfer_result(self, *, handover_userid, takeover_userid, resigned=False, cursor=""):
        api = "wecom.resigned_transfer_result" if resigned else "wecom.transfer_result"
        body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid}
        if cursor:
            body["cursor"] = cursor
        data = wecom.request_with_token(RESULT_PATHS[bool(resigned)], api=api, json_body=body)
        if http.errcode_of(data):
            raise _refused(api, data)
        statuses = []
        for item in data.get("customer") or []:
            if not isinstance(item, dict) or not isinstance(item.get("external_userid"), str):
                continue
            status = item.get("status")
            taken = item.get("takeover_time")
            statuses.append(TransferStatus(external_userid=item["external_userid"],
                                           status=status if isinstance(status, int) else 0,
                                           takeover_time=taken if isinstance(taken, int) and taken > 0 else None))
        next_cursor = data.get("next_cursor")
        return statuses, next_cursor if isinstance(next_cursor, str) else ""
