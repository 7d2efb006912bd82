"""Pages and endpoints that exist only with the `dev` backend: they play the WeChat client."""

import hashlib
import re
import secrets
import time
from functools import wraps

import requests

from django.conf import settings
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError, ValidationFailed
from core.inputs import json_parse
from core.money import from_fen

from .backends import get_backend
from .backends.dev import new_dev_openid
from . import wecom_callback
from .backends.dev_contacts import dev_wecom_profile_save
from .models import DevMessage, DevPayTransaction
from .pay import crypto, keys
from .pay.types import WeChatPayError

DEVICE_COOKIE = "wxdev_device"
DEVICE_COOKIE_SALT = "wechat.dev.device"
DEVICE_COOKIE_MAX_AGE = 10 * 365 * 24 * 3600
MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}\Z")


def _dev_backend():
    if settings.WECHAT_BACKEND != "dev":
        raise Http404("dev WeChat is off")
    return get_backend()


def _error(message: str, code: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status,
                        json_dumps_params={"ensure_ascii": False})


def _device_openid(request) -> str | None:
    return request.get_signed_cookie(DEVICE_COOKIE, default=None, salt=DEVICE_COOKIE_SALT)


@never_cache
@require_POST
def dev_login(request):
    """`wx.login()` on this browser: the browser is a phone, its cookie is its WeChat user."""
    backend = _dev_backend()
    openid = _device_openid(request) or new_dev_openid()
    response = JsonResponse({"code": backend.issue_login_code(openid)})
    response.set_signed_cookie(
        DEVICE_COOKIE, openid, salt=DEVICE_COOKIE_SALT, max_age=DEVICE_COOKIE_MAX_AGE,
        httponly=True, samesite="Lax",
    )
    return response


def _json_body(request) -> dict:
    """The JSON object posted (core.inputs.json_parse's rules); anything else, a multipart form
    included, is refused as the JSON API refuses it."""
    if request.content_type != "application/json":
        raise ValidationFailed("请以 JSON 提交", code="unsupported_media_type")
    data = json_parse(request.body or b"{}")
    if not isinstance(data, dict):
        raise ValidationFailed("请求格式错误，请以 JSON 提交", code="parse_error")
    return data


def _refusing_bad_input(view):
    """A dev endpoint's bad input answered in the usual error shape, never a 500."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as error:
            return _error(error.message, error.code, error.status_code)

    return wrapped


@never_cache
@require_POST
@_refusing_bad_input
def dev_phone_code(request):
    """The getPhoneNumber button: WeChat shows the user's number; here the user types it once."""
    backend = _dev_backend()
    openid = _device_openid(request)
    if not openid:
        return _error("请先进入小程序", "not_logged_in", 401)
    phone = str(_json_body(request).get("phone", "")).strip()
    if not MAINLAND_MOBILE.match(phone):
        return _error("请输入 11 位大陆手机号", "invalid_phone")
    return JsonResponse({"code": backend.issue_phone_code(openid=openid, phone=phone)})


@never_cache
@require_GET
def dev_pay_sheet(request, prepay_id: str):
    """What the WeChat Pay sheet shows before the buyer confirms."""
    _dev_backend()
    tx = DevPayTransaction.objects.filter(prepay_id=prepay_id).first()
    if tx is None:
        return _error("支付单不存在或已失效", "ORDER_NOT_EXIST", 404)
    return JsonResponse({"description": tx.description, "amount": str(from_fen(tx.amount_fen)),
                         "state": tx.state, "out_trade_no": tx.out_trade_no},
                        json_dumps_params={"ensure_ascii": False})


@never_cache
@require_POST
@_refusing_bad_input
def dev_pay_confirm(request):
    """`wx.requestPayment` confirmed: the client checks paySign as WeChat does, then pays."""
    backend = _dev_backend()
    params = _json_body(request)
    needed = ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")
    if not all(isinstance(params.get(k), str) and params.get(k) for k in needed):
        return _error("支付参数不完整", "PARAM_ERROR")
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    merchant_public = keys.merchant_private_key().public_key()
    if params["signType"] != "RSA" or not crypto.rsa_verify(merchant_public, message, params["paySign"]):
        return _error("支付验证签名失败", "SIGN_ERROR")
    if params["appId"] != settings.WECHAT_APPID or not params["package"].startswith("prepay_id="):
        return _error("支付参数错误", "PARAM_ERROR")
    try:
        tx = backend.dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    except WeChatPayError as error:
        return _error(error.message, error.code, 409)
    return JsonResponse({"errMsg": "requestPayment:ok", "out_trade_no": tx.out_trade_no})


