"""The `real` backend's messages over real HTTP, against the fake WeChat/WeCom on loopback:
subscribe messages (`/cgi-bin/message/subscribe/send`) and WeCom app text messages
(`/cgi-bin/message/send`), then through the notification outbox with WECHAT_BACKEND=real."""

import logging
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from core.errors import ExternalServiceError
from notifications.models import Notification
from notifications.services import notification_send, notify
from wechat import wecom
from wechat.access_token import get_access_token
from wechat.backends import get_backend
from wechat.backends.messages_base import MessageRefused
from wechat.backends.real_messages import cut_to_bytes
from wechat.errors import WeChatRateLimited

from .fake_server import ERR_WECOM_EXPIRED_TOKEN, ERR_WECOM_INVALID_TOKEN, wecom_real  # noqa: F401  (fixture)

SEND = "/cgi-bin/message/subscribe/send"
STABLE_TOKEN = "/cgi-bin/stable_token"
WECOM_SEND = "/cgi-bin/message/send"
GETTOKEN = "/cgi-bin/gettoken"
OPENID = "oMSG00000000000000000000001a"
TEMPLATE = "TMPL-delivery-done-0001"
PAGE = "pages/order/detail?id=1"
DATA = {"character_string1": {"value": "26112312345678"}, "thing2": {"value": "王老板签收"}}


@pytest.fixture
def fake(wechat_real):
    wechat_real.add_subscribe_template(TEMPLATE, ("character_string1", "thing2"))
    wechat_real.published_pages.add("pages/order/detail")
    return wechat_real


def send(**overrides):
    fields = {"openid": OPENID, "template_id": TEMPLATE, "page": PAGE, "data": DATA} | overrides
    return get_backend().send_subscribe_message(**fields)


def _client_log(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))


# -- subscribe messages ------------------------------------------------------------------------------


def test_a_subscribe_message_is_posted_as_documented(fake):
    fake.grant_subscription(OPENID, TEMPLATE)

    assert send() is None

    [call] = fake.calls(SEND)
    assert call.method == "POST"
    assert call.args == {"access_token": fake.current_access_token()}
    assert call.headers["Content-Type"] == "application/json; charset=utf-8"
    assert call.json == {"touser": OPENID, "template_id": TEMPLATE, "page": PAGE, "data": DATA,
                         "miniprogram_state": "formal", "lang": "zh_CN"}
    assert fake.subscribe_messages == [call.json]
    assert fake.subscriptions[(OPENID, TEMPLATE)] == 0  # the one acceptance is spent


def test_state_and_language_come_from_the_settings(fake, settings):
    settings.WECHAT_MINIPROGRAM_STATE = "trial"
    settings.WECHAT_MESSAGE_LANG = "en_US"
    fake.grant_subscription(OPENID, TEMPLATE)

    send(page="pages/not/released/yet")

    [call] = fake.calls(SEND)
    assert (call.json["miniprogram_state"], call.json["lang"]) == ("trial", "en_US")
    assert call.json["page"] == "pages/not/released/yet"


def test_without_a_page_the_field_is_left_out(fake):
    fake.grant_subscription(OPENID, TEMPLATE)

    send(page="")

    assert "page" not in fake.calls(SEND)[0].json
    assert len(fake.subscribe_messages) == 1


@pytest.mark.parametrize("setting, value", [("WECHAT_MINIPROGRAM_STATE", "release"),
                                            ("WECHAT_MESSAGE_LANG", "zh-hans")])
def test_a_bad_state_or_language_setting_is_improperly_configured(fake, settings, setting, value):
    setattr(settings, setting, value)

    with pytest.raises(ImproperlyConfigured, match=setting):
        send()

    assert fake.calls() == []


def test_one_acceptance_sends_one_message_then_43101(fake):
    fake.grant_subscription(OPENID, TEMPLATE)
    send()

    with pytest.raises(MessageRefused) as exc:
        send()

    assert exc.value.code == "43101"
    assert exc.value.message == "用户未订阅该消息或订阅次数已用完"
    assert exc.value.details == {"errcode": 43101, "errmsg": "user refuse to accept the msg rid: fake"}
    assert len(fake.subscribe_messages) == 1
    assert len(fake.calls(SEND)) == 2  # a refusal is not retried


