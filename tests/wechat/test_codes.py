"""Mini-program codes (getwxacodeunlimit) and WeCom "contact me" codes (add_contact_way).

Dev backend directly; real backend over real HTTP against the fake WeChat / WeCom on loopback.
"""

import io
import logging

import pytest
import qrcode
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from core.errors import ExternalServiceError, ValidationFailed
from reps.models import Rep
from reps.qr import rep_entry_path
from wechat import wecom
from wechat.access_token import get_access_token
from wechat.backends import get_backend
from wechat.backends.dev import DevBackend
from wechat.backends.dev_codes import dev_contact_config_id, dev_entry_url
from wechat.errors import WeChatRateLimited

from .fake_server import (
    ERR_EXPIRED_TOKEN, ERR_INVALID_TOKEN, ERR_WECOM_EXPIRED_TOKEN, ERR_WECOM_INVALID_TOKEN, FAKE_CORP_ID,
    FAKE_CORP_SECRET, wecom_real,  # noqa: F401  (fixture)
)

WXACODE = "/wxa/getwxacodeunlimit"
STABLE_TOKEN = "/cgi-bin/stable_token"
GETTOKEN = "/cgi-bin/gettoken"
CONTACT_WAY = "/cgi-bin/externalcontact/add_contact_way"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


def _client_log(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))


@pytest.fixture
def wechat_dev(settings):
    from wechat.backends import _backend_for

    settings.WECHAT_BACKEND = "dev"
    settings.SITE_URL = "http://127.0.0.1:8000"
    _backend_for.cache_clear()
    yield
    _backend_for.cache_clear()


# -- dev: mini-program code --------------------------------------------------------------------------


def test_dev_entry_url_is_the_shop_entry_as_launched_by_a_scanned_code(settings):
    settings.SITE_URL = "https://shop.example.com/"

    assert dev_entry_url("r=7F3K") == "https://shop.example.com/shop/?scene=r%3D7F3K&launch_scene=1047"
    assert dev_entry_url("r=7F3K&c=a/b") == "https://shop.example.com/shop/?scene=r%3D7F3K%26c%3Da%2Fb&launch_scene=1047"


def test_dev_entry_url_is_the_url_the_web_rep_qr_carries(settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    rep = Rep(key="7F3K2M")  # unsaved: only its scene is used

    assert dev_entry_url(rep.scene) == "http://127.0.0.1:8000" + rep_entry_path(rep)


def _qr_matrix(content: str) -> list[list[bool]]:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=1, border=2)
    code.add_data(content)
    code.make(fit=True)
    return code.get_matrix()


