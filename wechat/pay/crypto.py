"""WeChat Pay API v3 cryptography, shared by both backends so the verify path is one path.

- Signatures: RSA-SHA256 with PKCS#1 v1.5, base64.
- Notification resources: AEAD_AES_256_GCM with the 32-byte APIv3 key.
- requestPayment's paySign: the merchant key over "appId\\ntimeStamp\\nnonceStr\\npackage\\n".
"""

import base64
import json
import secrets
import string
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_ALPHABET = string.ascii_letters + string.digits
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
# WeChat Pay signs with the current time; refuse anything older or newer than this (replays).
MAX_CLOCK_SKEW_SECONDS = 5 * 60


class NotificationRejected(Exception):
    """A notification that must not be trusted. `reason` is for logs, never for the caller."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def new_nonce(length: int = 32) -> str:
    # One read of the system's randomness, not one per character: this runs on every checkout.
    alphabet = NONCE_ALPHABET
    return "".join(alphabet[byte % len(alphabet)] for byte in _unbiased_bytes(length, len(alphabet)))


def _unbiased_bytes(count: int, modulus: int) -> list[int]:
    limit = 256 - 256 % modulus  # bytes at or above it would favour the first letters
    out: list[int] = []
    while len(out) < count:
        out.extend(b for b in secrets.token_bytes(count * 2) if b < limit)
    return out[:count]


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_key_pem(key) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(pem: bytes):
    return serialization.load_pem_private_key(pem, password=None)


def load_public_key(pem: bytes):
    return serialization.load_pem_public_key(pem)


def rsa_sign(private_key, message: str) -> str:
    signature = private_key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa_verify(public_key, message: str, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def aes_gcm_encrypt(apiv3_key: str, nonce: str, associated_data: str, plaintext: str) -> str:
    data = AESGCM(apiv3_key.encode("utf-8")).encrypt(
        nonce.encode("utf-8"), plaintext.encode("utf-8"), associated_data.encode("utf-8")
    )
    return base64.b64encode(data).decode("ascii")


def aes_gcm_decrypt(apiv3_key: str, nonce: str, associated_data: str, ciphertext_b64: str) -> str:
    data = base64.b64decode(ciphertext_b64, validate=True)
    return AESGCM(apiv3_key.encode("utf-8")).decrypt(
        nonce.encode("utf-8"), data, (associated_data or "").encode("utf-8")
    ).decode("utf-8")


def request_payment_params(*, appid: str, prepay_id: str, merchant_key) -> dict:
    """What `wx.requestPayment` needs. Signed here: the client never sees a key."""
    timestamp = str(int(time.time()))
    nonce = new_nonce()
    package = f"prepay_id={prepay_id}"
    pay_sign = rsa_sign(merchant_key, f"{appid}\n{timestamp}\n{nonce}\n{package}\n")
    return {"appId": appid, "timeStamp": timestamp, "nonceStr": nonce, "package": package,
            "signType": "RSA", "paySign": pay_sign}


@dataclass(frozen=True)
class Notification:
    id: str
    event_type: str
    resource_type: str
    resource: dict  # the decrypted resource (a transaction or a refund)


def _header(headers, name: str) -> str:
    # Django's request.headers is case-insensitive; a plain dict from tests may not be.
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name.lower():
                return candidate
    return value or ""


def build_notification(
    *, event_type: str, resource: dict, platform_key, serial: str, apiv3_key: str, summary: str = "",
    timestamp: int | None = None, original_type: str = "transaction",
) -> tuple[dict, bytes]:
    """Headers and body exactly as WeChat Pay sends a v3 notification (used by the dev backend)."""
    nonce = new_nonce(12)
    associated_data = original_type
    envelope = {
        "id": secrets.token_hex(18),
        "create_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(time.time() + 8 * 3600)),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": aes_gcm_encrypt(apiv3_key, nonce, associated_data,
                                          json.dumps(resource, ensure_ascii=False, separators=(",", ":"))),
            "associated_data": associated_data,
            "nonce": nonce,
        },
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    ts = str(int(time.time()) if timestamp is None else timestamp)
    header_nonce = new_nonce()
    signature = rsa_sign(platform_key, f"{ts}\n{header_nonce}\n{body.decode('utf-8')}\n")
    headers = {
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": signature,
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": header_nonce,
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
        "Content-Type": "application/json",
    }
    return headers, body


def verify_notification(
    *, headers, body: bytes, public_keys: dict, apiv3_key: str, now: float | None = None,
) -> Notification:
    """Check the signature and the timestamp window, then decrypt. Raises NotificationRejected."""
    serial = _header(headers, "Wechatpay-Serial")
    signature = _header(headers, "Wechatpay-Signature")
    timestamp = _header(headers, "Wechatpay-Timestamp")
    nonce = _header(headers, "Wechatpay-Nonce")
    signature_type = _header(headers, "Wechatpay-Signature-Type") or SIGNATURE_TYPE
    if not (serial and signature and timestamp and nonce):
        raise NotificationRejected("missing Wechatpay-* headers")
    if signature_type != SIGNATURE_TYPE:
        raise NotificationRejected(f"unsupported signature type {signature_type!r}")
    public_key = public_keys.get(serial)
    if public_key is None:
        raise NotificationRejected(f"unknown platform key serial {serial!r}")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise NotificationRejected("malformed timestamp")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        raise NotificationRejected("timestamp outside the accepted window")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NotificationRejected("body is not UTF-8")
    if not rsa_verify(public_key, f"{timestamp}\n{nonce}\n{text}\n", signature):
        raise NotificationRejected("bad signature")
    try:
        envelope = json.loads(text)
        resource = envelope["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotificationRejected("unsupported algorithm")
        plaintext = aes_gcm_decrypt(apiv3_key, resource["nonce"], resource.get("associated_data", ""),
                                    resource["ciphertext"])
        decrypted = json.loads(plaintext)
        return Notification(id=str(envelope["id"]), event_type=str(envelope["event_type"]),
                            resource_type=str(envelope.get("resource_type", "")), resource=decrypted)
    except NotificationRejected:
        raise
    except InvalidTag:
        raise NotificationRejected("ciphertext failed authentication")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise NotificationRejected("malformed notification body")
