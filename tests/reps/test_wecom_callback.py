"""/wecom/callback: WeCom's signed, encrypted callbacks, checked against a fresh implementation of
the documented scheme written here (not wechat.wecom_callback), and what each event records."""

import base64
import hashlib
import os
import struct
import time

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from reps.models import Rep, WeComContact, WeComContactEvent
from tests.wechat.fake_server import (  # noqa: F401  (fixtures)
    fake_wechat, fake_wechat_server, wechat_real, wecom_real,
)
from wechat import wecom_callback

pytestmark = pytest.mark.django_db

CORP = "wwcorp0123456789ab"
TOKEN = "QDG6eK"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ"
URL = "/wecom/callback"


@pytest.fixture(autouse=True)
def wecom_settings(settings):
    settings.WECOM_CORP_ID = CORP
    settings.WECOM_CALLBACK_TOKEN = TOKEN
    settings.WECOM_CALLBACK_AES_KEY = AES_KEY
    settings.WECOM_CALLBACK_MAX_AGE_SECONDS = 300


# -- an independent implementation of WeCom's 加解密方案 ----------------------------------------------


def _sign(token, timestamp, nonce, encrypted):
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def _encrypt(message: bytes, receive_id: str = CORP, key_text: str = AES_KEY, pad_override=None) -> str:
    key = base64.b64decode(key_text + "=")
    plain = os.urandom(16) + struct.pack("!I", len(message)) + message + receive_id.encode()
    n = 32 - len(plain) % 32
    plain += bytes([n]) * n if pad_override is None else pad_override(n)
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def _event_xml(change_type, *, user="rep.zhang", external="wmEXT001", state="", welcome="", create_time=1700000000,
               fail_reason=""):
    return (f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change_type}]]></ChangeType>"
            f"<UserID><![CDATA[{user}]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>"
            f"<State><![CDATA[{state}]]></State><WelcomeCode><![CDATA[{welcome}]]></WelcomeCode>"
            f"<FailReason><![CDATA[{fail_reason}]]></FailReason></xml>").encode()


def _post(client, inner: bytes, *, to=CORP, timestamp=None, token=TOKEN, encrypted=None, tamper=False, **enc):
    encrypted = encrypted if encrypted is not None else _encrypt(inner, **enc)
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = "1372623149"
    signature = _sign(token, timestamp, nonce, encrypted)
    if tamper:
        signature = ("0" if signature[0] != "0" else "1") + signature[1:]
    body = f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>" \
           f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return client.post(f"{URL}?msg_signature={signature}&timestamp={timestamp}&nonce={nonce}", body,
                       content_type="text/xml")


@pytest.fixture
def rep():
    return Rep.objects.create(name="张三", key="ZHANG7", wecom_user_id="rep.zhang")


def _stored():
    return (list(WeComContact.objects.values_list("external_userid", "status", "removed_at", "transfer_fail_reason")),
            WeComContactEvent.objects.count())


# -- the documented known-answer vector -------------------------------------------------------------


def test_known_answer_vector_from_the_documentation():
    assert wecom_callback.signature(
        "QDG6eK", "1409659589", "263014780",
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
    ) == "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
    assert wecom_callback.decrypt("9s4gMv99m88kKTh/H8IdkNiFGeG9pd7vNWl50fGRWXY=", encoding_aes_key=AES_KEY,
                                  receive_id="rust") == b"test"
    with pytest.raises(wecom_callback.CallbackRejected):
        wecom_callback.decrypt("9s4gMv99m88kKTh/H8IdkNiFGeG9pd7vNWl50fGRWXY=", encoding_aes_key=AES_KEY,
                               receive_id=CORP)


# -- URL verification ---------------------------------------------------------------------------------


def _verify_url(echo_plain: str, *, timestamp=None, receive_id=CORP, tamper=False):
    encrypted = _encrypt(echo_plain.encode(), receive_id=receive_id)
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = _sign(TOKEN, timestamp, "5566", encrypted)
    if tamper:
        signature = signature[::-1]
    return {"msg_signature": signature, "timestamp": timestamp, "nonce": "5566", "echostr": encrypted}


def test_url_verification_answers_the_plain_echostr(client):
    response = client.get(URL, _verify_url("1616140317555161061"))
    assert response.status_code == 200
    assert response.content == b"1616140317555161061"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("kwargs", [{"tamper": True}, {"timestamp": int(time.time()) - 3600},
                                    {"receive_id": "wwother"}])
