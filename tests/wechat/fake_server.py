"""A fake WeChat API server on loopback, for testing the `real` backend over real HTTP.

It speaks the documented shapes (GET /sns/jscode2session, POST /cgi-bin/stable_token,
POST /wxa/business/getuserphonenumber) with WeChat's rules: login and phone codes bound to one
user, single use; tokens checked on every API; phone numbers billed against a quota.

Use the `fake_wechat` fixture (and `wechat_real` to point the settings at it):

    def test_x(fake_wechat, wechat_real):
        code = fake_wechat.issue_login_code(openid="oUSER…")
        ...
        assert fake_wechat.calls("/sns/jscode2session")[0].args["js_code"] == code

Phone numbers: `code = fake_wechat.issue_phone_code(openid="oUSER…", phone="13800138000")` is
what the getPhoneNumber button hands the mini program; `fake_wechat.phone_quota = 0` makes the
next exchange answer 1400001 (quota exhausted).

Mini-program codes: POST /wxa/getwxacodeunlimit answers a JPEG (`image/jpeg`) or, with HTTP 200
too, a JSON errcode; with `check_path` (the default) the page must be in
`fake_wechat.published_pages`.

WeCom (企业微信) lives on the same server under its own paths and credentials (point
WECOM_API_BASE here, or use the `wecom_real` fixture): GET /cgi-bin/gettoken?corpid&corpsecret,
POST /cgi-bin/externalcontact/add_contact_way (members must be in `fake_wechat.wecom_users`;
created codes are kept in `fake_wechat.contact_ways`); GET /cgi-bin/externalcontact/get
(`fake_wechat.external_contacts`); the in-service and resigned transfer_customer / transfer_result
(request shapes checked; `transfers`, `transfer_errcodes`, `transfer_status`, `resigned_users`);
add_corp_tag / del_corp_tag / edit_corp_tag / mark_tag (`corp_tag_groups`, `corp_tags`, `tag_marks`). WeCom tokens are separate from the mini
program's: `fake_wechat.current_wecom_token()`, `fake_wechat.revoke_wecom_tokens()`.

Subscribe messages: POST /cgi-bin/message/subscribe/send checks the token, the openid's shape
(40003), the template (`fake_wechat.add_subscribe_template(id, keys)`, else 40037), every field
of the template (47003, errmsg naming it), the page (41030, `published_pages`, formal only) and
spends one acceptance (`fake_wechat.grant_subscription(openid, template_id)`, else 43101), as a
one-time subscription does. Delivered messages are kept in `fake_wechat.subscribe_messages`.

WeCom app messages: POST /cgi-bin/message/send (text only) checks the WeCom token, `agentid`
(`fake_wechat.wecom_agent_id`, else 40056) and the recipients (`wecom_users`: all unknown →
81013, some unknown → errcode 0 with `invaliduser`); delivered ones land in
`fake_wechat.wecom_messages` as {"touser", "content"}.

Adding an API:

    @fake_wechat.route("POST", "/some/api")
    def send(fake, request):
        if (refused := fake.check_access_token(request)) is not None:
            return refused
        return {"errcode": 0, "errmsg": "ok"}

A handler gets the `FakeWeChat` and the werkzeug `Request`; it returns a dict (sent as JSON),
bytes (sent as an image), or a werkzeug `Response`. Permanent routes can also be added in
`FakeWeChat._install_default_routes` for everyone.

Scripting a failure for the next call to a path (takes precedence over the route):

    fake_wechat.respond_once("/sns/jscode2session", json={"errcode": 45011, "errmsg": "…"})
    fake_wechat.respond_once("/sns/jscode2session", status=500, body="oops")
    fake_wechat.respond_once("/sns/jscode2session", delay=1.0)   # slow, then the normal answer
"""

from __future__ import annotations

import io
import json as jsonlib
import logging
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

FAKE_APPID = "wxfa4e0000000000aa"
FAKE_SECRET = "test-secret"

Handler = Callable[["FakeWeChat", Request], Any]

