"""Codes that bring people in: the mini-program code (getwxacodeunlimit) and WeCom's
"contact me" code (add_contact_way).

Both backends validate their input here, with the same rules and the same Chinese messages,
before anything else happens (no token fetched, no call made), so a bad scene fails the same
way in dev as it would against WeChat.
"""

import re

from core.errors import ValidationFailed

# getwxacodeunlimit's `scene`: ≤32 visible characters from this set; `%` is not in it, so
# Chinese cannot be smuggled in URL-encoded. The same rule as reps.services.SCENE_ALLOWED,
# duplicated on purpose: `wechat/` speaks WeChat and imports no domain app.
SCENE_ALLOWED = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}\Z")
# A page path as the mini program's app.json lists it ("pages/index/index"). WeChat sets no
# length; 128 is ours, far beyond any real path.
PAGE_PATH = re.compile(r"^[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+)*\Z")
PAGE_MAX_LENGTH = 128
WIDTH_MIN, WIDTH_MAX = 280, 1280
ENV_VERSIONS = ("release", "trial", "develop")
DEFAULT_PAGE = "pages/index/index"

# add_contact_way: `state` and `remark` ≤30 characters; `user` at most 100 members for a
# multi-person code (exactly one for a single-person one). A UserID is 1–64 bytes of letters,
# digits and _-@. starting with a letter or digit.
WECOM_STATE_MAX_LENGTH = 30
WECOM_REMARK_MAX_LENGTH = 30
WECOM_MAX_USERS = 100
WECOM_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-@.]{0,63}\Z")


def validate_scene(scene: object) -> str:
    if not isinstance(scene, str) or not SCENE_ALLOWED.match(scene):
        raise ValidationFailed("scene 参数须为 1-32 个字母、数字或 !#$&'()*+,/:;=?@-._~", code="invalid_scene")
    return scene


def validate_page(page: object) -> str:
    if not isinstance(page, str) or not page:
        raise ValidationFailed("page 不能为空，如 pages/index/index", code="invalid_page")
    if page.startswith("/"):
        raise ValidationFailed("page 不能以 / 开头，如 pages/index/index", code="invalid_page")
    if "?" in page:
        raise ValidationFailed("page 不能带 ? 参数，参数请放在 scene 里", code="invalid_page")
    if len(page) > PAGE_MAX_LENGTH or not PAGE_PATH.match(page):
        raise ValidationFailed("page 须为小程序页面路径，如 pages/index/index", code="invalid_page")
    return page


def validate_code_options(*, width: object, env_version: object, check_path: object) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or not WIDTH_MIN <= width <= WIDTH_MAX:
        raise ValidationFailed(f"width 须为 {WIDTH_MIN}-{WIDTH_MAX} 之间的整数（像素）", code="invalid_width")
    if env_version not in ENV_VERSIONS:
        raise ValidationFailed("env_version 须为 release（正式版）、trial（体验版）或 develop（开发版）",
                               code="invalid_env_version")
    if not isinstance(check_path, bool):
        raise ValidationFailed("check_path 须为 true 或 false", code="invalid_check_path")


def validate_contact_way(*, state: object, user_ids: object, remark: object, skip_verify: object) -> list[str]:
    """Check add_contact_way's input; returns the user ids, duplicates dropped, order kept."""
    # An empty state is allowed by WeCom but useless here: `State` in the add-customer event is
    # the only thing tying the new customer to a rep and a channel.
    if not isinstance(state, str) or not state or len(state) > WECOM_STATE_MAX_LENGTH or not state.isprintable():
        raise ValidationFailed(f"state 须为 1-{WECOM_STATE_MAX_LENGTH} 个字符", code="invalid_state")
    if not isinstance(remark, str) or len(remark) > WECOM_REMARK_MAX_LENGTH or not remark.isprintable():
        raise ValidationFailed(f"备注不能超过 {WECOM_REMARK_MAX_LENGTH} 个字符", code="invalid_remark")
    if not isinstance(skip_verify, bool):
        raise ValidationFailed("skip_verify 须为 true 或 false", code="invalid_skip_verify")
    if isinstance(user_ids, str) or not isinstance(user_ids, (list, tuple)) or not user_ids:
        raise ValidationFailed("请至少指定一位企业微信成员", code="invalid_user_ids")
    if not all(isinstance(user_id, str) and WECOM_USER_ID.match(user_id) for user_id in user_ids):
        raise ValidationFailed("企业微信成员账号须为 1-64 个字母、数字或 _-@.，且以字母或数字开头",
                               code="invalid_user_ids")
    unique = list(dict.fromkeys(user_ids))
    if len(unique) > WECOM_MAX_USERS:
        raise ValidationFailed(f"一个联系我二维码最多 {WECOM_MAX_USERS} 位成员", code="invalid_user_ids")
    return unique


class CodesMixin:
    def mini_program_code(self, *, scene: str, page: str = DEFAULT_PAGE, width: int = 430,
                          env_version: str = "release", check_path: bool = True) -> bytes:
        """An unlimited mini-program code (image bytes) opening `page` with `scene`.

        Codes never expire and are not counted against a quota, so callers may cache the image
        for as long as the scene means the same thing.
        """
        raise NotImplementedError

    def wecom_contact_way(self, *, state: str, user_ids: list[str], remark: str = "",
                          skip_verify: bool = True) -> dict:
        """A WeCom "contact me" QR code for `user_ids`: {"config_id", "qr_code" (image URL)}.

        Store `config_id` (codes made through the API do not appear in the WeCom console).
        `state` comes back in the add-customer event and ties the new customer to a channel.
        """
        raise NotImplementedError