@pytest.mark.parametrize("width", [280, 430, 1280])
def test_dev_code_is_a_png_of_the_requested_width_carrying_the_entry_url(wechat_dev, width):
    png = get_backend().mini_program_code(scene="r=7F3K", width=width)

    assert png.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (width, width))
    # No QR decoder is installed: read the modules back at their centres and compare them with
    # the symbol for the entry URL.
    matrix = _qr_matrix(dev_entry_url("r=7F3K"))
    box = width // len(matrix)
    offset = (width - box * len(matrix)) // 2
    gray = image.convert("L")
    read = [[gray.getpixel((offset + c * box + box // 2, offset + r * box + box // 2)) < 128
             for c in range(len(matrix))] for r in range(len(matrix))]
    assert read == matrix
    assert read != _qr_matrix(dev_entry_url("r=7F3L"))


def test_dev_code_ignores_page_and_version_but_validates_them(wechat_dev):
    backend = get_backend()

    a = backend.mini_program_code(scene="r=7F3K", page="pages/goods/detail", env_version="trial", check_path=False)
    b = backend.mini_program_code(scene="r=7F3K")

    assert a == b


# -- validation (both backends, before any call) ------------------------------------------------------

BAD_CODE_ARGS = [
    ({"scene": "r=" + "A" * 31}, "invalid_scene"),  # 33 characters
    ({"scene": "r=7F%3K"}, "invalid_scene"),
    ({"scene": "r=张三"}, "invalid_scene"),
    ({"scene": "r=7F 3K"}, "invalid_scene"),
    ({"scene": ""}, "invalid_scene"),
    ({"scene": None}, "invalid_scene"),
    ({"page": "/pages/index/index"}, "invalid_page"),
    ({"page": "pages/index/index?r=7F3K"}, "invalid_page"),
    ({"page": ""}, "invalid_page"),
    ({"page": "pages/index/"}, "invalid_page"),
    ({"page": "pages/商品/index"}, "invalid_page"),
    ({"width": 279}, "invalid_width"),
    ({"width": 1281}, "invalid_width"),
    ({"width": 430.0}, "invalid_width"),
    ({"width": True}, "invalid_width"),
    ({"env_version": "prod"}, "invalid_env_version"),
    ({"check_path": "false"}, "invalid_check_path"),
]


@pytest.mark.parametrize("override, code", BAD_CODE_ARGS)
def test_dev_code_refuses_bad_arguments(wechat_dev, override, code):
    with pytest.raises(ValidationFailed) as exc:
        get_backend().mini_program_code(**({"scene": "r=7F3K"} | override))

    assert exc.value.code == code


@pytest.mark.parametrize("override, code", BAD_CODE_ARGS)
def test_real_code_refuses_bad_arguments_without_calling_wechat(wechat_real, override, code):
    with pytest.raises(ValidationFailed) as exc:
        get_backend().mini_program_code(**({"scene": "r=7F3K"} | override))

    assert exc.value.code == code
    assert wechat_real.calls() == []  # not even a token fetched


@pytest.mark.parametrize("kwargs, message", [
    ({"scene": "r=" + "A" * 31}, "scene 参数须为 1-32 个字母、数字或 !#$&'()*+,/:;=?@-._~"),
    ({"page": "/pages/index/index"}, "page 不能以 / 开头，如 pages/index/index"),
    ({"page": "pages/index/index?a=1"}, "page 不能带 ? 参数，参数请放在 scene 里"),
    ({"width": 100}, "width 须为 280-1280 之间的整数（像素）"),
])
def test_validation_messages_are_clear_chinese(wechat_dev, kwargs, message):
    with pytest.raises(ValidationFailed) as exc:
        get_backend().mini_program_code(**({"scene": "r=7F3K"} | kwargs))

    assert (exc.value.message, exc.value.status_code) == (message, 400)


def test_the_scene_boundaries_are_accepted(wechat_dev):
    backend = get_backend()

    assert backend.mini_program_code(scene="r=" + "A" * 30).startswith(PNG_MAGIC)  # 32 characters
    assert backend.mini_program_code(scene="!#$&'()*+,/:;=?@-._~").startswith(PNG_MAGIC)


# -- real: getwxacodeunlimit ---------------------------------------------------------------------------


def test_real_code_posts_json_and_returns_the_image(wechat_real):
    image = get_backend().mini_program_code(scene="r=7F3K", width=600)

    assert image.startswith(JPEG_MAGIC)
    assert Image.open(io.BytesIO(image)).size == (600, 600)
    [call] = wechat_real.calls(WXACODE)
    assert call.method == "POST"
    assert call.headers["Content-Type"].startswith("application/json")
    assert call.json == {"scene": "r=7F3K", "page": "pages/index/index", "check_path": True,
                         "env_version": "release", "width": 600}
    assert call.args == {"access_token": wechat_real.current_access_token()}


def test_real_code_shares_the_cached_access_token(wechat_real):
    token = get_access_token()

    get_backend().mini_program_code(scene="r=7F3K")
    get_backend().mini_program_code(scene="r=7F3L")

    assert [c.args["access_token"] for c in wechat_real.calls(WXACODE)] == [token, token]
    assert len(wechat_real.calls(STABLE_TOKEN)) == 1


def test_an_unpublished_page_needs_check_path_off(wechat_real):
    backend = get_backend()

    with pytest.raises(ValidationFailed) as exc:
        backend.mini_program_code(scene="r=7F3K", page="pages/new/index")
    image = backend.mini_program_code(scene="r=7F3K", page="pages/new/index", env_version="develop", check_path=False)

    assert exc.value.code == "invalid_page"
    assert exc.value.details == {"errcode": 41030, "page": "pages/new/index"}
    assert "pages/new/index" in exc.value.message
    assert image.startswith(JPEG_MAGIC)
    assert wechat_real.calls(WXACODE)[1].json["check_path"] is False
    assert wechat_real.calls(WXACODE)[1].json["env_version"] == "develop"


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "image/jpeg"])
def test_an_errcode_with_http_200_is_an_external_error(wechat_real, content_type, caplog):
    # WeChat answers errors with HTTP 200; whatever it labels them, a JSON body is not an image.
    wechat_real.respond_once(WXACODE, json={"errcode": 40097, "errmsg": "invalid args rid: r1"},
                             content_type=content_type)

    with caplog.at_level(logging.INFO, logger="wechat"):
        with pytest.raises(ExternalServiceError) as exc:
            get_backend().mini_program_code(scene="r=7F3K")

    assert type(exc.value) is ExternalServiceError
    assert exc.value.details == {"api": "getwxacodeunlimit", "reason": "errcode", "errcode": 40097}
    assert exc.value.status_code == 502
    log = _client_log(caplog)
    assert "errcode=40097" in log and "rid: r1" in log
    assert wechat_real.current_access_token() not in log