def test_a_field_breaking_the_rules_is_refused_naming_the_field(fake):
    fake.grant_subscription(OPENID, TEMPLATE)
    too_long = {"character_string1": {"value": "26112312345678"}, "thing2": {"value": "鱼" * 21}}

    with pytest.raises(MessageRefused) as exc:
        send(data=too_long)

    assert exc.value.code == "47003"
    assert exc.value.message == "订阅消息字段 thing2 不符合模板规则"
    assert exc.value.details == {"errcode": 47003, "field": "thing2",
                                 "errmsg": "argument invalid! data.thing2.value invalid rid: fake"}
    assert fake.subscribe_messages == []
    assert fake.subscriptions[(OPENID, TEMPLATE)] == 1  # not spent


def test_a_47003_whose_errmsg_names_no_field_still_says_what_wechat_said(fake):
    fake.respond_once(SEND, json={"errcode": 47003, "errmsg": "argument invalid! rid: r"})

    with pytest.raises(MessageRefused) as exc:
        send()

    assert exc.value.code == "47003"
    assert exc.value.message == "订阅消息字段不符合模板规则：argument invalid! rid: r"
    assert exc.value.details["field"] == ""


def test_an_invalid_openid_is_refused(fake):
    with pytest.raises(MessageRefused) as exc:
        send(openid="not-an-openid")

    assert (exc.value.code, exc.value.details["errcode"]) == ("40003", 40003)
    assert len(fake.calls(SEND)) == 1


def test_an_unknown_template_is_refused(fake):
    fake.grant_subscription(OPENID, "TMPL-unknown")

    with pytest.raises(MessageRefused) as exc:
        send(template_id="TMPL-unknown")

    assert (exc.value.code, exc.value.details["errcode"]) == ("40037", 40037)
    assert fake.subscribe_messages == []


def test_an_unreleased_page_is_refused(fake):
    fake.grant_subscription(OPENID, TEMPLATE)

    with pytest.raises(MessageRefused) as exc:
        send(page="pages/secret/page")

    assert exc.value.code == "41030"
    assert fake.subscribe_messages == []


@pytest.mark.parametrize("override, code", [({"openid": ""}, "40003"), ({"template_id": ""}, "40037")])
def test_an_empty_openid_or_template_is_refused_without_calling_wechat(fake, override, code):
    with pytest.raises(MessageRefused) as exc:
        send(**override)

    assert exc.value.code == code
    assert fake.calls() == []  # not even a token fetch


@pytest.mark.parametrize("refusal", [{"errcode": 40001, "errmsg": "invalid credential rid: r"},
                                     {"errcode": 42001, "errmsg": "access_token expired rid: r"}])
def test_a_refused_token_is_dropped_and_the_message_sent_once_more(fake, refusal):
    old = get_access_token()
    fake.respond_once(SEND, json=refusal)
    fake.revoke_access_tokens()  # so that the next token is a new one
    fake.grant_subscription(OPENID, TEMPLATE)

    send()

    first, second = fake.calls(SEND)
    assert first.args["access_token"] == old
    assert second.args["access_token"] == fake.current_access_token() != old
    assert first.json == second.json
    assert len(fake.calls(STABLE_TOKEN)) == 2
    assert len(fake.subscribe_messages) == 1


def test_a_revoked_token_is_replaced_for_real(fake):
    old = get_access_token()
    fake.revoke_access_tokens()  # the fake itself answers 40001 for `old`
    fake.grant_subscription(OPENID, TEMPLATE)

    send()

    assert [c.args["access_token"] == old for c in fake.calls(SEND)] == [True, False]
    assert len(fake.subscribe_messages) == 1


def test_a_token_refused_twice_is_not_retried_again(fake):
    fake.respond_once(SEND, json={"errcode": 40001, "errmsg": "invalid credential rid: r"})
    fake.respond_once(SEND, json={"errcode": 40001, "errmsg": "invalid credential rid: r"})
    fake.grant_subscription(OPENID, TEMPLATE)

    with pytest.raises(ExternalServiceError) as exc:
        send()

    assert exc.value.details == {"api": "subscribe_send", "reason": "errcode", "errcode": 40001}
    assert len(fake.calls(SEND)) == 2
    assert fake.subscribe_messages == []


