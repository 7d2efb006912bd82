"""Where WeChat Pay keys come from.

`real`: the merchant's API private key and WeChat Pay's platform public key (public-key mode,
`PUB_KEY_ID_…`) from PEM files named in settings. `dev`: a merchant key and a platform key
generated once into WECHATPAY_DEV_KEY_DIR and shared by every process (web, worker), so the
dev backend signs notifications exactly as WeChat Pay does and the server verifies them the same way.
"""

import os
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .crypto import generate_private_key, load_private_key, load_public_key, private_key_pem

DEV_PLATFORM_KEY_ID = "PUB_KEY_ID_0000000000000000000000DEV"


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except (OSError, TypeError) as error:
        raise ImproperlyConfigured(f"cannot read {what} at {path!r}: {error}")


def _dev_key(name: str):
    directory = Path(settings.WECHATPAY_DEV_KEY_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pem"
    if not path.exists():
        pem = private_key_pem(generate_private_key())
        try:
            # O_EXCL: when two processes start together, one key wins and both use it.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    for _ in range(50):
        data = path.read_bytes()
        if data.strip().endswith(b"-----END PRIVATE KEY-----"):
            return load_private_key(data)
        import time

        time.sleep(0.02)  # the other process is still writing
    raise ImproperlyConfigured(f"dev key {path} is unreadable")


@lru_cache(maxsize=8)
def _cached_dev_key(name: str, directory: str):
    return _dev_key(name)


def dev_platform_private_key():
    return _cached_dev_key("platform", str(settings.WECHATPAY_DEV_KEY_DIR))


@lru_cache(maxsize=4)
def _load_merchant_key(path: str):
    return load_private_key(_read(path, "WECHATPAY_MERCHANT_KEY_PATH"))


@lru_cache(maxsize=4)
def _load_platform_public_key(path: str):
    return load_public_key(_read(path, "WECHATPAY_PUBLIC_KEY_PATH"))


def merchant_private_key():
    if settings.WECHAT_BACKEND == "dev":
        return _cached_dev_key("merchant", str(settings.WECHATPAY_DEV_KEY_DIR))
    return _load_merchant_key(settings.WECHATPAY_MERCHANT_KEY_PATH)


def platform_public_keys() -> dict:
    """Serial/key-id → public key, for verifying what WeChat Pay signs."""
    if settings.WECHAT_BACKEND == "dev":
        return {DEV_PLATFORM_KEY_ID: dev_platform_private_key().public_key()}
    return {settings.WECHATPAY_PUBLIC_KEY_ID: _load_platform_public_key(settings.WECHATPAY_PUBLIC_KEY_PATH)}