def test_a_rate_limit_is_wechat_rate_limited(wechat_real):
    wechat_real.respond_once(WXACODE, json={"errcode": 45009, "errmsg": "reach max api daily quota limit"})

    with pytest.raises(WeChatRateLimited) as exc:
        get_backend().mini_program_code(scene="r=7F3K")

    assert (exc.value.status_code, exc.value.code) == (429, "wechat_rate_limited")
    assert exc.value.message == "生成小程序码太频繁，请稍后再试"
    assert exc.value.details == {"errcode": 45009}
    assert len(wechat_real.calls(WXACODE)) == 1  # not retried


def test_a_revoked_token_is_replaced_and_the_call_sent_once_more(wechat_real):
    old = get_access_token()
    wechat_real.revoke_access_tokens()

    image = get_backend().mini_program_code(scene="r=7F3K")

    assert image.startswith(JPEG_MAGIC)
    first, second = wechat_real.calls(WXACODE)
    assert first.args["access_token"] == old
    assert second.args["access_token"] == wechat_real.current_access_token() != old
    assert first.json == second.json
    assert len(wechat_real.calls(STABLE_TOKEN)) == 2


def test_an_expired_token_is_retried_too(wechat_real):
    wechat_real.respond_once(WXACODE, json=ERR_EXPIRED_TOKEN)

    assert get_backend().mini_program_code(scene="r=7F3K").startswith(JPEG_MAGIC)

    assert len(wechat_real.calls(WXACODE)) == 2


def test_the_token_is_retried_only_once(wechat_real):
    wechat_real.respond_once(WXACODE, json=ERR_INVALID_TOKEN)
    wechat_real.respond_once(WXACODE, json=ERR_INVALID_TOKEN)

    with pytest.raises(ExternalServiceError) as exc:
        get_backend().mini_program_code(scene="r=7F3K")

    assert exc.value.details["errcode"] == 40001
    assert len(wechat_real.calls(WXACODE)) == 2


@pytest.mark.parametrize("scripted, reason", [
    ({"status": 500, "body": "oops"}, "http_status"),
    ({"json": {"errcode": 0, "errmsg": "ok"}}, "bad_response"),
    ({"body": b"<html>busy</html>", "content_type": "text/html"}, "bad_response"),
])
def test_answers_that_are_neither_image_nor_errcode_are_external_errors(wechat_real, scripted, reason):
    wechat_real.respond_once(WXACODE, **scripted)

    with pytest.raises(ExternalServiceError) as exc:
        get_backend().mini_program_code(scene="r=7F3K")

    assert exc.value.details["reason"] == reason
    assert len(wechat_real.calls(WXACODE)) == 1


def test_an_image_labelled_oddly_is_still_an_image(wechat_real):
    png = PNG_MAGIC + b"rest-of-image"
    wechat_real.respond_once(WXACODE, body=png, content_type="application/octet-stream")

    assert get_backend().mini_program_code(scene="r=7F3K") == png


# -- dev: WeCom contact way ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_dev_contact_way_is_deterministic_and_links_to_the_dev_add_page(wechat_dev):
    backend = get_backend()

    a = backend.wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])
    again = backend.wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])
    other = backend.wecom_contact_way(state="r=7F3L", user_ids=["zhangsan"])

    assert a == again
    assert a == {
        "config_id": dev_contact_config_id(state="r=7F3K", user_ids=["zhangsan"], remark="", skip_verify=True),
        "qr_code": "http://127.0.0.1:8000/wechat-dev/wecom/add/" + a["config_id"],
    }
    assert a["config_id"].startswith("dev") and len(a["config_id"]) == 32
    assert other["config_id"] != a["config_id"]


@pytest.mark.django_db
def test_dev_contact_way_remembers_its_state_and_members(wechat_dev):
    from wechat.models import DevMessage

    result = get_backend().wecom_contact_way(state="展会 2024", user_ids=["zhangsan", "lisi"], remark="春季展会")

    way = DevMessage.objects.get(kind=DevMessage.Kind.WECOM_CONTACT_WAY, to=result["config_id"])
    assert way.data == {"state": "展会 2024", "user": ["zhangsan", "lisi"]}


