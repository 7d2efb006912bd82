"""A rep's personal code. In the web version the QR carries the shop's link with the scene in it;
a real mini program would use getwxacodeunlimit with the same `scene` (see wechat backends)."""

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
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=2)
    code.add_data(base_url.rstrip("/") + rep_entry_path(rep))
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()
