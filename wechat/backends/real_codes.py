"""The real codes: `POST /wxa/getwxacodeunlimit` (WeChat) and
`POST /cgi-bin/externalcontact/add_contact_way` (WeCom, see `wechat.wecom`).

getwxacodeunlimit answers image bytes on success and a JSON `{errcode, errmsg}` on failure,
both with HTTP 200, so the answer is told apart by its body (a JSON object is an errcode,
whatever its label) and then by its Content-Type or the image's magic bytes. Making a code has no side effect on WeChat's side (codes
never expire, no quota), so the one retry after a refused access_token is always safe; the same
holds for add_contact_way, whose token is checked before the body is read.
"""

import logging

from core.errors import ValidationFailed

from .. import http, wecom
from ..access_token import get_access_token, invalidate_access_token
from ..errors import WeChatRateLimited
from .codes_base import DEFAULT_PAGE, validate_code_options, validate_contact_way, validate_page, validate_scene

logger = logging.getLogger("wechat")

WXACODE_API = "getwxacodeunlimit"
WXACODE_PATH = "/wxa/getwxacodeunlimit"
CONTACT_WAY_API = "wecom.add_contact_way"
CONTACT_WAY_PATH = "/cgi-bin/externalcontact/add_contact_way"

_ERR_TOKEN = {40001, 42001}  # access_token invalid / expired
_ERR_INVALID_PAGE = 41030  # page not in the published version (with check_path), or malformed
_ERR_RATE_LIMITED = 45009
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
_CONTACT_WAY_SCENE_QR = 2  # 1 = shown inside a mini program, 2 = a QR code
_ERRMSG_DETAIL_LIMIT = 200


def _is_image(response) -> bool:
    body = response.content
    if not body or body.lstrip()[:1] == b"{":
        return False  # an errcode, however it is labelled
    return response.headers.get("Content-Type", "").lower().startswith("image/") or body.startswith(_IMAGE_MAGIC)


class RealCodesMixin:
    def mini_program_code(self, *, scene: str, page: str = DEFAULT_PAGE, width: int = 430,
                          env_version: str = "release", check_path: bool = True) -> bytes:
        validate_scene(scene)
        validate_page(page)
        validate_code_options(width=width, env_version=env_version, check_path=check_path)
        body = {"scene": scene, "page": page, "check_path": check_path, "env_version": env_version, "width": width}

        token = get_access_token()
        response = self._wxacode_request(token, body)
        if _is_image(response):
            return response.content
        data = http.parse_json(response, api=WXACODE_API)
        if http.errcode_of(data) in _ERR_TOKEN:
            logger.info("WeChat %s refused the access_token (errcode=%s); retrying once",
                        WXACODE_API, http.errcode_of(data))
            invalidate_access_token(token)
            response = self._wxacode_request(get_access_token(), body)
            if _is_image(response):
                return response.content
            data = http.parse_json(response, api=WXACODE_API)
        raise self._wxacode_error(data, page=page)

    def _wxacode_request(self, token: str, body: dict):
        return http.request("POST", WXACODE_PATH, api=WXACODE_API, params={"access_token": token}, json_body=body)

    def _wxacode_error(self, data: dict, *, page: str) -> Exception:
        errcode = http.errcode_of(data)
        if errcode == _ERR_INVALID_PAGE:
            logger.warning("WeChat %s refused page %r: errmsg=%s", WXACODE_API, page, http.errmsg_of(data))
            return ValidationFailed(
                f"小程序页面 {page} 不存在或尚未发布（未发布的页面须关闭 check_path）",
                code="invalid_page", details={"errcode": errcode, "page": page},
            )
        if errcode == _ERR_RATE_LIMITED:
            logger.warning("WeChat %s rate limited: errmsg=%s", WXACODE_API, http.errmsg_of(data))
            return WeChatRateLimited("生成小程序码太频繁，请稍后再试", details={"errcode": errcode})
        if errcode:
            return http.errcode_error(api=WXACODE_API, data=data)
        # errcode 0 (or none) and no image: nothing we can hand back.
        logger.warning("WeChat %s answered neither an image nor an errcode (fields: %s)", WXACODE_API, sorted(data))
        return http.external_error(api=WXACODE_API, reason="bad_response")

    def wecom_contact_way(self, *, state: str, user_ids: list[str], remark: str = "",
                          skip_verify: bool = True) -> dict:
        users = validate_contact_way(state=state, user_ids=user_ids, remark=remark, skip_verify=skip_verify)
        body = {
            "type": 1 if len(users) == 1 else 2,
            "scene": _CONTACT_WAY_SCENE_QR,
            "state": state,
            "user": users,
            "skip_verify": skip_verify,
            "remark": remark,
        }
        data = wecom.request_with_token(CONTACT_WAY_PATH, api=CONTACT_WAY_API, json_body=body)
        errcode = http.errcode_of(data)
        if errcode == _ERR_RATE_LIMITED:
            logger.warning("WeCom %s rate limited: errmsg=%s", CONTACT_WAY_API, http.errmsg_of(data))
            raise WeChatRateLimited(details={"errcode": errcode})
        if errcode:
            error = http.errcode_error(api=CONTACT_WAY_API, data=data)
            # WeCom's errmsg names the culprit ("userid not found", "no permission" …); the
            # callers are staff tools, where that is what someone needs to fix it.
            error.details["errmsg"] = str(data.get("errmsg", ""))[:_ERRMSG_DETAIL_LIMIT]
            raise error
        config_id, qr_code = data.get("config_id"), data.get("qr_code")
        if not isinstance(config_id, str) or not config_id or not isinstance(qr_code, str) or not qr_code:
            logger.warning("WeCom %s answered without config_id/qr_code (fields: %s)", CONTACT_WAY_API, sorted(data))
            raise http.external_error(api=CONTACT_WAY_API, reason="bad_response")
        return {"config_id": config_id, "qr_code": qr_code}