BAD_CONTACT_ARGS = [
    ({"state": "S" * 31}, "invalid_state"),
    ({"state": ""}, "invalid_state"),
    ({"state": "a\nb"}, "invalid_state"),
    ({"state": None}, "invalid_state"),
    ({"remark": "备" * 31}, "invalid_remark"),
    ({"user_ids": []}, "invalid_user_ids"),
    ({"user_ids": "zhangsan"}, "invalid_user_ids"),
    ({"user_ids": ["张三"]}, "invalid_user_ids"),
    ({"user_ids": ["_zhangsan"]}, "invalid_user_ids"),
    ({"user_ids": [f"u{i}" for i in range(101)]}, "invalid_user_ids"),
    ({"skip_verify": "true"}, "invalid_skip_verify"),
]


@pytest.mark.parametrize("override, code", BAD_CONTACT_ARGS)
def test_dev_contact_way_refuses_bad_arguments(wechat_dev, override, code):
    with pytest.raises(ValidationFailed) as exc:
        get_backend().wecom_contact_way(**({"state": "r=7F3K", "user_ids": ["zhangsan"]} | override))

    assert exc.value.code == code


@pytest.mark.parametrize("override, code", BAD_CONTACT_ARGS)
def test_real_contact_way_refuses_bad_arguments_without_calling_wecom(wecom_real, override, code):
    with pytest.raises(ValidationFailed) as exc:
        get_backend().wecom_contact_way(**({"state": "r=7F3K", "user_ids": ["zhangsan"]} | override))

    assert exc.value.code == code
    assert wecom_real.calls() == []
    assert wecom_real.contact_ways == {}


def test_contact_way_messages_are_chinese(wechat_dev):
    with pytest.raises(ValidationFailed) as too_long:
        get_backend().wecom_contact_way(state="S" * 31, user_ids=["zhangsan"])
    with pytest.raises(ValidationFailed) as nobody:
        get_backend().wecom_contact_way(state="r=7F3K", user_ids=[])

    assert too_long.value.message == "state 须为 1-30 个字符"
    assert nobody.value.message == "请至少指定一位企业微信成员"


# -- real: WeCom add_contact_way ------------------------------------------------------------------------


def test_a_single_member_code_is_type_1_for_a_qr_code(wecom_real):
    result = get_backend().wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"], remark="张三的码")

    [call] = wecom_real.calls(CONTACT_WAY)
    assert call.method == "POST"
    assert call.headers["Content-Type"].startswith("application/json")
    assert call.json == {"type": 1, "scene": 2, "state": "r=7F3K", "user": ["zhangsan"],
                         "skip_verify": True, "remark": "张三的码"}
    assert call.args == {"access_token": wecom_real.current_wecom_token()}
    assert result == {"config_id": next(iter(wecom_real.contact_ways)),
                      "qr_code": f"https://wework.qq.com/q/fake{result['config_id'][:12]}"}
    [gettoken] = wecom_real.calls(GETTOKEN)
    assert gettoken.method == "GET"
    assert gettoken.args == {"corpid": FAKE_CORP_ID, "corpsecret": FAKE_CORP_SECRET}
    assert wecom_real.calls(STABLE_TOKEN) == []  # the mini program's token is another thing


def test_several_members_make_a_type_2_code_without_duplicates(wecom_real):
    get_backend().wecom_contact_way(state="S" * 30, user_ids=["zhangsan", "lisi", "zhangsan"],
                                    remark="备" * 30, skip_verify=False)

    [call] = wecom_real.calls(CONTACT_WAY)
    assert call.json == {"type": 2, "scene": 2, "state": "S" * 30, "user": ["zhangsan", "lisi"],
                         "skip_verify": False, "remark": "备" * 30}


def test_the_wecom_token_is_cached_and_keyed_without_the_secret(wecom_real):
    backend = get_backend()

    backend.wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])
    backend.wecom_contact_way(state="r=7F3L", user_ids=["lisi"])

    assert len(wecom_real.calls(GETTOKEN)) == 1
    tokens = {c.args["access_token"] for c in wecom_real.calls(CONTACT_WAY)}
    assert tokens == {wecom_real.current_wecom_token()}
    assert FAKE_CORP_ID in wecom.cache_key() and FAKE_CORP_SECRET not in wecom.cache_key()
    assert cache.get(wecom.cache_key())["token"] == wecom_real.current_wecom_token()


def test_another_secret_of_the_same_corp_has_its_own_token(wecom_real, settings):
    key = wecom.cache_key()
    settings.WECOM_SECRET = "another-app-secret"

    assert wecom.cache_key() != key