def test_url_verification_refuses_forgeries(client, kwargs):
    response = client.get(URL, _verify_url("123", **kwargs))
    assert response.status_code == 400
    assert response.content == b"error"


# -- events ---------------------------------------------------------------------------------------------


def test_add_external_contact_records_the_contact_with_its_rep(client, rep):
    response = _post(client, _event_xml("add_external_contact", state="ZHANG7", welcome="WELCOME1"))
    assert response.status_code == 200
    contact = WeComContact.objects.get()
    assert (contact.rep, contact.external_userid, contact.state, contact.status) == (
        rep, "wmEXT001", "ZHANG7", WeComContact.Status.ACTIVE)
    assert contact.added_at.timestamp() == 1700000000 and contact.removed_at is None
    event = WeComContactEvent.objects.get()
    assert (event.change_type, event.contact, event.rep, event.has_welcome_code) == (
        "add_external_contact", contact, rep, True)


def test_state_names_the_rep_when_the_member_is_unknown(client, rep):
    assert _post(client, _event_xml("add_external_contact", user="someone.else", state="zhang7")).status_code == 200
    assert WeComContact.objects.get().rep == rep


def test_an_unknown_rep_is_logged_without_a_contact(client, rep):
    assert _post(client, _event_xml("add_external_contact", user="nobody", state="")).status_code == 200
    assert WeComContact.objects.count() == 0
    assert WeComContactEvent.objects.get().rep is None


@pytest.mark.parametrize("change_type, status", [
    ("del_external_contact", WeComContact.Status.REMOVED_BY_REP),
    ("del_follow_user", WeComContact.Status.REMOVED_BY_CUSTOMER),
])
def test_removals_close_the_contact_and_a_later_add_reopens_it(client, rep, change_type, status):
    _post(client, _event_xml("add_external_contact", create_time=1700000000))
    assert _post(client, _event_xml(change_type, create_time=1700000100)).status_code == 200
    contact = WeComContact.objects.get()
    assert contact.status == status and contact.removed_at.timestamp() == 1700000100
    # A late retry of an older add (before the removal) does not reopen it.
    _post(client, _event_xml("add_external_contact", create_time=1700000050))
    contact.refresh_from_db()
    assert contact.status == status
    _post(client, _event_xml("add_external_contact", state="ZHANG7", create_time=1700000200))
    contact.refresh_from_db()
    assert (contact.status, contact.removed_at, contact.added_at.timestamp()) == (
        WeComContact.Status.ACTIVE, None, 1700000200)
    assert WeComContact.objects.count() == 1


def test_transfer_fail_notes_the_reason(client, rep):
    _post(client, _event_xml("add_external_contact"))
    _post(client, _event_xml("transfer_fail", create_time=1700000300, fail_reason="customer_refused"))
    contact = WeComContact.objects.get()
    assert (contact.status, contact.transfer_fail_reason) == (WeComContact.Status.ACTIVE, "customer_refused")


def test_a_duplicate_event_changes_nothing(client, rep):
    inner = _event_xml("add_external_contact", create_time=1700000000)
    _post(client, inner)
    _post(client, _event_xml("del_follow_user", create_time=1700000100))
    before = _stored()
    # WeCom's retry of the same add (a fresh encryption, a fresh request) is accepted and ignored.
    assert _post(client, inner).status_code == 200
    assert _stored() == before


def test_other_events_are_accepted_and_ignored(client, rep):
    assert _post(client, _event_xml("edit_external_contact")).status_code == 200
    assert _stored() == ([], 0)


# -- refusals: 400, plain "error", nothing stored ----------------------------------------------------------


def _bad_padding(n):
    return bytes([n]) * (n - 1) + bytes([n + 1 if n < 32 else 1])