@pytest.mark.parametrize(
    ("scripted", "error_type", "details"),
    [
        ({"json": {"errcode": -1, "errmsg": "system error rid: r"}}, ExternalServiceError,
         {"api": "subscribe_send", "reason": "errcode", "errcode": -1}),
        ({"json": {"errcode": 45009, "errmsg": "reach max api daily quota limit rid: r"}}, WeChatRateLimited,
         {"api": "subscribe_send", "reason": "rate_limited", "errcode": 45009}),
        ({"status": 502, "body": "bad gateway"}, ExternalServiceError,
         {"api": "subscribe_send", "reason": "http_status", "http_status": 502}),
        ({"body": "<html>not json</html>"}, ExternalServiceError, {"api": "subscribe_send", "reason": "bad_response"}),
    ],
)
def test_busy_and_broken_answers_are_retryable_external_errors(fake, scripted, error_type, details):
    fake.respond_once(SEND, **scripted)
    fake.grant_subscription(OPENID, TEMPLATE)

    with pytest.raises(ExternalServiceError) as exc:
        send()

    assert type(exc.value) is error_type
    assert exc.value.details == details
    assert len(fake.calls(SEND)) == 1
    assert fake.subscribe_messages == []


def test_an_unreachable_wechat_is_a_connection_error(fake, settings):
    get_access_token()  # cached: only the send itself meets the closed port
    settings.WECHAT_API_BASE = "http://127.0.0.1:1"

    with pytest.raises(ExternalServiceError) as exc:
        send()

    assert exc.value.details == {"api": "subscribe_send", "reason": "connection"}


def test_a_slow_send_times_out_with_reason_timeout(fake, settings):
    get_access_token()
    settings.WECHAT_HTTP_TIMEOUT = 0.2
    fake.grant_subscription(OPENID, TEMPLATE)
    # The fake delivers, just too late to answer: exactly the "may have been delivered" case.
    fake.respond_once(SEND, delay=1.0)

    with pytest.raises(ExternalServiceError) as exc:
        send()

    assert exc.value.details == {"api": "subscribe_send", "reason": "timeout"}
    assert len(fake.calls(SEND)) == 1
    deadline = time.monotonic() + 15  # generous: a busy machine slows the fake, never a failure
    while not fake.subscribe_messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fake.subscribe_messages) == 1


def test_a_slow_token_fetch_is_not_a_may_have_been_delivered_timeout(fake, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.2
    fake.respond_once(STABLE_TOKEN, delay=1.0)
    fake.grant_subscription(OPENID, TEMPLATE)

    with pytest.raises(ExternalServiceError) as exc:
        send()

    assert exc.value.details == {"api": "stable_token", "reason": "token_timeout"}
    assert fake.calls(SEND) == []


def test_neither_token_nor_openid_nor_content_is_logged(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.grant_subscription(OPENID, TEMPLATE)
    send()
    with pytest.raises(MessageRefused):
        send()

    log = _client_log(caplog)
    assert "POST /cgi-bin/message/subscribe/send?access_token=***" in log  # urllib3's line, redacted
    assert fake.current_access_token() not in log
    assert OPENID not in log
    assert "王老板" not in log


# -- WeCom app messages to staff ---------------------------------------------------------------------


def staff_send(user_id="zhangsan", text="订单 26112312345678 已送达"):
    return get_backend().send_staff_message(user_id=user_id, text=text)


def test_a_staff_message_is_posted_as_documented(wecom_real):
    assert staff_send() is None

    [call] = wecom_real.calls(WECOM_SEND)
    assert call.method == "POST"
    assert call.args == {"access_token": wecom_real.current_wecom_token()}
    assert call.headers["Content-Type"] == "application/json; charset=utf-8"
    assert call.json == {"touser": "zhangsan", "msgtype": "text", "agentid": 1000002,
                         "text": {"content": "订单 26112312345678 已送达"}}
    assert wecom_real.wecom_messages == [{"touser": "zhangsan", "content": "订单 26112312345678 已送达"}]
    assert wecom_real.calls(SEND) == wecom_real.calls(STABLE_TOKEN) == []  # WeCom only


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 2048, "a" * 2048),  # exactly the limit: untouched
        ("aa" + "鱼" * 682, "aa" + "鱼" * 682),  # 2048 bytes of mixed widths: untouched
        ("鱼" * 1000, "鱼" * 681 + "…"),  # 2046 bytes
        ("a" + "鱼" * 1000, "a" + "鱼" * 681 + "…"),  # the 682nd 鱼 would straddle byte 2045
        ("ab" + "🐟" * 600, "ab" + "🐟" * 510 + "…"),  # 4-byte characters: 2+2040+3 bytes
        ("a" * 3000, "a" * 2045 + "…"),
    ],
)
def test_text_is_cut_to_2048_bytes_on_a_character_boundary(text, expected):
    cut = cut_to_bytes(text)

    assert cut == expected
    assert len(cut.encode("utf-8")) <= 2048