ERR_INVALID_CODE = {"errcode": 40029, "errmsg": "invalid code, rid: fake"}
ERR_CODE_USED = {"errcode": 40163, "errmsg": "code been used, rid: fake"}
ERR_INVALID_APPID = {"errcode": 40013, "errmsg": "invalid appid, rid: fake"}
ERR_INVALID_SECRET = {"errcode": 40125, "errmsg": "invalid appsecret, rid: fake"}
ERR_INVALID_GRANT = {"errcode": 40002, "errmsg": "invalid grant_type, rid: fake"}
ERR_INVALID_TOKEN = {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest, rid: fake"}
ERR_EXPIRED_TOKEN = {"errcode": 42001, "errmsg": "access_token expired, rid: fake"}
ERR_MISSING_TOKEN = {"errcode": 41001, "errmsg": "access_token missing, rid: fake"}
ERR_REQUIRE_POST = {"errcode": 43002, "errmsg": "require POST method, rid: fake"}
ERR_BAD_JSON = {"errcode": 47001, "errmsg": "data format error, rid: fake"}
ERR_PHONE_QUOTA = {"errcode": 1400001, "errmsg": "quota of phone number verification exhausted, rid: fake"}
PHONE_CODE_LIFETIME = 5 * 60
ERR_INVALID_SCENE = {"errcode": 40169, "errmsg": "invalid length for scene, or the data is not json string, rid: fake"}
ERR_INVALID_ARGS = {"errcode": 40097, "errmsg": "invalid args, rid: fake"}
ERR_INVALID_PAGE = {"errcode": 41030, "errmsg": "invalid page, rid: fake"}
ERR_WXACODE_RATE = {"errcode": 45009, "errmsg": "reach max api daily quota limit, rid: fake"}

FAKE_CORP_ID = "wwfa4e0000000000bb"
FAKE_CORP_SECRET = "test-wecom-secret"
# WeCom's own codes: 40001 is "invalid secret" there, 40014 an invalid access_token.
ERR_WECOM_INVALID_CORPID = {"errcode": 40013, "errmsg": "invalid corpid, hint: [fake]"}
ERR_WECOM_INVALID_SECRET = {"errcode": 40001, "errmsg": "invalid secret, hint: [fake]"}
ERR_WECOM_INVALID_TOKEN = {"errcode": 40014, "errmsg": "invalid access_token, hint: [fake]"}
ERR_WECOM_EXPIRED_TOKEN = {"errcode": 42001, "errmsg": "access_token expired, hint: [fake]"}
ERR_WECOM_INVALID_PARAM = {"errcode": 40058, "errmsg": "invalid Parameter, hint: [fake]"}
ERR_INVALID_OPENID = {"errcode": 40003, "errmsg": "invalid openid rid: fake"}
ERR_INVALID_TEMPLATE = {"errcode": 40037, "errmsg": "invalid template_id rid: fake"}
ERR_NO_SUBSCRIPTION = {"errcode": 43101, "errmsg": "user refuse to accept the msg rid: fake"}
ERR_WECOM_INVALID_AGENT = {"errcode": 40056, "errmsg": "invalid agentid, hint: [fake]"}
ERR_WECOM_INVALID_MSGTYPE = {"errcode": 40008, "errmsg": "invalid message type, hint: [fake]"}
ERR_WECOM_EMPTY_CONTENT = {"errcode": 44004, "errmsg": "empty content, hint: [fake]"}
# WeChat's getwxacodeunlimit scene rule, for the fake to enforce on what it receives.
_SCENE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}\Z")

_OPENID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"


def fake_openid() -> str:
    return "o" + "".join(secrets.choice(_OPENID_ALPHABET) for _ in range(27))


@dataclass(frozen=True)
class WxUser:
    openid: str
    session_key: str
    unionid: str = ""


@dataclass(frozen=True)
class PhoneGrant:
    """What a getPhoneNumber button tap authorised: this user's number, for 5 minutes, once."""

    openid: str
    phone: str
    country_code: Any = "86"
    issued_at: float = 0.0


@dataclass
class Call:
    """One request the fake received (recorded when it arrives, before any delay)."""

    method: str
    path: str
    args: dict[str, str]
    json: Any
    headers: dict[str, str]


@dataclass
class _Scripted:
    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    content_type: str = "application/json"
    delay: float = 0.0


@dataclass
class _AccessToken:
    value: str
    expires_at: float
    valid: bool = True