@pytest.mark.parametrize("kwargs", [
    pytest.param({"tamper": True}, id="tampered signature"),
    pytest.param({"token": "another-token"}, id="signed with another token"),
    # Offsets from the moment the test runs, not from collection: a long suite would otherwise
    # turn "600 s ahead" into "now" by the time this case runs.
    pytest.param({"timestamp_offset": -301}, id="stale timestamp"),
    pytest.param({"timestamp_offset": 600}, id="future timestamp"),
    pytest.param({"receive_id": "wwanothercorp"}, id="wrong receive id"),
    pytest.param({"to": "wwanothercorp"}, id="wrong ToUserName"),
    pytest.param({"pad_override": _bad_padding}, id="bad padding"),
    pytest.param({"key_text": "a" * 43}, id="another AES key"),
    pytest.param({"encrypted": "not*base64"}, id="not base64"),
])
def test_forged_callbacks_are_refused_and_store_nothing(client, rep, kwargs):
    kwargs = dict(kwargs)
    if "timestamp_offset" in kwargs:
        kwargs["timestamp"] = int(time.time()) + kwargs.pop("timestamp_offset")
    response = _post(client, _event_xml("add_external_contact"), **kwargs)
    assert response.status_code == 400
    assert response.content == b"error"
    assert _stored() == ([], 0)


@pytest.mark.parametrize("body", [
    b"not xml at all",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><ToUserName>&a;</ToUserName></xml>',
    b"<other><ToUserName>x</ToUserName></other>",
    b"",
])
def test_bad_xml_is_refused(client, rep, body):
    response = client.post(f"{URL}?msg_signature=ab&timestamp={int(time.time())}&nonce=1", body,
                           content_type="text/xml")
    assert response.status_code == 400
    assert _stored() == ([], 0)


def test_inner_xml_with_an_entity_is_refused(client, rep):
    inner = b'<!DOCTYPE x [<!ENTITY a "b">]>' + _event_xml("add_external_contact")
    assert _post(client, inner).status_code == 400
    assert _stored() == ([], 0)


def test_other_methods_are_refused(client):
    assert client.put(URL).status_code == 405


# -- welcome through WeCom ------------------------------------------------------------------------------


def test_dev_welcome_is_sent_once_with_the_rep_name(client, rep, settings):
    from wechat.models import DevMessage

    settings.WECHAT_BACKEND = "dev"
    inner = _event_xml("add_external_contact", state="ZHANG7", welcome="WELCOMECODE1")
    assert _post(client, inner).status_code == 200
    message = DevMessage.objects.get(kind=DevMessage.Kind.WECOM_WELCOME)
    assert (message.to, message.data) == ("wmEXT001", {"welcome_code": "WELCOMECODE1"})
    assert "张三" in message.text
    assert WeComContactEvent.objects.get().welcome_result == "sent"
    # WeCom's retry of the same event: no second welcome.
    assert _post(client, inner).status_code == 200
    assert DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_WELCOME).count() == 1


def test_no_welcome_code_no_welcome(client, rep, settings):
    from wechat.models import DevMessage

    settings.WECHAT_BACKEND = "dev"
    _post(client, _event_xml("add_external_contact"))
    assert not DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_WELCOME).exists()
    assert WeComContactEvent.objects.get().welcome_result == ""


def test_real_welcome_through_the_fake_wecom_and_41051_is_success(client, rep, settings, wecom_real):
    wecom_real.corp_id = CORP
    settings.WECOM_CORP_ID = CORP
    wecom_real.welcome_codes.add("WCODE-REAL-1")
    assert _post(client, _event_xml("add_external_contact", welcome="WCODE-REAL-1")).status_code == 200
    assert len(wecom_real.welcome_messages) == 1
    sent = wecom_real.welcome_messages[0]
    assert sent["welcome_code"] == "WCODE-REAL-1" and "张三" in sent["text"]["content"]
    assert WeComContactEvent.objects.get().welcome_result == "sent"
    # Removed and added again with the (now used) code: WeCom answers 41051, a success, not a failure.
    _post(client, _event_xml("del_follow_user", create_time=1700000100))
    assert _post(client, _event_xml("add_external_contact", welcome="WCODE-REAL-1",
                                    create_time=1700000200)).status_code == 200
    assert len(wecom_real.welcome_messages) == 1
    assert WeComContactEvent.objects.filter(change_type="add_external_contact").order_by("id").last(
    ).welcome_result == "already"


def test_a_failed_welcome_still_accepts_the_callback(client, rep, settings, wecom_real):
    wecom_real.corp_id = CORP
    settings.WECOM_CORP_ID = CORP
    # A code WeCom never issued: refused (40058); the contact is recorded all the same.
    assert _post(client, _event_xml("add_external_contact", welcome="UNKNOWN")).status_code == 200
    assert WeComContact.objects.count() == 1
    assert WeComContactEvent.objects.get().welcome_result == "failed"
