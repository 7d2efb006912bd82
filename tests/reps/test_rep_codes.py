"""The rep's two codes: the card's mini-program code (getwxacodeunlimit with WECHAT_BACKEND=real,
stored and made again only when its inputs change; the web-link QR with dev) and the WeCom
contact-me code (add_contact_way, state = the rep's key, made once), against the fake WeChat."""

import io

import pytest
from django.contrib.auth.models import User
from PIL import Image

from reps.models import EntryEvent, Rep, Scene
from reps.qr import rep_qr_png
from reps.services import entry_record
from tests.factories import RepFactory, VisitorFactory
from tests.wechat.fake_server import fake_wechat, fake_wechat_server, wechat_real, wecom_real  # noqa: F401

pytestmark = pytest.mark.django_db
WXACODE = "/wxa/getwxacodeunlimit"
CONTACT_WAY = "/cgi-bin/externalcontact/add_contact_way"


@pytest.fixture
def rep_client(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    user = User.objects.create_user(username="rep-zhang", password="rep12345")
    rep = RepFactory(name="张三", key="ZHANG7", user=user, wecom_user_id="zhangsan")
    client.force_login(user)
    client.rep = rep
    return client


def _png(response) -> Image.Image:
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    return image


# -- the mini-program code (real) ---------------------------------------------------------------------


def test_real_card_code_is_made_by_getwxacodeunlimit_stored_and_served(rep_client, wechat_real, settings):
    settings.WXACODE_PAGE, settings.WXACODE_ENV_VERSION, settings.WXACODE_CHECK_PATH = (
        "pages/goods/detail", "trial", False)

    card = rep_client.get("/rep/card/").content.decode()
    assert 'data-kind="wxacode"' in card and "长按识别" in card
    image = _png(rep_client.get("/rep/qr.png"))

    [call] = wechat_real.calls(WXACODE)
    assert call.json == {"scene": "r=ZHANG7", "page": "pages/goods/detail", "check_path": False,
                         "env_version": "trial", "width": 430}
    assert image.size == (430, 430)
    rep = Rep.objects.get(pk=rep_client.rep.pk)
    assert rep.wxacode.name.startswith("reps/wxacode/ZHANG7-") and rep.wxacode.name.endswith(".png")
    assert (settings.MEDIA_ROOT / rep.wxacode.name).read_bytes() == rep_client.get("/rep/qr.png").content
    # The stored file serves every later view: WeChat is not asked again.
    assert len(wechat_real.calls(WXACODE)) == 1


def test_real_card_code_is_made_again_only_when_its_inputs_change(rep_client, wechat_real, settings):
    rep_client.get("/rep/qr.png")
    rep_client.get("/rep/qr.png")
    first = Rep.objects.get(pk=rep_client.rep.pk).wxacode.name
    assert len(wechat_real.calls(WXACODE)) == 1

    settings.WXACODE_WIDTH = 600
    _png(rep_client.get("/rep/qr.png"))
    second = Rep.objects.get(pk=rep_client.rep.pk).wxacode.name
    assert len(wechat_real.calls(WXACODE)) == 2 and second != first
    assert wechat_real.calls(WXACODE)[-1].json["width"] == 600
    assert not (settings.MEDIA_ROOT / first).exists()  # the old image is not kept


def test_real_card_code_refused_by_wechat_shows_a_message_not_a_500(rep_client, wechat_real, settings):
    settings.WXACODE_PAGE = "pages/unpublished/index"  # check_path on: 41030

    card = rep_client.get("/rep/card/")
    qr = rep_client.get("/rep/qr.png")

    assert card.status_code == 200
    assert 'data-testid="card-qr-error"' in card.content.decode()
    assert "尚未发布" in card.content.decode()
    assert qr.status_code == 400 and "尚未发布" in qr.content.decode()
    assert not Rep.objects.get(pk=rep_client.rep.pk).wxacode
    wechat_real.respond_once(WXACODE, status=500, body="oops")
    settings.WXACODE_PAGE = "pages/index/index"
    assert rep_client.get("/rep/qr.png").status_code == 502  # ExternalServiceError, with its message


def test_admin_qr_serves_the_same_stored_code(rep_client, wechat_real, admin_client):
    rep = rep_client.rep
    mine = rep_client.get("/rep/qr.png").content
    assert admin_client.get(f"/admin/reps/rep/{rep.pk}/qr.png").content == mine
    assert len(wechat_real.calls(WXACODE)) == 1


def test_dev_card_keeps_the_web_link_qr(rep_client, settings):
    settings.WECHAT_BACKEND = "dev"
    response = rep_client.get("/rep/qr.png")
    assert response.content == rep_qr_png(rep_client.rep, base_url="http://testserver/")
    assert 'data-kind="wxacode"' not in rep_client.get("/rep/card/").content.decode()


@pytest.mark.parametrize("launch_scene, kind", [
    (1047, Scene.IN_PERSON), (1048, Scene.FORWARDED_IMAGE), (1049, Scene.FORWARDED_IMAGE),
    (1007, Scene.SHARE_CARD), (1008, Scene.SHARE_CARD),
])
def test_the_code_its_pictures_and_share_cards_carry_the_same_scene(launch_scene, kind):
    """Scanned (1047), long-pressed or picked from the album (1048/1049), or a share card
    (1007/1008): the same `r=<KEY>` credits the rep, and the scene says how it came."""
    rep = RepFactory(key="ZHANG7")
    entry = entry_record(visitor=VisitorFactory(), scene=rep.scene, launch_scene=launch_scene)
    assert (entry.rep, entry.scene_kind, entry.credited, entry.scene) == (rep, kind, True, "r=ZHANG7")


def test_the_share_link_carries_the_scene_of_the_code(rep_client):
    me = rep_client.get("/api/v1/rep/me").json()
    assert "scene=r%3DZHANG7" in me["share_url"] and "launch_scene=1007" in me["share_url"]
    assert EntryEvent.objects.count() == 0


# -- the contact-me code -------------------------------------------------------------------------------


def test_real_contact_me_code_is_made_once_with_the_key_as_state(rep_client, wecom_real):
    first = rep_client.get("/api/v1/rep/me").json()
    second = rep_client.get("/api/v1/rep/me").json()

    [way] = wecom_real.contact_ways.values()
    assert (way["state"], way["user"], way["type"], way["scene"]) == ("ZHANG7", ["zhangsan"], 1, 2)
    assert first["contact_qr_url"] == second["contact_qr_url"] and first["contact_error"] == ""
    rep = Rep.objects.get(pk=rep_client.rep.pk)
    assert rep.wecom_config_id in wecom_real.contact_ways and rep.wecom_contact_user_id == "zhangsan"
    image = rep_client.get(first["contact_qr_url"])
    assert image.status_code == 302 and image["Location"] == rep.wecom_qr_code
    # A new WeCom account for the rep: a new code for it.
    Rep.objects.filter(pk=rep.pk).update(wecom_user_id="lisi")
    rep_client.get("/api/v1/rep/me")
    assert len(wecom_real.contact_ways) == 2
    assert Rep.objects.get(pk=rep.pk).wecom_contact_user_id == "lisi"


def test_contact_me_code_refused_by_wecom_is_a_message_on_the_assistant(rep_client, wecom_real):
    Rep.objects.filter(pk=rep_client.rep.pk).update(wecom_user_id="nobody")  # not a member: 60111
    me = rep_client.get("/api/v1/rep/me")
    assert me.status_code == 200
    assert me.json()["contact_qr_url"] is None and me.json()["contact_error"]
    assert Rep.objects.get(pk=rep_client.rep.pk).wecom_config_id == ""
    assert rep_client.get("/rep/contact-qr.png").status_code == 404


def test_dev_contact_me_code_is_a_qr_of_the_dev_wecom_add_page(rep_client, settings):
    settings.WECHAT_BACKEND = "dev"
    me = rep_client.get("/api/v1/rep/me").json()
    rep = Rep.objects.get(pk=rep_client.rep.pk)
    assert rep.wecom_qr_code.endswith(f"/wechat-dev/wecom/add/{rep.wecom_config_id}")
    _png(rep_client.get(me["contact_qr_url"]))


def test_no_wecom_account_no_contact_me_code(rep_client):
    Rep.objects.filter(pk=rep_client.rep.pk).update(wecom_user_id="")
    assert rep_client.get("/api/v1/rep/me").json()["contact_qr_url"] is None
