"""The dev backend's codes.

A dev mini-program code is an ordinary QR code of the web shop's entry URL for the scene, with
`launch_scene=1047`: scanning it with a phone camera opens the mini-site as if WeChat had
launched the mini program from a scanned code (the same URL `reps.qr` builds for a rep).
`page`, `env_version` and `check_path` are validated but change nothing here: the web shop has
one entry page and no published/unpublished versions, so dev cannot answer 41030.

A dev "contact me" code is remembered (a `DevMessage`) under a deterministic config_id and links
to the dev WeCom's "add this member" page (`wechat.views.dev_wecom_add`): whoever opens it on a
phone plays a WeChat user adding the member, and the dev WeCom then sends the signed, encrypted
`change_external_contact/add_external_contact` callback with the code's `State` and a
`WelcomeCode`, exactly as WeCom would, to this site's /wecom/callback.
"""

import hashlib
import io
import json
from urllib.parse import quote, urlencode

import qrcode
from django.conf import settings
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from ..models import DevMessage
from .codes_base import (
    DEFAULT_PAGE, validate_code_options, validate_contact_way, validate_page, validate_scene,
)

# What WeChat reports as options.scene when a mini-program code is scanned with the camera.
SCAN_LAUNCH_SCENE = 1047
_QUIET_ZONE_MODULES = 2  # as reps.qr; phone cameras read it fine


def dev_entry_url(scene: str) -> str:
    """The web shop's entry URL for `scene`, as if WeChat launched the mini program from a code."""
    query = urlencode({"scene": scene, "launch_scene": SCAN_LAUNCH_SCENE}, quote_via=quote)
    return settings.SITE_URL.rstrip("/") + "/shop/?" + query


def dev_code_png(content: str, *, width: int) -> bytes:
    """A QR code of `content` as a `width`×`width` PNG, modules a whole number of pixels wide."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=1, border=_QUIET_ZONE_MODULES)
    code.add_data(content)
    code.make(fit=True)
    modules = code.modules_count + 2 * _QUIET_ZONE_MODULES
    code.box_size = max(1, width // modules)
    image = code.make_image(fill_color="black", back_color="white").get_image().convert("L")
    # Centre it on a white square of exactly `width`, as WeChat's code is sized by `width`.
    canvas = Image.new("L", (width, width), 255)
    canvas.paste(image, ((width - image.width) // 2, (width - image.height) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def dev_contact_config_id(*, state: str, user_ids: list[str], remark: str, skip_verify: bool) -> str:
    # Same input, same id, so repeated dev runs and tests are stable; "dev" marks it as not
    # WeCom's if one ever leaks into real data. 32 characters, as WeCom's are.
    digest = hashlib.sha256(
        json.dumps([state, user_ids, remark, skip_verify], ensure_ascii=False).encode()
    ).hexdigest()
    return "dev" + digest[:29]


class DevCodesMixin:
    def mini_program_code(self, *, scene: str, page: str = DEFAULT_PAGE, width: int = 430,
                          env_version: str = "release", check_path: bool = True) -> bytes:
        validate_scene(scene)
        validate_page(page)
        validate_code_options(width=width, env_version=env_version, check_path=check_path)
        return dev_code_png(dev_entry_url(scene), width=width)

    def wecom_contact_way(self, *, state: str, user_ids: list[str], remark: str = "",
                          skip_verify: bool = True) -> dict:
        users = validate_contact_way(state=state, user_ids=user_ids, remark=remark, skip_verify=skip_verify)
        config_id = dev_contact_config_id(state=state, user_ids=users, remark=remark, skip_verify=skip_verify)
        DevMessage.objects.update_or_create(kind=DevMessage.Kind.WECOM_CONTACT_WAY, to=config_id,
                                            defaults={"data": {"state": state, "user": users}, "text": remark})
        return {"config_id": config_id, "qr_code": dev_contact_way_url(config_id)}


def dev_contact_way_url(config_id: str) -> str:
    # Spelled out rather than reversed: the dev URLs exist only while the dev backend is on.
    return settings.SITE_URL.rstrip("/") + f"/wechat-dev/wecom/add/{config_id}"
