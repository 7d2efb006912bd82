"""The real messages: subscribe messages (`POST /cgi-bin/message/subscribe/send`, WeChat) and
WeCom app text messages to staff (`POST /cgi-bin/message/send`, WeCom, see `wechat.wecom`).

How the outbox (`notifications.services`) reads the outcome decides what is raised here:
- `MessageRefused`: WeChat/WeCom will never deliver this one (no subscription left, bad openid,
  template or field, unknown staff account); the notification is skipped.
- `ExternalServiceError` with `details["reason"] == "timeout"`: the message may have gone out;
  it is never resent automatically. Only the send itself can time out that way: a timeout while
  fetching the access_token (nothing sent yet) is reported as `token_timeout`, which is retried.
- any other `ExternalServiceError` (system busy, rate limit, transport): retried with backoff.

A refused access_token is rejected before the message is looked at, so the one retry with a new
token cannot deliver a message twice. Openids, staff ids and message text are not logged.
"""

import logging
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.errors import ExternalServiceError

from .. import http, wecom
from ..access_token import get_access_token, invalidate_access_token
from ..errors import WeChatRateLimited
from .messages_base import MessageRefused

logger = logging.getLogger("wechat")

SUBSCRIBE_API = "subscribe_send"
SUBSCRIBE_PATH = "/cgi-bin/message/subscribe/send"
STAFF_API = "wecom.message_send"
STAFF_PATH = "/cgi-bin/message/send"
WELCOME_API = "wecom.send_welcome_msg"
WELCOME_PATH = "/cgi-bin/externalcontact/send_welcome_msg"
_ERR_WELCOME_ALREADY = 41051  # already sent, or the customer and the member have started chatting
WELCOME_TEXT_MAX_BYTES = 4000

MINIPROGRAM_STATES = ("formal", "trial", "developer")
LANGS = ("zh_CN", "en_US", "zh_HK", "zh_TW")
STAFF_TEXT_MAX_BYTES = 2048  # WeCom truncates longer text itself, possibly inside a character
_ELLIPSIS = "…"

_ERR_TOKEN = {40001, 42001}  # the mini program's access_token invalid / expired
_ERR_RATE_LIMITED = 45009
_ERR_NO_SUBSCRIPTION = 43101  # refused, unsubscribed, or the one-time acceptance already used
_ERR_BAD_FIELD = 47003  # a data field breaks its type's rule; errmsg names it
_ERR_BAD_OPENID = 40003
_ERR_BAD_TEMPLATE = 40037
_ERR_BAD_PAGE = 41030  # page not in the released mini program
_FIELD_IN_ERRMSG = re.compile(r"data\.([A-Za-z_]+\d*)(?:\.value)?")
_ERRMSG_DETAIL_LIMIT = 200

# WeCom: 40003 invalid UserID, 60111 userid not found, 81013 "user & party & tag all invalid"
# (the only recipient is unknown or outside the app's visible range).
_ERR_WECOM_BAD_USER = {40003, 60111, 81013}
# Need someone to fix the configuration (40056 invalid agentid, 48002 API not permitted for the
# app, 60020 server IP not in the app's trusted IPs): still retried, but logged as errors.
_ERR_WECOM_CONFIG = {40056, 48002, 60020}
# A WeCom userid: letters, digits and _-@. ("@all" and "a|b" would address many people).
_WECOM_USER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}\Z")


