"""A rep's WeCom contact ↔ a restaurant: the documented rule (unionid, else the phone the rep noted),
tried from both sides so either order of events links them, through the dev and the real backend."""

import pytest

from customers.services import customer_bind_phone
from reps.models import WeComContact
from reps.wecom_links import wecom_contact_link
from tests.factories import CustomerFactory, RepFactory, VisitorFactory
from tests.reps.test_wecom_callback import AES_KEY, CORP, TOKEN, _event_xml
from tests.reps.test_wecom_callback import _post as _post_now
from tests.wechat.fake_server import fake_wechat, fake_wechat_server, wechat_real, wecom_real  # noqa: F401
from wechat.backends import get_backend
from wechat.backends.dev_contacts import dev_wecom_profile_save

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def wecom_settings(settings):
    settings.WECOM_CORP_ID = CORP
    settings.WECOM_CALLBACK_TOKEN = TOKEN
    settings.WECOM_CALLBACK_AES_KEY = AES_KEY
    settings.WECOM_CALLBACK_MAX_AGE_SECONDS = 300


@pytest.fixture(autouse=True)
def _commits(django_capture_on_commit_callbacks, monkeypatch):
    """The callback sends the profile task on commit: run it as a real commit would."""

    def post(client, inner, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return _post_now(client, inner, **kwargs)

    monkeypatch.setitem(globals(), "_post", post)


@pytest.fixture
def rep():
    return RepFactory(name="张三", key="ZHANG7", wecom_user_id="rep.zhang")


def _bind(visitor, phone):
    code = get_backend().issue_phone_code(openid=visitor.openid, phone=phone)
    return customer_bind_phone(visitor=visitor, phone_code=code, nickname="湘味小馆")


def test_restaurant_first_then_the_callback_links_by_the_noted_phone(client, rep):
    customer = CustomerFactory(name="湘味小馆", phone="13911112222")
    # WeCom knows the customer's name and the mobile the rep noted on them (+86 and spaces as typed).
    dev_wecom_profile_save(external_userid="wmEXT001", name="王老板", phones=("+86 139 1111 2222",))

    assert _post(client, _event_xml("add_external_contact", state="ZHANG7")).status_code == 200

    contact = WeComContact.objects.get()
    assert (contact.customer, contact.name, contact.phone) == (customer, "王老板", "13911112222")


def test_contact_first_then_the_restaurant_binds_the_phone_later(client, rep):
    dev_wecom_profile_save(external_userid="wmEXT001", name="王老板", phones=("13911112222",))
    _post(client, _event_xml("add_external_contact", state="ZHANG7"))
    contact = WeComContact.objects.get()
    assert contact.customer is None  # no restaurant with that phone yet

    customer = _bind(VisitorFactory(), "13911112222")

    contact.refresh_from_db()
    assert contact.customer == customer


def test_unionid_links_before_the_phone_in_both_orders(client, rep):
    by_phone = CustomerFactory(phone="13900000001")
    visitor = VisitorFactory(unionid="oUNION-1")
    by_unionid = _bind(visitor, "13900000002")
    dev_wecom_profile_save(external_userid="wmEXT001", name="甲", unionid="oUNION-1", phones=("13900000001",))
    _post(client, _event_xml("add_external_contact", external="wmEXT001"))
    assert WeComContact.objects.get(external_userid="wmEXT001").customer == by_unionid
    assert by_phone != by_unionid

    # The other order: the contact carries a unionid nobody has yet; that user then binds a phone.
    dev_wecom_profile_save(external_userid="wmEXT002", name="乙", unionid="oUNION-2")
    _post(client, _event_xml("add_external_contact", external="wmEXT002", create_time=1700000001))
    assert WeComContact.objects.get(external_userid="wmEXT002").customer is None
    later = _bind(VisitorFactory(unionid="oUNION-2"), "13900000003")
    assert WeComContact.objects.get(external_userid="wmEXT002").customer == later


def test_no_match_or_an_unknown_profile_links_nothing_and_a_link_is_never_moved(client, rep):
    CustomerFactory(phone="13900000009")
    _post(client, _event_xml("add_external_contact"))  # WeCom has no profile for this one (dev: none saved)
    contact = WeComContact.objects.get()
    assert (contact.customer, contact.name) == (None, "")

    first = CustomerFactory(phone="13900000010")
    contact.customer = first
    contact.save()
    contact.phone = "13900000009"
    assert wecom_contact_link(contact=contact) == first.pk
    assert WeComContact.objects.get().customer == first


def test_real_backend_reads_the_profile_from_externalcontact_get(client, rep, wecom_real, settings):
    wecom_real.corp_id = settings.WECOM_CORP_ID = CORP
    customer = CustomerFactory(phone="13911113333")
    wecom_real.external_contacts["wmEXT001"] = {"name": "李老板", "remark_mobiles": ["13911113333"]}

    assert _post(client, _event_xml("add_external_contact", state="ZHANG7")).status_code == 200

    contact = WeComContact.objects.get()
    assert (contact.customer, contact.name) == (customer, "李老板")
    call = wecom_real.calls("/cgi-bin/externalcontact/get")[0]
    assert call.method == "GET" and call.args["external_userid"] == "wmEXT001"
    assert call.args["access_token"] == wecom_real.current_wecom_token()


def test_real_backend_unknown_customer_and_a_wecom_failure_still_accept_the_callback(client, rep, wecom_real,
                                                                                    settings):
    wecom_real.corp_id = settings.WECOM_CORP_ID = CORP
    assert _post(client, _event_xml("add_external_contact")).status_code == 200  # 84061: not a customer
    wecom_real.respond_once("/cgi-bin/externalcontact/get", status=502, body="bad gateway")
    assert _post(client, _event_xml("add_external_contact", external="wmEXT002")).status_code == 200
    assert list(WeComContact.objects.order_by("external_userid").values_list("external_userid", "customer")) == [
        ("wmEXT001", None), ("wmEXT002", None)]