@dataclass
class FakeWeChat:
    server: HTTPServer
    appid: str = FAKE_APPID
    secret: str = FAKE_SECRET
    token_lifetime: int = 7200
    calls_log: list[Call] = field(default_factory=list)
    login_codes: dict[str, WxUser] = field(default_factory=dict)
    used_codes: set[str] = field(default_factory=set)
    access_tokens: dict[str, _AccessToken] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    phone_codes: dict[str, PhoneGrant] = field(default_factory=dict)
    used_phone_codes: set[str] = field(default_factory=set)
    # Successful phone-number exchanges left before 1400001; None = unlimited. Only successes
    # are billed, as WeChat charges per successful verification.
    phone_quota: int | None = None
    # Pages of the released mini program (getwxacodeunlimit with check_path=true checks these).
    published_pages: set[str] = field(default_factory=lambda: {"pages/index/index", "pages/goods/detail"})
    corp_id: str = FAKE_CORP_ID
    corp_secret: str = FAKE_CORP_SECRET
    wecom_tokens: dict[str, _AccessToken] = field(default_factory=dict)
    # Members of the corp with 客户联系 rights; add_contact_way refuses anyone else (60111).
    wecom_users: set[str] = field(default_factory=lambda: {"zhangsan", "lisi", "wangwu"})
    contact_ways: dict[str, dict] = field(default_factory=dict)
    # Subscribe messages: template id → its data keys; (openid, template id) → acceptances left.
    subscribe_templates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], int] = field(default_factory=dict)
    subscribe_messages: list[dict] = field(default_factory=list)
    # WeCom app messages: the agentid of the app whose secret is `corp_secret`.
    wecom_agent_id: int = 1000002
    wecom_messages: list[dict] = field(default_factory=list)
    # send_welcome_msg: welcome codes WeCom issued (each works once; 41051 after) and what was sent.
    welcome_codes: set[str] = field(default_factory=set)
    used_welcome_codes: set[str] = field(default_factory=set)
    welcome_messages: list[dict] = field(default_factory=list)
    # externalcontact/get: external_userid → {"name", "unionid", "remark_mobiles"}; others answer 84061.
    external_contacts: dict[str, dict] = field(default_factory=dict)
    # Members who have left the corp (the resigned-transfer endpoints want these as handover_userid).
    resigned_users: set[str] = field(default_factory=set)
    # Transfers asked for: one dict per customer {"path", "handover_userid", "takeover_userid",
    # "external_userid", "msg"}; `transfer_errcodes` scripts a per-customer errcode, `transfer_status`
    # what transfer_result reports per external_userid (default 2 waiting).
    transfers: list[dict] = field(default_factory=list)
    transfer_errcodes: dict[str, int] = field(default_factory=dict)
    transfer_status: dict[str, int] = field(default_factory=dict)
    transfer_page_size: int = 100
    # Corp tags: group id → {"group_id", "group_name", "tag": [{"id", "name"}]}; tag id → group id;
    # (member, external_userid) → the tag ids marked on that customer.
    corp_tag_groups: dict[str, dict] = field(default_factory=dict)
    corp_tags: dict[str, str] = field(default_factory=dict)
    tag_marks: dict[tuple[str, str], set] = field(default_factory=dict)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], Handler] = {}
        self._scripted: dict[str, deque[_Scripted]] = defaultdict(deque)
        self._install_default_routes()

    # -- wiring ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        """Register (or replace) the handler of `method path`; usable as a decorator."""

        def register(handler: Handler) -> Handler:
            self._routes[(method.upper(), path)] = handler
            return handler

        return register

    def respond_once(
        self,
        path: str,
        *,
        json: Any = None,
        status: int = 200,
        body: bytes | str | None = None,
        content_type: str = "application/json",
        delay: float = 0.0,
    ) -> None:
        """The next call to `path` gets this instead of the route's answer (queued, in order).

        With only `delay`, the route answers normally after sleeping (for timeouts).
        """
        self._scripted[path].append(_Scripted(status=status, json=json, body=body, content_type=content_type, delay=delay))

    def calls(self, path: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls_log if path is None or c.path == path]

    def dispatch(self, request: Request) -> Response:
        body = request.get_json(silent=True)  # None for a malformed body: the handler's business
        with self._lock:
            self.calls_log.append(
                Call(request.method, request.path, dict(request.args), body, dict(request.headers))
            )
            scripted = self._scripted[request.path].popleft() if self._scripted.get(request.path) else None
        delay = (scripted.delay if scripted else 0.0) or self.delays.get(request.path, 0.0)
        if delay:
            time.sleep(delay)
        if scripted and (scripted.json is not None or scripted.body is not None or scripted.status != 200):
            if scripted.json is not None:
                return _json_response(scripted.json, status=scripted.status, content_type=scripted.content_type)
            return Response(scripted.body or b"", status=scripted.status, content_type=scripted.content_type)
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            # WeChat answers unknown paths with a JSON errcode; a fake that did so silently would
            # hide a typo in a test, so make it loud.
            return Response(f"fake WeChat has no route for {request.method} {request.path}", status=404)
        result = handler(self, request)
        if isinstance(result, Response):
            return result
        if isinstance(result, bytes):
            return Response(result, content_type="image/jpeg")
        return _json_response(result)

    # -- state helpers for tests ----------------------------------------------------------------

    def issue_login_code(self, openid: str | None = None, *, unionid: str = "", session_key: str | None = None) -> str:
        """What `wx.login` would return on the phone of `openid` (a new user if omitted)."""
        code = secrets.token_hex(16)  # 32 characters, like WeChat's
        user = WxUser(openid=openid or fake_openid(), session_key=session_key or secrets.token_urlsafe(18), unionid=unionid)
        with self._lock:
            self.login_codes[code] = user
        return code

    def issue_phone_code(self, openid: str | None = None, *, phone: str = "13800138000",
                         country_code: Any = "86") -> str:
        """What the getPhoneNumber button's `e.detail.code` would be for `openid` and `phone`."""
        code = secrets.token_hex(32)
        with self._lock:
            self.phone_codes[code] = PhoneGrant(openid=openid or fake_openid(), phone=phone,
                                                country_code=country_code, issued_at=time.time())
        return code

    def user_of(self, code: str) -> WxUser:
        return self.login_codes[code]

    def current_access_token(self) -> str | None:
        now = time.time()
        with self._lock:
            live = [t for t in self.access_tokens.values() if t.valid and t.expires_at > now]
        return max(live, key=lambda t: t.expires_at).value if live else None

    def revoke_access_tokens(self) -> None:
        """As if someone force-refreshed: every token issued so far is refused (40001)."""
        with self._lock:
            for token in self.access_tokens.values():
                token.valid = False

    def check_access_token(self, request: Request) -> dict | None:
        """None if `?access_token=` is valid now, else the errcode answer WeChat would give."""
        value = request.args.get("access_token")
        if not value:
            return ERR_MISSING_TOKEN
        with self._lock:
            token = self.access_tokens.get(value)
        if token is None or not token.valid:
            return ERR_INVALID_TOKEN
        if token.expires_at <= time.time():
            return ERR_EXPIRED_TOKEN
        return None

    def current_wecom_token(self) -> str | None:
        now = time.time()
        with self._lock:
            live = [t for t in self.wecom_tokens.values() if t.valid and t.expires_at > now]
        return max(live, key=lambda t: t.expires_at).value if live else None

    def revoke_wecom_tokens(self) -> None:
        """Every WeCom token issued so far is refused (40014), as after the secret was reset."""
        with self._lock:
            for token in self.wecom_tokens.values():
                token.valid = False

    def check_wecom_token(self, request: Request) -> dict | None:
        value = request.args.get("access_token")
        if not value:
            return ERR_MISSING_TOKEN
        with self._lock:
            token = self.wecom_tokens.get(value)
        if token is None or not token.valid:
            return ERR_WECOM_INVALID_TOKEN
        if token.expires_at <= time.time():
            return ERR_WECOM_EXPIRED_TOKEN
        return None

    def add_subscribe_template(self, template_id: str, keys: tuple[str, ...]) -> None:
        """A template chosen in the mini program's console, with its data keys (thing1, amount2…)."""
        with self._lock:
            self.subscribe_templates[template_id] = tuple(keys)

    def grant_subscription(self, openid: str, template_id: str, times: int = 1) -> None:
        """The user tapped "allow" `times` times in wx.requestSubscribeMessage (one message each)."""
        with self._lock:
            key = (openid, template_id)
            self.subscriptions[key] = self.subscriptions.get(key, 0) + times

    def check_app_credentials(self, appid: Any, secret: Any) -> dict | None:
        if appid != self.appid:
            return ERR_INVALID_APPID
        if secret != self.secret:
            return ERR_INVALID_SECRET
        return None

    # -- WeChat's APIs --------------------------------------------------------------------------

    def _install_default_routes(self) -> None:
        self.route("GET", "/sns/jscode2session")(_jscode2session)
        self.route("POST", "/cgi-bin/stable_token")(_stable_token)
        self.route("GET", "/cgi-bin/stable_token")(lambda fake, request: ERR_REQUIRE_POST)
        self.route("POST", "/wxa/business/getuserphonenumber")(_getuserphonenumber)
        self.route("POST", "/wxa/getwxacodeunlimit")(_getwxacodeunlimit)
        self.route("GET", "/cgi-bin/gettoken")(_wecom_gettoken)
        self.route("POST", "/cgi-bin/externalcontact/add_contact_way")(_add_contact_way)
        self.route("POST", "/cgi-bin/message/subscribe/send")(_subscribe_send)
        self.route("POST", "/cgi-bin/message/send")(_wecom_message_send)
        self.route("POST", "/cgi-bin/externalcontact/send_welcome_msg")(_send_welcome_msg)
        self.route("GET", "/cgi-bin/externalcontact/get")(_external_contact_get)
        self.route("POST", "/cgi-bin/externalcontact/transfer_customer")(_transfer_customer)
        self.route("POST", "/cgi-bin/externalcontact/resigned/transfer_customer")(_transfer_customer)
        self.route("POST", "/cgi-bin/externalcontact/transfer_result")(_transfer_result)
        self.route("POST", "/cgi-bin/externalcontact/resigned/transfer_result")(_transfer_result)
        self.route("POST", "/cgi-bin/externalcontact/add_corp_tag")(_add_corp_tag)
        self.route("POST", "/cgi-bin/externalcontact/del_corp_tag")(_del_corp_tag)
        self.route("POST", "/cgi-bin/externalcontact/edit_corp_tag")(_edit_corp_tag)
        self.route("POST", "/cgi-bin/externalcontact/mark_tag")(_mark_tag)