def cut_to_bytes(text: str, limit: int = STAFF_TEXT_MAX_BYTES) -> str:
    """`text` within `limit` UTF-8 bytes, cut on a character boundary and ended with "…"."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    room = limit - len(_ELLIPSIS.encode("utf-8"))
    # The input is valid UTF-8, so only the last, partly cut character can fail to decode.
    return raw[:room].decode("utf-8", errors="ignore") + _ELLIPSIS


def _token(get_token) -> str:
    try:
        return get_token()
    except ExternalServiceError as error:
        if (error.details or {}).get("reason") == "timeout":
            # Nothing was sent yet: this must not read as "the message may have been delivered".
            raise http.external_error(api=error.details.get("api", ""), reason="token_timeout") from None
        raise


def _errmsg_detail(data: dict) -> str:
    return str(data.get("errmsg", ""))[:_ERRMSG_DETAIL_LIMIT]


def _subscribe_refusal(errcode: int, data: dict) -> MessageRefused | None:
    errmsg = _errmsg_detail(data)
    details = {"errcode": errcode, "errmsg": errmsg}
    if errcode == _ERR_NO_SUBSCRIPTION:
        # Routine: the customer did not accept, or their one acceptance was already used.
        logger.info("WeChat %s: no subscription left (errcode=43101)", SUBSCRIBE_API)
        return MessageRefused("用户未订阅该消息或订阅次数已用完", code="43101", details=details)
    logger.warning("WeChat %s refused the message: errcode=%s errmsg=%s", SUBSCRIBE_API, errcode, errmsg)
    if errcode == _ERR_BAD_FIELD:
        match = _FIELD_IN_ERRMSG.search(errmsg)
        field = match.group(1) if match else ""
        details["field"] = field
        message = f"订阅消息字段 {field} 不符合模板规则" if field else f"订阅消息字段不符合模板规则：{errmsg}"
        return MessageRefused(message, code="47003", details=details)
    if errcode == _ERR_BAD_OPENID:
        return MessageRefused("用户的 OpenID 无效", code="40003", details=details)
    if errcode == _ERR_BAD_TEMPLATE:
        return MessageRefused("订阅消息模板 ID 无效，请检查 WECHAT_TEMPLATE_* 配置", code="40037", details=details)
    if errcode == _ERR_BAD_PAGE:
        return MessageRefused("订阅消息的跳转页面不存在或尚未发布", code="41030", details=details)
    return None


def _staff_settings() -> int:
    agent_id = settings.WECOM_AGENT_ID
    if (
        not settings.WECOM_CORP_ID
        or not settings.WECOM_SECRET
        or isinstance(agent_id, bool)
        or not isinstance(agent_id, int)
        or agent_id <= 0
    ):
        raise ImproperlyConfigured(
            "WeCom staff messages need WECOM_CORP_ID, WECOM_SECRET and WECOM_AGENT_ID: the corp id, and the "
            "Secret and AgentId of the self-built app that sends them (企业微信管理后台 → 应用管理 → 自建应用)."
        )
    return agent_id


def _subscribe_settings() -> tuple[str, str]:
    state, lang = settings.WECHAT_MINIPROGRAM_STATE, settings.WECHAT_MESSAGE_LANG
    if state not in MINIPROGRAM_STATES:
        raise ImproperlyConfigured(f"WECHAT_MINIPROGRAM_STATE must be one of {', '.join(MINIPROGRAM_STATES)}")
    if lang not in LANGS:
        raise ImproperlyConfigured(f"WECHAT_MESSAGE_LANG must be one of {', '.join(LANGS)}")
    return state, lang


class RealMessagesMixin:
    def send_subscribe_message(self, *, openid, template_id, page, data):
        state, lang = _subscribe_settings()
        # What WeChat would refuse anyway, refused without spending a call.
        if not openid:
            raise MessageRefused("用户的 OpenID 为空", code="40003", details={"errcode": _ERR_BAD_OPENID})
        if not template_id:
            raise MessageRefused("订阅消息模板 ID 为空", code="40037", details={"errcode": _ERR_BAD_TEMPLATE})
        body = {"touser": openid, "template_id": template_id, "page": page, "data": data,
                "miniprogram_state": state, "lang": lang}
        if not page:
            del body["page"]  # optional: without it the card opens nothing

        answer = self._subscribe_request(body)
        errcode = http.errcode_of(answer)
        if not errcode:
            return
        refusal = _subscribe_refusal(errcode, answer)
        if refusal is not None:
            raise refusal
        if errcode == _ERR_RATE_LIMITED:
            logger.warning("WeChat %s rate limited: errmsg=%s", SUBSCRIBE_API, http.errmsg_of(answer))
            raise WeChatRateLimited(details={"api": SUBSCRIBE_API, "reason": "rate_limited", "errcode": errcode})
        raise http.errcode_error(api=SUBSCRIBE_API, data=answer)  # -1 system busy and the rest: retried

    def _subscribe_request(self, body: dict) -> dict:
        token = _token(get_access_token)
        answer = http.request_json("POST", SUBSCRIBE_PATH, api=SUBSCRIBE_API, params={"access_token": token},
                                   json_body=body)
        if http.errcode_of(answer) in _ERR_TOKEN:
            logger.info("WeChat %s refused the access_token (errcode=%s); retrying once",
                        SUBSCRIBE_API, http.errcode_of(answer))
            invalidate_access_token(token)
            token = _token(get_access_token)
            answer = http.request_json("POST", SUBSCRIBE_PATH, api=SUBSCRIBE_API, params={"access_token": token},
                                       json_body=body)
        return answer

    def send_staff_message(self, *, user_id, text):
        agent_id = _staff_settings()
        if not isinstance(user_id, str) or not _WECOM_USER_ID.match(user_id) or user_id.lower() == "@all":
            raise MessageRefused("没有有效的企业微信账号", code="invaliduser", details={"reason": "user_id"})
        body = {"touser": user_id, "msgtype": "text", "agentid": agent_id, "text": {"content": cut_to_bytes(text)}}

        answer = self._staff_request(body)
        errcode = http.errcode_of(answer)
        if errcode in _ERR_WECOM_BAD_USER or (not errcode and answer.get("invaliduser")):
            logger.warning("WeCom %s: the staff account is unknown or outside the app's visible range "
                           "(errcode=%s)", STAFF_API, errcode)
            raise MessageRefused("企业微信账号不存在或不在应用可见范围内", code="invaliduser",
                                 details={"errcode": errcode, "errmsg": _errmsg_detail(answer)})
        if not errcode and answer.get("unlicenseduser"):
            logger.warning("WeCom %s: the staff account has no interface licence", STAFF_API)
            raise MessageRefused("该企业微信账号未开通接口许可，收不到应用消息", code="unlicenseduser",
                                 details={"errcode": errcode})
        if not errcode:
            return
        if errcode == _ERR_RATE_LIMITED:
            logger.warning("WeCom %s rate limited: errmsg=%s", STAFF_API, http.errmsg_of(answer))
            raise WeChatRateLimited(details={"api": STAFF_API, "reason": "rate_limited", "errcode": errcode})
        level = logging.ERROR if errcode in _ERR_WECOM_CONFIG else logging.WARNING
        raise http.errcode_error(api=STAFF_API, data=answer, level=level)

    def _staff_request(self, body: dict) -> dict:
        token = _token(wecom.get_wecom_access_token)
        answer = wecom.request_json("POST", STAFF_PATH, api=STAFF_API, params={"access_token": token}, json_body=body)
        if http.errcode_of(answer) in wecom.TOKEN_ERRCODES:
            logger.info("WeCom %s refused the access_token (errcode=%s); retrying once",
                        STAFF_API, http.errcode_of(answer))
            wecom.invalidate_wecom_access_token(token)
            token = _token(wecom.get_wecom_access_token)
            answer = wecom.request_json("POST", STAFF_PATH, api=STAFF_API, params={"access_token": token},
                                        json_body=body)
        return answer

    def send_welcome_msg(self, *, welcome_code, external_userid, text):
        if not isinstance(welcome_code, str) or not welcome_code:
            raise MessageRefused("缺少欢迎语 code", code="41050")
        body = {"welcome_code": welcome_code, "text": {"content": cut_to_bytes(text, WELCOME_TEXT_MAX_BYTES)}}
        answer = wecom.request_with_token(WELCOME_PATH, api=WELCOME_API, json_body=body)
        errcode = http.errcode_of(answer)
        if not errcode:
            return "sent"
        if errcode == _ERR_WELCOME_ALREADY:
            logger.info("WeCom %s: already sent or the chat has started (41051)", WELCOME_API)
            return "already"
        raise http.errcode_error(api=WELCOME_API, data=answer)