def dev_external_userid(openid: str) -> str:
    # Stable per WeChat user, in WeCom's shape ("wm" + 30 characters), never the OpenID itself.
    return "wm" + hashlib.sha256(("wecom:" + openid).encode()).hexdigest()[:30]


def dev_wecom_event(*, user_id: str, external_userid: str, state: str, welcome_code: str, now: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{settings.WECOM_CORP_ID}]]></ToUserName>"
            f"<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{now}</CreateTime>"
            f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event>"
            f"<ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[{user_id}]]></UserID>"
            f"<ExternalUserID><![CDATA[{external_userid}]]></ExternalUserID><State><![CDATA[{state}]]></State>"
            f"<WelcomeCode><![CDATA[{welcome_code}]]></WelcomeCode></xml>")


def dev_wecom_callback_request(event_xml: str) -> tuple[dict, bytes]:
    """The query and body WeCom would send for `event_xml`: encrypted and signed as documented."""
    encrypted = wecom_callback.encrypt(event_xml.encode(), encoding_aes_key=settings.WECOM_CALLBACK_AES_KEY,
                                       receive_id=settings.WECOM_CORP_ID)
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    query = {"msg_signature": wecom_callback.signature(settings.WECOM_CALLBACK_TOKEN, timestamp, nonce, encrypted),
             "timestamp": timestamp, "nonce": nonce}
    body = (f"<xml><ToUserName><![CDATA[{settings.WECOM_CORP_ID}]]></ToUserName><AgentID>0</AgentID>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode()
    return query, body


@never_cache
@require_http_methods(["GET", "POST"])
def dev_wecom_add(request, config_id: str):
    """A contact-me code scanned: this browser's WeChat user adds the code's member. The dev WeCom
    then remembers the customer's profile and calls this site's /wecom/callback as WeCom would."""
    _dev_backend()
    way = DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_CONTACT_WAY, to=config_id[:64]).first()
    if way is None:
        raise Http404("联系我二维码不存在")
    user_id, state = (way.data.get("user") or [""])[0], way.data.get("state", "")
    context = {"user_id": user_id, "state": state, "name": "", "phone": ""}
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:32]
        phone = request.POST.get("phone", "").strip()
        context.update(name=name, phone=phone)
        if not name or (phone and not MAINLAND_MOBILE.match(phone)):
            context["error"] = "请填写微信昵称；手机号须为 11 位大陆手机号"
            return render(request, "wechat/dev_wecom_add.html", context, status=400)
        openid = _device_openid(request) or new_dev_openid()
        external_userid = dev_external_userid(openid)
        dev_wecom_profile_save(external_userid=external_userid, name=name, phones=(phone,) if phone else ())
        query, body = dev_wecom_callback_request(dev_wecom_event(
            user_id=user_id, external_userid=external_userid, state=state, welcome_code=secrets.token_hex(16),
            now=int(time.time())))
        try:
            response = requests.post(request.build_absolute_uri("/wecom/callback"), params=query, data=body,
                                     headers={"Content-Type": "text/xml"}, timeout=10)
            status = response.status_code
        except requests.RequestException:
            status = "unreachable"
        welcomes = DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_WELCOME, to=external_userid)[:5]
        response = render(request, "wechat/dev_wecom_add.html",
                          {**context, "done": True, "status": status, "welcomes": welcomes})
        response.set_signed_cookie(DEVICE_COOKIE, openid, salt=DEVICE_COOKIE_SALT, max_age=DEVICE_COOKIE_MAX_AGE,
                                   httponly=True, samesite="Lax")
        return response
    return render(request, "wechat/dev_wecom_add.html", context)