def _json_response(data: Any, *, status: int = 200, content_type: str = "application/json") -> Response:
    return Response(jsonlib.dumps(data, ensure_ascii=False), status=status, content_type=content_type)


def _jscode2session(fake: FakeWeChat, request: Request):
    args = request.args
    if (refused := fake.check_app_credentials(args.get("appid"), args.get("secret"))) is not None:
        return refused
    if args.get("grant_type") != "authorization_code":
        return ERR_INVALID_GRANT
    code = args.get("js_code", "")
    with fake._lock:
        user = fake.login_codes.get(code)
        if user is None:
            return ERR_INVALID_CODE
        if code in fake.used_codes:
            return ERR_CODE_USED
        fake.used_codes.add(code)
    answer = {"session_key": user.session_key, "openid": user.openid}
    if user.unionid:
        answer["unionid"] = user.unionid
    # WeChat has served this API's JSON as text/plain; clients must not rely on Content-Type.
    return _json_response(answer, content_type="text/plain")


def _stable_token(fake: FakeWeChat, request: Request):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return ERR_BAD_JSON
    if (refused := fake.check_app_credentials(body.get("appid"), body.get("secret"))) is not None:
        return refused
    if body.get("grant_type") != "client_credential":
        return ERR_INVALID_GRANT
    now = time.time()
    current = fake.current_access_token()
    if body.get("force_refresh") is True:
        fake.revoke_access_tokens()
        current = None
    with fake._lock:
        token = fake.access_tokens.get(current) if current else None
        # Normal mode: the same token until its last 5 minutes, then the next one (the old one
        # stays valid until it expires).
        if token is None or token.expires_at - now <= 300:
            token = _AccessToken(value="ACCESS_" + secrets.token_urlsafe(24), expires_at=now + fake.token_lifetime)
            fake.access_tokens[token.value] = token
    return {"access_token": token.value, "expires_in": int(round(token.expires_at - now))}


