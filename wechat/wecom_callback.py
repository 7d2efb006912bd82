"""WeCom callbacks (回调模式): signature, AES decryption and the event XML.

The documented scheme (WECHAT.md §5, [W6]):
- `msg_signature` = hex SHA-1 of the sorted concatenation of (Token, timestamp, nonce, Encrypt);
- AESKey = base64decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC, IV = AESKey[:16],
  PKCS#7 padding to a multiple of 32 bytes;
- plaintext = 16 random bytes + 4-byte network-order length + message + receive id, and the
  receive id must be this corp's id (WECOM_CORP_ID).

Everything untrustworthy raises `CallbackRejected` (with a short reason for the log, never the
message); callers answer a 4xx and store nothing. A request whose `timestamp` is further than
`WECOM_CALLBACK_MAX_AGE_SECONDS` from now is refused, so a captured callback cannot be replayed
later; a replay inside the window is caught by the caller's duplicate-event rule.

XML from outside is parsed with the standard library after refusing any DOCTYPE or entity
declaration (WeCom's messages never carry one), which closes the entity-expansion attacks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings

BLOCK_SIZE = 32  # WeCom pads to 32 bytes, not AES's 16
MAX_BODY_BYTES = 64 * 1024  # an event is well under 2 KB
CHANGE_TYPES = ("add_external_contact", "del_external_contact", "del_follow_user", "transfer_fail")


class CallbackRejected(Exception):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class WeComEvent:
    """One decrypted `change_external_contact` event (other events: `event`/`change_type` say which)."""

    event: str
    change_type: str
    user_id: str
    external_userid: str
    state: str
    welcome_code: str
    fail_reason: str
    create_time: int
    msg_id: str

    @property
    def dedupe_key(self) -> str:
        """MsgId when WeCom gives one, else the member, customer, change and second it happened."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"evt:{self.user_id}:{self.external_userid}:{self.change_type}:{self.create_time}"


def _aes_key(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("WECOM_CALLBACK_AES_KEY is not a 43-character EncodingAESKey") from None
    if len(key) != 32:
        raise ValueError("WECOM_CALLBACK_AES_KEY is not a 43-character EncodingAESKey")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode("utf-8")).hexdigest()


def decrypt(encrypted: str, *, encoding_aes_key: str, receive_id: str) -> bytes:
    """The message inside `encrypted` (base64), after checking padding, length and receive id."""
    key = _aes_key(encoding_aes_key)
    try:
        data = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise CallbackRejected("not base64") from None
    if not data or len(data) % 16:
        raise CallbackRejected("bad ciphertext length")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK_SIZE or plain[-pad:] != bytes([pad]) * pad:
        raise CallbackRejected("bad padding")
    plain = plain[:-pad]
    if len(plain) < 20:
        raise CallbackRejected("too short")
    (length,) = struct.unpack(">I", plain[16:20])
    if 20 + length > len(plain):
        raise CallbackRejected("bad length")
    message, got_receive_id = plain[20:20 + length], plain[20 + length:]
    if not receive_id or not hmac.compare_digest(got_receive_id, receive_id.encode("utf-8")):
        raise CallbackRejected("wrong receive id")
    return message


def encrypt(message: bytes, *, encoding_aes_key: str, receive_id: str) -> str:
    """What WeCom sends (the dev backend's simulator uses it); base64 text."""
    key = _aes_key(encoding_aes_key)
    plain = secrets.token_bytes(16) + struct.pack(">I", len(message)) + message + receive_id.encode("utf-8")
    pad = BLOCK_SIZE - len(plain) % BLOCK_SIZE
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def _parse_xml(body: bytes) -> ET.Element:
    if len(body) > MAX_BODY_BYTES:
        raise CallbackRejected("too large")
    upper = body.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise CallbackRejected("doctype")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise CallbackRejected("bad xml") from None
    if root.tag != "xml":
        raise CallbackRejected("bad xml")
    return root


def _text(root: ET.Element, name: str, max_length: int = 128) -> str:
    node = root.find(name)
    value = (node.text or "").strip() if node is not None else ""
    if len(value) > max_length or any(ord(ch) < 32 for ch in value):
        raise CallbackRejected(f"bad {name}")
    return value


def _check_request(params, encrypted: str, *, now: float | None) -> None:
    timestamp, nonce, given = (params.get(k) or "" for k in ("timestamp", "nonce", "msg_signature"))
    if not timestamp.isdigit() or len(timestamp) > 12 or not nonce or len(nonce) > 64 or not given:
        raise CallbackRejected("missing parameters")
    expected = signature(settings.WECOM_CALLBACK_TOKEN, timestamp, nonce, encrypted)
    if not hmac.compare_digest(expected, given.lower()):
        raise CallbackRejected("bad signature")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > settings.WECOM_CALLBACK_MAX_AGE_SECONDS:
        raise CallbackRejected("stale timestamp")


def verify_url(params, *, now: float | None = None) -> str:
    """URL verification (GET): the decrypted `echostr`, to be answered as the plain body."""
    echostr = params.get("echostr") or ""
    if not echostr or len(echostr) > 4096:
        raise CallbackRejected("missing echostr")
    _check_request(params, echostr, now=now)
    message = decrypt(echostr, encoding_aes_key=settings.WECOM_CALLBACK_AES_KEY, receive_id=settings.WECOM_CORP_ID)
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        raise CallbackRejected("echostr not text") from None


def parse_event(params, body: bytes, *, now: float | None = None) -> WeComEvent:
    """A POSTed event: outer XML, ToUserName, signature, window, decryption, inner XML."""
    outer = _parse_xml(body)
    if _text(outer, "ToUserName") != settings.WECOM_CORP_ID:
        raise CallbackRejected("wrong ToUserName")
    encrypted = _text(outer, "Encrypt", max_length=MAX_BODY_BYTES)
    if not encrypted:
        raise CallbackRejected("no Encrypt")
    _check_request(params, encrypted, now=now)
    inner = _parse_xml(decrypt(encrypted, encoding_aes_key=settings.WECOM_CALLBACK_AES_KEY,
                               receive_id=settings.WECOM_CORP_ID))
    if _text(inner, "ToUserName") not in ("", settings.WECOM_CORP_ID):
        raise CallbackRejected("wrong inner ToUserName")
    create_time = _text(inner, "CreateTime", 12)
    if not create_time.isdigit():
        raise CallbackRejected("bad CreateTime")
    return WeComEvent(
        event=_text(inner, "Event", 64),
        change_type=_text(inner, "ChangeType", 64),
        user_id=_text(inner, "UserID", 64),
        external_userid=_text(inner, "ExternalUserID", 64),
        state=_text(inner, "State", 30),
        welcome_code=_text(inner, "WelcomeCode", 256),
        fail_reason=_text(inner, "FailReason", 64),
        create_time=int(create_time),
        msg_id=_text(inner, "MsgId", 64),
    )
