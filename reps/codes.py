"""A rep's two codes: the mini-program code on the printed card, and the WeCom contact-me code.

Mini-program code (README "Rep codes"):
- With `WECHAT_BACKEND=real` it is WeChat's unlimited code (getwxacodeunlimit) with scene
  `r=<KEY>` and the page, check_path, env_version and width from settings (WXACODE_*). It is
  stored (default file storage) as a PNG with a digest of those inputs, and made again only when
  the digest changes; codes never expire, so nothing else makes it stale.
- With the dev backend it stays the web-link QR (`reps.qr`): the shop's entry URL with the same
  scene and launch scene 1047, which a phone camera opens.
- A share card (1007/1008) carries the same scene in its path, and a long-pressed or album image
  of the code (1048/1049) is the same code: `reps.services.entry_record` reads `r=<KEY>` from all.

Contact-me code: `add_contact_way` with `state` = the rep's key (≤30 characters; the add-customer
event brings it back), one member (the rep's WeCom account). Made once per WeCom account and
stored; a new WeCom account gets a new code.

WeChat is called outside any transaction; its refusals become `ApplicationError`s with a Chinese
message, which the pages show instead of the image.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import Q
from PIL import Image, UnidentifiedImageError

from core.errors import ExternalServiceError
from wechat.backends import get_backend

from .models import Rep
from .qr import rep_qr_png

logger = logging.getLogger("reps")


def wxacode_options(rep: Rep) -> dict:
    return {"scene": rep.scene, "page": settings.WXACODE_PAGE, "check_path": settings.WXACODE_CHECK_PATH,
            "env_version": settings.WXACODE_ENV_VERSION, "width": settings.WXACODE_WIDTH}


def wxacode_digest(options: dict) -> str:
    return hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()


def _as_png(image: bytes) -> bytes:
    """WeChat answers a JPEG unless asked for a transparent background; the card serves PNG."""
    if image.startswith(b"\x89PNG"):
        return image
    try:
        picture = Image.open(io.BytesIO(image))
        picture.load()
    except (UnidentifiedImageError, OSError):
        raise ExternalServiceError(details={"api": "getwxacodeunlimit", "reason": "bad_image"}) from None
    buffer = io.BytesIO()
    picture.convert("L").save(buffer, format="PNG")
    return buffer.getvalue()


def rep_code_png(rep: Rep, *, base_url: str) -> bytes:
    """The image on the rep's card: WeChat's mini-program code (real) or the web-link QR (dev)."""
    if settings.WECHAT_BACKEND != "real":
        return rep_qr_png(rep, base_url=base_url)
    options = wxacode_options(rep)
    digest = wxacode_digest(options)
    if rep.wxacode and rep.wxacode_inputs == digest:
        try:
            with default_storage.open(rep.wxacode.name, "rb") as stored:
                return stored.read()
        except FileNotFoundError:
            logger.warning("Rep %s's stored mini-program code %s is missing; making it again", rep.pk, rep.wxacode.name)
    png = _as_png(get_backend().mini_program_code(**options))  # ApplicationError: the caller shows it
    name = default_storage.save(f"reps/wxacode/{rep.key}-{digest[:12]}.png", ContentFile(png))
    old = rep.wxacode.name if rep.wxacode else ""
    Rep.objects.filter(pk=rep.pk).update(wxacode=name, wxacode_inputs=digest)
    rep.wxacode.name, rep.wxacode_inputs = name, digest
    if old and old != name:
        default_storage.delete(old)
    return png


def rep_contact_way_ensure(rep: Rep) -> str:
    """The rep's contact-me code image URL, made on first need; "" when the rep has no WeCom account
    or WeCom is not set up (WECOM_CORP_ID / WECOM_SECRET)."""
    if not rep.wecom_user_id or not get_backend().wecom_available():
        return ""
    if rep.wecom_config_id and rep.wecom_contact_user_id == rep.wecom_user_id:
        return rep.wecom_qr_code
    way = get_backend().wecom_contact_way(state=rep.key, user_ids=[rep.wecom_user_id], remark=rep.name[:30])
    # Two first views at once may both ask WeCom (a spare code, harmless); the first stored wins.
    already = Q(wecom_contact_user_id=rep.wecom_user_id) & ~Q(wecom_config_id="")
    updated = Rep.objects.filter(pk=rep.pk).exclude(already).update(
        wecom_config_id=way["config_id"], wecom_qr_code=way["qr_code"], wecom_contact_user_id=rep.wecom_user_id)
    if not updated:
        rep.refresh_from_db(fields=["wecom_config_id", "wecom_qr_code", "wecom_contact_user_id"])
        return rep.wecom_qr_code
    rep.wecom_config_id, rep.wecom_qr_code, rep.wecom_contact_user_id = (
        way["config_id"], way["qr_code"], rep.wecom_user_id)
    return rep.wecom_qr_code