def _getuserphonenumber(fake: FakeWeChat, request: Request):
    # The token is checked before the body is read: a refused token leaves the code unspent.
    if (refused := fake.check_access_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return ERR_BAD_JSON
    code, openid = body["code"], body.get("openid")
    with fake._lock:
        grant = fake.phone_codes.get(code)
        if (
            grant is None
            or code in fake.used_phone_codes
            or time.time() - grant.issued_at > PHONE_CODE_LIFETIME
            # With `openid`, WeChat checks the code belongs to that user (which errcode it
            # answers for a mismatch is not documented; an invalid code is the closest).
            or (openid and openid != grant.openid)
        ):
            return ERR_INVALID_CODE
        if fake.phone_quota is not None:
            if fake.phone_quota <= 0:
                return ERR_PHONE_QUOTA
            fake.phone_quota -= 1
        fake.used_phone_codes.add(code)
    mainland = str(grant.country_code) == "86"
    return {
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            # phoneNumber carries the country code for numbers outside the mainland.
            "phoneNumber": grant.phone if mainland else f"+{grant.country_code}{grant.phone}",
            "purePhoneNumber": grant.phone,
            "countryCode": grant.country_code,
            "watermark": {"timestamp": int(time.time()), "appid": fake.appid},
        },
    }


def _fake_code_image(width: int) -> bytes:
    # A real (if blank) JPEG of the requested width, as WeChat's default answer is a JPEG.
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (width, width), 255).save(buffer, format="JPEG")
    return buffer.getvalue()


def _getwxacodeunlimit(fake: FakeWeChat, request: Request):
    if (refused := fake.check_access_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)  # JSON only: a form post is not understood
    if not isinstance(body, dict):
        return ERR_BAD_JSON
    scene = body.get("scene")
    if not isinstance(scene, str) or not _SCENE.match(scene):
        return ERR_INVALID_SCENE
    width, env_version = body.get("width", 430), body.get("env_version", "release")
    if (
        isinstance(width, bool) or not isinstance(width, int) or not 280 <= width <= 1280
        or env_version not in ("release", "trial", "develop")
    ):
        return ERR_INVALID_ARGS
    page = body.get("page", "")  # empty: the main page
    if not isinstance(page, str) or page.startswith("/") or "?" in page:
        return ERR_INVALID_PAGE
    if page and body.get("check_path", True) and page not in fake.published_pages:
        return ERR_INVALID_PAGE
    return Response(_fake_code_image(width), content_type="image/jpeg")


def _wecom_gettoken(fake: FakeWeChat, request: Request):
    args = request.args
    if args.get("corpid") != fake.corp_id:
        return ERR_WECOM_INVALID_CORPID
    if args.get("corpsecret") != fake.corp_secret:
        return ERR_WECOM_INVALID_SECRET
    now = time.time()
    current = fake.current_wecom_token()
    with fake._lock:
        # WeCom hands out the same token while it is valid, a new one once it has expired.
        token = fake.wecom_tokens.get(current) if current else None
        if token is None:
            token = _AccessToken(value="WECOM_" + secrets.token_urlsafe(24), expires_at=now + fake.token_lifetime)
            fake.wecom_tokens[token.value] = token
    return {"errcode": 0, "errmsg": "ok", "access_token": token.value,
            "expires_in": int(round(token.expires_at - now))}