def test_long_text_goes_out_cut_with_an_ellipsis(wecom_real):
    staff_send(text="冻带鱼段" * 300)  # 3600 bytes

    content = wecom_real.calls(WECOM_SEND)[0].json["text"]["content"]
    assert content == ("冻带鱼段" * 300)[:681] + "…"
    assert len(content.encode("utf-8")) == 2046
    assert wecom_real.wecom_messages[0]["content"] == content


def test_an_unknown_staff_account_is_refused(wecom_real):
    with pytest.raises(MessageRefused) as exc:
        staff_send(user_id="nobody")

    assert exc.value.code == "invaliduser"
    assert exc.value.message == "企业微信账号不存在或不在应用可见范围内"
    assert exc.value.details == {"errcode": 81013, "errmsg": "user & party & tag all invalid, hint: [fake]"}
    assert len(wecom_real.calls(WECOM_SEND)) == 1
    assert wecom_real.wecom_messages == []


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ({"errcode": 0, "errmsg": "ok", "invaliduser": "zhangsan", "invalidparty": "", "invalidtag": ""},
         "invaliduser"),
        ({"errcode": 0, "errmsg": "ok", "invaliduser": "", "unlicenseduser": "zhangsan"}, "unlicenseduser"),
        ({"errcode": 60111, "errmsg": "userid not found"}, "invaliduser"),
        ({"errcode": 40003, "errmsg": "invalid userid"}, "invaliduser"),
    ],
)
def test_wecom_naming_the_user_as_not_reachable_is_a_refusal(wecom_real, answer, code):
    wecom_real.respond_once(WECOM_SEND, json=answer)

    with pytest.raises(MessageRefused) as exc:
        staff_send()

    assert exc.value.code == code
    assert exc.value.details["errcode"] == answer["errcode"]
    assert len(wecom_real.calls(WECOM_SEND)) == 1


@pytest.mark.parametrize("user_id", ["", "@all", "@ALL", "zhangsan|lisi", "张三", "a" * 65, None])
def test_an_unusable_user_id_is_refused_without_calling_wecom(wecom_real, user_id):
    with pytest.raises(MessageRefused) as exc:
        staff_send(user_id=user_id)

    assert exc.value.code == "invaliduser"
    assert wecom_real.calls() == []


@pytest.mark.parametrize("refusal", [ERR_WECOM_INVALID_TOKEN, ERR_WECOM_EXPIRED_TOKEN])
def test_a_refused_wecom_token_is_replaced_and_the_message_sent_once_more(wecom_real, refusal):
    old = wecom.get_wecom_access_token()
    wecom_real.respond_once(WECOM_SEND, json=refusal)
    wecom_real.revoke_wecom_tokens()

    staff_send()

    first, second = wecom_real.calls(WECOM_SEND)
    assert first.args["access_token"] == old
    assert second.args["access_token"] == wecom_real.current_wecom_token() != old
    assert first.json == second.json
    assert len(wecom_real.calls(GETTOKEN)) == 2
    assert len(wecom_real.wecom_messages) == 1


def test_a_wecom_token_refused_twice_is_not_retried_again(wecom_real):
    wecom_real.respond_once(WECOM_SEND, json=ERR_WECOM_INVALID_TOKEN)
    wecom_real.respond_once(WECOM_SEND, json=ERR_WECOM_INVALID_TOKEN)

    with pytest.raises(ExternalServiceError) as exc:
        staff_send()

    assert exc.value.details == {"api": "wecom.message_send", "reason": "errcode", "errcode": 40014}
    assert len(wecom_real.calls(WECOM_SEND)) == 2
    assert wecom_real.wecom_messages == []