def test_a_revoked_wecom_token_is_replaced_and_the_call_sent_once_more(wecom_real):
    old = wecom.get_wecom_access_token()
    wecom_real.revoke_wecom_tokens()

    result = get_backend().wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])

    first, second = wecom_real.calls(CONTACT_WAY)
    assert first.args["access_token"] == old
    assert second.args["access_token"] == wecom_real.current_wecom_token() != old
    assert len(wecom_real.calls(GETTOKEN)) == 2
    assert list(wecom_real.contact_ways) == [result["config_id"]]  # one code made, not two


@pytest.mark.parametrize("refusal", [ERR_WECOM_INVALID_TOKEN, ERR_WECOM_EXPIRED_TOKEN,
                                     {"errcode": 40001, "errmsg": "invalid credential"}])
def test_each_token_refusal_is_retried_once(wecom_real, refusal):
    wecom_real.respond_once(CONTACT_WAY, json=refusal)

    get_backend().wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])

    assert len(wecom_real.calls(CONTACT_WAY)) == 2
    assert len(wecom_real.contact_ways) == 1


def test_the_wecom_token_is_retried_only_once(wecom_real):
    wecom_real.respond_once(CONTACT_WAY, json=ERR_WECOM_INVALID_TOKEN)
    wecom_real.respond_once(CONTACT_WAY, json=ERR_WECOM_INVALID_TOKEN)

    with pytest.raises(ExternalServiceError) as exc:
        get_backend().wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])

    assert exc.value.details["errcode"] == 40014
    assert len(wecom_real.calls(CONTACT_WAY)) == 2
    assert wecom_real.contact_ways == {}


def test_an_unknown_member_is_an_external_error_carrying_wecoms_errmsg(wecom_real, caplog):
    with caplog.at_level(logging.INFO, logger="wechat"):
        with pytest.raises(ExternalServiceError) as exc:
            get_backend().wecom_contact_way(state="r=7F3K", user_ids=["zhangsan", "nobody"])

    assert type(exc.value) is ExternalServiceError
    assert exc.value.details == {
        "api": "wecom.add_contact_way", "reason": "errcode", "errcode": 60111,
        "errmsg": "invalid string value `nobody`. userid not found, hint: [fake]",
    }
    assert wecom_real.contact_ways == {}
    assert wecom_real.current_wecom_token() not in _client_log(caplog)


def test_a_wecom_rate_limit_is_wechat_rate_limited(wecom_real):
    wecom_real.respond_once(CONTACT_WAY, json={"errcode": 45009, "errmsg": "api freq out of limit"})

    with pytest.raises(WeChatRateLimited) as exc:
        get_backend().wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])

    assert exc.value.details == {"errcode": 45009}
    assert len(wecom_real.calls(CONTACT_WAY)) == 1


def test_an_answer_without_config_id_is_a_bad_response(wecom_real):
    wecom_real.respond_once(CONTACT_WAY, json={"errcode": 0, "errmsg": "ok"})

    with pytest.raises(ExternalServiceError) as exc:
        get_backend().wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])

    assert exc.value.details == {"api": "wecom.add_contact_way", "reason": "bad_response"}


def test_a_wrong_secret_is_logged_loudly_without_the_secret_and_nothing_is_cached(wecom_real, settings, caplog):
    settings.WECOM_SECRET = "wrong-secret-value"

    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ExternalServiceError) as exc:
            get_backend().wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])

    assert exc.value.details == {"api": "wecom.gettoken", "reason": "errcode", "errcode": 40001}
    assert wecom_real.calls(CONTACT_WAY) == []
    assert cache.get(wecom.cache_key()) is None
    assert any(r.levelno == logging.ERROR and "errcode=40001" in r.getMessage() for r in caplog.records)
    assert "wrong-secret-value" not in _client_log(caplog)


def test_wecom_unreachable_is_an_external_error(wecom_real, settings):
    settings.WECOM_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens

    with pytest.raises(ExternalServiceError) as exc:
        get_backend().wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])

    assert exc.value.details == {"api": "wecom.gettoken", "reason": "connection"}


def test_wecom_needs_its_own_credentials(wecom_real, settings):
    settings.WECOM_SECRET = ""

    with pytest.raises(ImproperlyConfigured, match="WECOM_SECRET"):
        get_backend().wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])

    assert wecom_real.calls() == []


@pytest.mark.django_db
def test_the_dev_backend_needs_no_wecom_credentials(wechat_dev, settings):
    settings.WECOM_CORP_ID = settings.WECOM_SECRET = ""

    assert isinstance(get_backend(), DevBackend)
    assert get_backend().wecom_contact_way(state="r=7F3K", user_ids=["zhangsan"])["config_id"].startswith("dev")
