"""A rep's web-link code: the QR carries the shop's link with the scene in it. The dev backend's
card shows it; with WECHAT_BACKEND=real the card is WeChat's mini-program code (reps.codes)."""

import io
from urllib.parse import quote, urlencode

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from .models import Rep

SCAN_SCENE = 1047  # scanning a mini-program code with the camera
SHARE_SCENE = 1007  # a share card opened in a one-to-one chat


def rep_entry_path(rep: Rep, *, launch_scene: int = SCAN_SCENE) -> str:
    return "/shop/?" + urlencode({"scene": rep.scene, "launch_scene": launch_scene}, quote_via=quote)


def rep_qr_png(rep: Rep, *, base_url: str, box_size: int = 10) -> bytes:
    return rep_link_png(base_url.rstrip("/") + rep_entry_path(rep), box_size=box_size)


def rep_link_png(link: str, *, box_size: int = 10) -> bytes:
    """A QR code of `link` (the dev contact-me code's add page, the web-link card)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=2)
    code.add_data(link)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()