def _add_contact_way(fake: FakeWeChat, request: Request):
    if (refused := fake.check_wecom_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return ERR_BAD_JSON
    kind, scene, users = body.get("type"), body.get("scene"), body.get("user", [])
    state, remark = body.get("state", ""), body.get("remark", "")
    if (
        kind not in (1, 2) or scene not in (1, 2)
        or not isinstance(users, list) or not users or not all(isinstance(u, str) for u in users)
        or (kind == 1 and len(users) != 1) or len(users) > 100
        or not isinstance(state, str) or len(state) > 30
        or not isinstance(remark, str) or len(remark) > 30
        or not isinstance(body.get("skip_verify", True), bool)
    ):
        return ERR_WECOM_INVALID_PARAM
    unknown = [u for u in users if u not in fake.wecom_users]
    if unknown:
        return {"errcode": 60111, "errmsg": f"invalid string value `{unknown[0]}`. userid not found, hint: [fake]"}
    config_id = secrets.token_hex(16)
    with fake._lock:
        fake.contact_ways[config_id] = body
    return {"errcode": 0, "errmsg": "ok", "config_id": config_id,
            "qr_code": f"https://wework.qq.com/q/fake{config_id[:12]}"}


def _send_welcome_msg(fake: FakeWeChat, request: Request):
    if (refused := fake.check_wecom_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return ERR_BAD_JSON
    code, text = body.get("welcome_code"), body.get("text")
    if (not isinstance(code, str) or not code or not isinstance(text, dict)
            or not isinstance(text.get("content"), str) or len(text["content"].encode()) > 4000):
        return ERR_WECOM_INVALID_PARAM
    with fake._lock:
        if code not in fake.welcome_codes:
            if code in fake.used_welcome_codes:
                return {"errcode": 41051, "errmsg": "externaluser has started chatting, hint: [fake]"}
            return ERR_WECOM_INVALID_PARAM
        fake.welcome_codes.discard(code)
        fake.used_welcome_codes.add(code)
        fake.welcome_messages.append(body)
    return {"errcode": 0, "errmsg": "ok"}


def _external_contact_get(fake: FakeWeChat, request: Request):
    if (refused := fake.check_wecom_token(request)) is not None:
        return refused
    external_userid = request.args.get("external_userid", "")
    profile = fake.external_contacts.get(external_userid)
    if profile is None:
        return {"errcode": 84061, "errmsg": "not external contact, hint: [fake]"}
    contact = {"external_userid": external_userid, "name": profile.get("name", ""), "type": 1}
    if profile.get("unionid"):
        contact["unionid"] = profile["unionid"]
    return {"errcode": 0, "errmsg": "ok", "external_contact": contact,
            "follow_user": [{"userid": "zhangsan", "remark": "", "createtime": 1700000000,
                             "remark_mobiles": list(profile.get("remark_mobiles", []))}]}


def _transfer_customer(fake: FakeWeChat, request: Request):
    """In-service (transfer_customer) and resigned (resigned/transfer_customer) transfers."""
    if (refused := fake.check_wecom_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return ERR_BAD_JSON
    resigned = "/resigned/" in request.path
    handover, takeover, customers = body.get("handover_userid"), body.get("takeover_userid"), body.get("external_userid")
    allowed = {"handover_userid", "takeover_userid", "external_userid"} | (set() if resigned else {"transfer_success_msg"})
    message = body.get("transfer_success_msg", "")
    if (
        set(body) - allowed
        or not isinstance(customers, list) or not customers or len(customers) > 100
        or not all(isinstance(c, str) and c for c in customers)
        or not isinstance(message, str) or len(message) > 200
    ):
        return ERR_WECOM_INVALID_PARAM
    if takeover not in fake.wecom_users:
        return {"errcode": 60111, "errmsg": f"userid not found `{takeover}`, hint: [fake]"}
    # In service: the handover member must still be in the corp; resigned: they must have left.
    if (handover in fake.resigned_users) != resigned or (not resigned and handover not in fake.wecom_users):
        return {"errcode": 40098 if resigned else 60111, "errmsg": f"bad handover_userid `{handover}`, hint: [fake]"}
    answers = []
    with fake._lock:
        for external_userid in customers:
            errcode = fake.transfer_errcodes.get(external_userid, 0)
            answers.append({"external_userid": external_userid, "errcode": errcode})
            if not errcode:
                fake.transfers.append({"path": request.path, "handover_userid": handover, "takeover_userid": takeover,
                                       "external_userid": external_userid, "msg": message})
    return {"errcode": 0, "errmsg": "ok", "customer": answers}


def _transfer_result(fake: FakeWeChat, request: Request):
    if (refused := fake.check_wecom_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body.get("handover_userid") or not body.get("takeover_userid"):
        return ERR_WECOM_INVALID_PARAM
    resigned = "/resigned/" in request.path
    with fake._lock:
        mine = [t["external_userid"] for t in fake.transfers
                if t["handover_userid"] == body["handover_userid"] and t["takeover_userid"] == body["takeover_userid"]
                and ("/resigned/" in t["path"]) == resigned]
    start = int(body.get("cursor") or 0)
    page = mine[start:start + fake.transfer_page_size]
    rows = []
    for external_userid in page:
        status = fake.transfer_status.get(external_userid, 2)
        rows.append({"external_userid": external_userid, "status": status,
                     "takeover_time": 1700086400 if status == 1 else 0})
    more = start + len(page) < len(mine)
    return {"errcode": 0, "errmsg": "ok", "customer": rows, "next_cursor": str(start + len(page)) if more else ""}


def _add_corp_tag(fake: FakeWeChat, request: Request):
    if (refused := fake.check_wecom_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return ERR_BAD_JSON
    tags, group_id, group_name = body.get("tag"), body.get("group_id"), body.get("group_name")
    if (
        set(body) - {"group_id", "group_name", "order", "tag", "agentid"}
        or not isinstance(tags, list) or not tags
        or not all(isinstance(t, dict) and isinstance(t.get("name"), str) and 0 < len(t["name"]) <= 30 for t in tags)
        or (group_id is None and not (isinstance(group_name, str) and 0 < len(group_name) <= 30))
    ):
        return ERR_WECOM_INVALID_PARAM
    with fake._lock:
        if group_id is not None:
            group = fake.corp_tag_groups.get(group_id)
            if group is None:
                return {"errcode": 40068, "errmsg": "invalid tagid, hint: [fake]"}
        else:
            group = next((g for g in fake.corp_tag_groups.values() if g["group_name"] == group_name), None)
            if group is None:
                group = {"group_id": "et" + secrets.token_hex(11), "group_name": group_name, "tag": []}
                fake.corp_tag_groups[group["group_id"]] = group
        if len(fake.corp_tags) + len(tags) > 3000:
            return {"errcode": 41022, "errmsg": "too many tags, hint: [fake]"}
        answered = []
        for item in tags:
            tag = next((t for t in group["tag"] if t["name"] == item["name"]), None)
            if tag is None:
                tag = {"id": "et" + secrets.token_hex(11), "name": item["name"], "create_time": int(time.time()),
                       "order": 0}
                group["tag"].append(tag)
                fake.corp_tags[tag["id"]] = group["group_id"]
            answered.append(tag)
    return {"errcode": 0, "errmsg": "ok", "tag_group": {"group_id": group["group_id"], "group_name": group["group_name"],
                                                         "create_time": 1700000000, "order": 0, "tag": answered}}


def _del_corp_tag(fake: FakeWeChat, request: Request):
    if (refused := fake.check_wecom_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"tag_id", "group_id", "agentid"} or not (
            body.get("tag_id") or body.get("group_id")):
        return ERR_WECOM_INVALID_PARAM
    tag_ids, group_ids = body.get("tag_id") or [], body.get("group_id") or []
    with fake._lock:
        if any(t not in fake.corp_tags for t in tag_ids) or any(g not in fake.corp_tag_groups for g in group_ids):
            return {"errcode": 40068, "errmsg": "invalid tagid, hint: [fake]"}
        for tag_id in tag_ids:
            group = fake.corp_tag_groups[fake.corp_tags.pop(tag_id)]
            group["tag"] = [t for t in group["tag"] if t["id"] != tag_id]
        for marks in fake.tag_marks.values():
            marks.difference_update(tag_ids)
    return {"errcode": 0, "errmsg": "ok"}


def _edit_corp_tag(fake: FakeWeChat, request: Request):
    if (refused := fake.check_wecom_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)
    if (not isinstance(body, dict) or set(body) - {"id", "name", "order", "agentid"} or not isinstance(body.get("id"), str)
            or ("name" in body and not (isinstance(body["name"], str) and 0 < len(body["name"]) <= 30))):
        return ERR_WECOM_INVALID_PARAM
    with fake._lock:
        group_id = fake.corp_tags.get(body["id"])
        if group_id is None:
            return {"errcode": 40068, "errmsg": "invalid tagid, hint: [fake]"}
        for tag in fake.corp_tag_groups[group_id]["tag"]:
            if tag["id"] == body["id"] and "name" in body:
                tag["name"] = body["name"]
    return {"errcode": 0, "errmsg": "ok"}


def _mark_tag(fake: FakeWeChat, request: Request):
    if (refused := fake.check_wecom_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"userid", "external_userid", "add_tag", "remove_tag"}:
        return ERR_WECOM_INVALID_PARAM
    user, customer = body.get("userid"), body.get("external_userid")
    add, remove = body.get("add_tag", []), body.get("remove_tag", [])
    if (not isinstance(add, list) or not isinstance(remove, list) or not (add or remove)
            or not isinstance(customer, str) or not customer):
        return ERR_WECOM_INVALID_PARAM
    if user not in fake.wecom_users:
        return {"errcode": 60111, "errmsg": f"userid not found `{user}`, hint: [fake]"}
    with fake._lock:
        if any(t not in fake.corp_tags for t in add + remove):
            return {"errcode": 40068, "errmsg": "invalid tagid, hint: [fake]"}
        marks = fake.tag_marks.setdefault((user, customer), set())
        marks.update(add)
        marks.difference_update(remove)
    return {"errcode": 0, "errmsg": "ok"}

_OPENID = re.compile(r"^o[0-9A-Za-z_-]{27}\Z")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _subscribe_field_error(key: str, value: str) -> str | None:
    """WeChat's rule for the field's type (the key's letters), for the few types the fake checks."""
    kind = re.sub(r"\d+$", "", key)
    if kind == "thing" and len(value) > 20:
        return "invalid"
    if kind == "character_string" and (len(value) > 32 or _CJK.search(value)):
        return "invalid"
    if kind == "phrase" and not (len(value) <= 5 and all(_CJK.match(ch) for ch in value)):
        return "invalid"
    return None


def _subscribe_send(fake: FakeWeChat, request: Request):
    if (refused := fake.check_access_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return ERR_BAD_JSON
    openid, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
    if not isinstance(openid, str) or not _OPENID.match(openid):
        return ERR_INVALID_OPENID
    keys = fake.subscribe_templates.get(template_id) if isinstance(template_id, str) else None
    if keys is None:
        return ERR_INVALID_TEMPLATE
    data = data if isinstance(data, dict) else {}
    for key in keys:
        entry = data.get(key)
        value = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(value, str) or not value:
            return {"errcode": 47003, "errmsg": f"argument invalid! data.{key}.value is empty rid: fake"}
        if _subscribe_field_error(key, value):
            return {"errcode": 47003, "errmsg": f"argument invalid! data.{key}.value invalid rid: fake"}
    state, lang = body.get("miniprogram_state", "formal"), body.get("lang", "zh_CN")
    if state not in ("formal", "trial", "developer") or lang not in ("zh_CN", "en_US", "zh_HK", "zh_TW"):
        return ERR_INVALID_ARGS
    page = body.get("page", "")
    if not isinstance(page, str) or (page and state == "formal" and page.split("?")[0] not in fake.published_pages):
        return ERR_INVALID_PAGE
    with fake._lock:
        left = fake.subscriptions.get((openid, template_id), 0)
        if left <= 0:
            return ERR_NO_SUBSCRIPTION
        fake.subscriptions[(openid, template_id)] = left - 1
        fake.subscribe_messages.append(body)
    return {"errcode": 0, "errmsg": "ok", "msgid": secrets.randbelow(10**18)}


def _wecom_message_send(fake: FakeWeChat, request: Request):
    if (refused := fake.check_wecom_token(request)) is not None:
        return refused
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return ERR_BAD_JSON
    if body.get("agentid") != fake.wecom_agent_id:
        return ERR_WECOM_INVALID_AGENT
    if body.get("msgtype") != "text":
        return ERR_WECOM_INVALID_MSGTYPE
    text = body.get("text")
    content = text.get("content") if isinstance(text, dict) else None
    if not isinstance(content, str) or not content:
        return ERR_WECOM_EMPTY_CONTENT
    users = [u for u in str(body.get("touser", "")).split("|") if u]
    known = [u for u in users if u in fake.wecom_users]
    invalid = "|".join(u for u in users if u not in fake.wecom_users)
    if not known:
        return {"errcode": 81013, "errmsg": "user & party & tag all invalid, hint: [fake]", "invaliduser": invalid}
    with fake._lock:
        for user in known:
            fake.wecom_messages.append({"touser": user, "content": content})
    return {"errcode": 0, "errmsg": "ok", "invaliduser": invalid, "invalidparty": "", "invalidtag": "",
            "unlicenseduser": "", "msgid": secrets.token_urlsafe(24), "response_code": secrets.token_urlsafe(16)}


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_wechat_server():
    # WeChat's side of the wire: its request log (query strings with the fake secret) is noise here.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Threaded: a handler sleeping for a timeout test must not hold up the next request.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def fake_wechat(fake_wechat_server):
    """A fresh fake WeChat (no users, no tokens) for this test."""
    fake = FakeWeChat(server=fake_wechat_server)
    fake_wechat_server.clear()
    fake_wechat_server.expect_request(re.compile(".*")).respond_with_handler(fake.dispatch)
    yield fake
    fake_wechat_server.clear()


@pytest.fixture
def wechat_real(settings, fake_wechat):
    """Settings for the `real` backend talking to the fake; the backend cache is reset around it."""
    from wechat.backends import _backend_for

    settings.WECHAT_BACKEND = "real"
    settings.WECHAT_API_BASE = fake_wechat.url
    settings.WECHAT_APPID = fake_wechat.appid
    settings.WECHAT_SECRET = fake_wechat.secret
    settings.WECHAT_HTTP_TIMEOUT = 5.0
    _backend_for.cache_clear()
    yield fake_wechat
    _backend_for.cache_clear()


@pytest.fixture
def wecom_real(settings, wechat_real):
    """`wechat_real` plus WeCom settings pointing at the same fake (its WeCom half)."""
    settings.WECOM_API_BASE = wechat_real.url
    settings.WECOM_CORP_ID = wechat_real.corp_id
    settings.WECOM_SECRET = wechat_real.corp_secret
    settings.WECOM_AGENT_ID = wechat_real.wecom_agent_id
    yield wechat_real