@pytest.mark.parametrize(
    ("scripted", "error_type", "details"),
    [
        ({"json": {"errcode": -1, "errmsg": "system busy"}}, ExternalServiceError,
         {"api": "wecom.message_send", "reason": "errcode", "errcode": -1}),
        ({"json": {"errcode": 45009, "errmsg": "api freq out of limit"}}, WeChatRateLimited,
         {"api": "wecom.message_send", "reason": "rate_limited", "errcode": 45009}),
        ({"status": 500, "body": "oops"}, ExternalServiceError,
         {"api": "wecom.message_send", "reason": "http_status", "http_status": 500}),
    ],
)
def test_wecom_busy_and_broken_answers_are_retryable_external_errors(wecom_real, scripted, error_type, details):
    wecom_real.respond_once(WECOM_SEND, **scripted)

    with pytest.raises(ExternalServiceError) as exc:
        staff_send()

    assert type(exc.value) is error_type
    assert exc.value.details == details
    assert len(wecom_real.calls(WECOM_SEND)) == 1


def test_a_wrong_agent_id_is_an_external_error_logged_as_an_error(wecom_real, settings, caplog):
    settings.WECOM_AGENT_ID = 1000999

    with caplog.at_level(logging.INFO, logger="wechat"), pytest.raises(ExternalServiceError) as exc:
        staff_send()

    assert exc.value.details == {"api": "wecom.message_send", "reason": "errcode", "errcode": 40056}
    [record] = [r for r in caplog.records if "40056" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert wecom_real.wecom_messages == []


def test_a_slow_staff_send_times_out_with_reason_timeout(wecom_real, settings):
    wecom.get_wecom_access_token()
    settings.WECHAT_HTTP_TIMEOUT = 0.2
    wecom_real.respond_once(WECOM_SEND, delay=1.0)

    with pytest.raises(ExternalServiceError) as exc:
        staff_send()

    assert exc.value.details == {"api": "wecom.message_send", "reason": "timeout"}
    assert len(wecom_real.calls(WECOM_SEND)) == 1


def test_a_slow_wecom_token_fetch_is_not_a_may_have_been_delivered_timeout(wecom_real, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.2
    wecom_real.respond_once(GETTOKEN, delay=1.0)

    with pytest.raises(ExternalServiceError) as exc:
        staff_send()

    assert exc.value.details == {"api": "wecom.gettoken", "reason": "token_timeout"}
    assert wecom_real.calls(WECOM_SEND) == []


@pytest.mark.parametrize("setting, value", [("WECOM_CORP_ID", ""), ("WECOM_SECRET", ""), ("WECOM_AGENT_ID", None),
                                            ("WECOM_AGENT_ID", 0), ("WECOM_AGENT_ID", "1000002")])
def test_missing_wecom_settings_are_improperly_configured_at_call_time(wecom_real, settings, setting, value):
    setattr(settings, setting, value)
    backend = get_backend()  # building the backend does not need WeCom

    with pytest.raises(ImproperlyConfigured, match="WECOM_AGENT_ID"):
        backend.send_staff_message(user_id="zhangsan", text="你好")

    assert wecom_real.calls() == []


def test_neither_wecom_token_nor_user_nor_text_is_logged(wecom_real, caplog):
    caplog.set_level(logging.DEBUG)
    staff_send(text="王老板的订单已送达")
    with pytest.raises(MessageRefused):
        staff_send(user_id="nobody-here", text="王老板的订单已送达")

    log = _client_log(caplog)
    assert "POST /cgi-bin/message/send?access_token=***" in log
    assert wecom_real.current_wecom_token() not in log
    assert "nobody-here" not in log and "zhangsan" not in log
    assert "王老板" not in log


# -- end to end: the outbox with WECHAT_BACKEND=real -------------------------------------------------

S = Notification.Status


@pytest.fixture
def outbox(fake, wecom_real, settings):
    """The outbox with the real backend; our side has the customer's acceptance recorded
    (notifications.consent), so what is tested here is what WeChat answers."""
    from tests.factories import subscribe_consent

    settings.WECHAT_SUBSCRIBE_TEMPLATES = {"delivery_done": TEMPLATE}
    subscribe_consent(OPENID, "delivery_done", times=3)
    return fake


def write(channel="subscribe", **overrides):
    fields = dict(event_key="order:1:delivered", recipient_kind="customer", recipient_id=7, channel=channel,
                  template="delivery_done", title="订单已送达",
                  data={"character_string1": "26112312345678", "thing2": "由店里的王老板在后门冷库旁签收并确认了数量"},
                  link=PAGE, address=OPENID)
    fields.update(overrides)
    with transaction.atomic():
        return notify(**fields)


@pytest.mark.django_db
def test_outbox_a_delivered_subscribe_message_is_sent(outbox):
    outbox.grant_subscription(OPENID, TEMPLATE)
    notification = write()

    assert notification_send(notification_id=notification.pk) == "sent"

    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.last_error) == (S.SENT, 1, "")
    assert notification.sent_at is not None
    assert outbox.subscribe_messages == [{
        "touser": OPENID, "template_id": TEMPLATE, "page": PAGE,
        "data": {"character_string1": {"value": "26112312345678"}, "thing2": {"value": "由店里的王老板在后门冷库旁签收并确认了…"}},
        "miniprogram_state": "formal", "lang": "zh_CN",
    }]


@pytest.mark.django_db
def test_outbox_no_subscription_is_skipped(outbox):
    notification = write()

    assert notification_send(notification_id=notification.pk) == "skipped"

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (S.SKIPPED, 1)
    assert notification.last_error == "43101: 用户未订阅该消息或订阅次数已用完"
    assert notification.sent_at is None
    assert notification_send(notification_id=notification.pk) == "not_claimed"
    assert len(outbox.calls(SEND)) == 1


@pytest.mark.django_db
def test_outbox_system_busy_is_pending_with_backoff(outbox):
    outbox.grant_subscription(OPENID, TEMPLATE)
    outbox.respond_once(SEND, json={"errcode": -1, "errmsg": "system error rid: r"})
    notification = write()
    before = timezone.now()

    assert notification_send(notification_id=notification.pk) == "retry"

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (S.PENDING, 1)
    assert before + timedelta(seconds=30) <= notification.next_attempt_at <= timezone.now() + timedelta(seconds=30)
    assert notification.last_error == "微信服务暂时不可用，请稍后再试"
    assert outbox.subscribe_messages == []
    assert notification_send(notification_id=notification.pk) == "not_claimed"  # not due yet


@pytest.mark.django_db
def test_outbox_a_timeout_is_unknown_and_not_resent(outbox, settings):
    get_access_token()
    settings.WECHAT_HTTP_TIMEOUT = 0.2
    outbox.grant_subscription(OPENID, TEMPLATE)
    outbox.respond_once(SEND, delay=1.0)
    notification = write()

    assert notification_send(notification_id=notification.pk) == "unknown"

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (S.UNKNOWN, 1)
    assert notification.last_error.startswith("超时，可能已送达")
    assert notification_send(notification_id=notification.pk) == "not_claimed"
    assert len(outbox.calls(SEND)) == 1


@pytest.mark.django_db
def test_outbox_a_token_timeout_is_retried_not_unknown(outbox, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.2
    outbox.respond_once(STABLE_TOKEN, delay=1.0)
    notification = write()

    assert notification_send(notification_id=notification.pk) == "retry"

    notification.refresh_from_db()
    assert notification.status == S.PENDING
    assert outbox.calls(SEND) == []


@pytest.mark.django_db
def test_outbox_staff_messages_are_sent_or_skipped(outbox):
    delivered = write(channel="wecom", event_key="order:1:paid", recipient_kind="rep", address="lisi",
                      body="王老板付款 ¥1280.00")
    unknown = write(channel="wecom", event_key="order:2:paid", recipient_kind="rep", address="left-the-company")

    assert notification_send(notification_id=delivered.pk) == "sent"
    assert notification_send(notification_id=unknown.pk) == "skipped"

    assert outbox.wecom_messages == [{"touser": "lisi", "content": f"订单已送达\n王老板付款 ¥1280.00\n{PAGE}"}]
    unknown.refresh_from_db()
    assert unknown.last_error == "invaliduser: 企业微信账号不存在或不在应用可见范围内"
