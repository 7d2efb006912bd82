"""Transfer at handover: the leaving rep's WeCom customers move to the taker (≤100 per call, the
2-in-90-days limit checked first, the resigned endpoints for a deactivated rep), the result is polled
per customer, against the fake WeCom (which checks request shapes) and through the dev backend."""

import datetime as dt

import pytest
from django.utils import timezone

from reps.models import Handover, WeComContact, WeComTransfer
from reps.services import customers_handover
from reps.tasks import wecom_transfers_poll_task, wecom_transfers_submit_task
from reps.wecom_transfer import wecom_transfers_poll, wecom_transfers_submit
from tests.factories import CustomerFactory, RepFactory
from tests.reps.test_wecom_callback import AES_KEY, CORP, TOKEN, _event_xml, _post
from tests.wechat.fake_server import fake_wechat, fake_wechat_server, wechat_real, wecom_real  # noqa: F401

pytestmark = pytest.mark.django_db
S = WeComTransfer.Status
TRANSFER = "/cgi-bin/externalcontact/transfer_customer"
RESIGNED = "/cgi-bin/externalcontact/resigned/transfer_customer"


@pytest.fixture
def hand_over(django_capture_on_commit_callbacks):
    """customers_handover, with its on-commit task run as a real commit would run it."""

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return customers_handover(**kwargs)

    return run


@pytest.fixture
def reps():
    return RepFactory(name="张三", wecom_user_id="zhangsan"), RepFactory(name="李四", wecom_user_id="lisi")


def contacts(rep, n, *, customers=None, start=0):
    now = timezone.now()
    return [WeComContact.objects.create(rep=rep, external_userid=f"wmEXT{start + i:05d}", added_at=now,
                                        customer=customers[i] if customers else None) for i in range(n)]


def statuses():
    return dict(WeComTransfer.objects.values_list("external_userid", "status"))


def test_handover_transfers_in_calls_of_at_most_100_and_polls_each_status(reps, wecom_real, hand_over):
    zhang, li = reps
    contacts(zhang, 150)
    WeComContact.objects.create(rep=zhang, external_userid="wmGONE", added_at=timezone.now(),
                                status=WeComContact.Status.REMOVED_BY_CUSTOMER)  # not a customer any more

    handover = hand_over(from_rep=zhang, to_rep=li)  # the task runs on commit (eager in tests)

    calls = wecom_real.calls(TRANSFER)
    assert [len(c.json["external_userid"]) for c in calls] == [100, 50]
    assert all(c.json["handover_userid"] == "zhangsan" and c.json["takeover_userid"] == "lisi"
               and c.json["transfer_success_msg"] for c in calls)
    assert set(statuses().values()) == {S.WAITING} and len(statuses()) == 150
    assert WeComTransfer.objects.filter(handover=handover).count() == 150

    wecom_real.transfer_status.update({"wmEXT00000": 1, "wmEXT00001": 3, "wmEXT00002": 4})
    wecom_real.transfer_page_size = 40  # paged by cursor
    assert wecom_transfers_poll() == 3

    assert (statuses()["wmEXT00000"], statuses()["wmEXT00001"], statuses()["wmEXT00002"],
            statuses()["wmEXT00003"]) == (S.DONE, S.REFUSED, S.TAKER_LIMIT, S.WAITING)
    # Done: the customer is now the taker's WeCom contact; the leaving rep's row is kept as history.
    moved = WeComContact.objects.get(rep=li, external_userid="wmEXT00000")
    assert moved.status == WeComContact.Status.ACTIVE
    old = WeComContact.objects.get(rep=zhang, external_userid="wmEXT00000")
    assert old.status == WeComContact.Status.TRANSFERRED and old.removed_at is not None
    assert not WeComContact.objects.filter(rep=li, external_userid="wmEXT00001").exists()
    # Polling again changes nothing that has finished.
    assert wecom_transfers_poll() == 0


def test_the_2_in_90_days_limit_is_checked_before_wecom_is_asked(reps, wecom_real, hand_over):
    zhang, li = reps
    wang = RepFactory(name="王五", wecom_user_id="wangwu")
    [contact] = contacts(zhang, 1)
    fresh = contacts(zhang, 1, start=1)[0]
    now = timezone.now()
    theirs = WeComContact.objects.create(rep=wang, external_userid=contact.external_userid, added_at=now)
    for days, status in ((10, S.DONE), (80, S.WAITING)):  # transferred twice in the last 90 days
        WeComTransfer.objects.create(
            handover=Handover.objects.create(from_rep=wang, to_rep=zhang, customer_count=0), contact=theirs,
            external_userid=contact.external_userid, handover_userid="wangwu", takeover_userid="zhangsan",
            status=status, submitted_at=now - dt.timedelta(days=days))

    handover = hand_over(from_rep=zhang, to_rep=li)

    mine = dict(WeComTransfer.objects.filter(handover=handover).values_list("external_userid", "status"))
    assert mine == {contact.external_userid: S.OVER_LIMIT, fresh.external_userid: S.WAITING}
    assert [c.json["external_userid"] for c in wecom_real.calls(TRANSFER)] == [[fresh.external_userid]]


def test_a_transfer_older_than_90_days_does_not_count(reps, wecom_real, hand_over):
    zhang, li = reps
    [contact] = contacts(zhang, 1)
    for _ in range(2):
        WeComTransfer.objects.create(
            handover=Handover.objects.create(from_rep=li, to_rep=zhang, customer_count=0), contact=contact,
            external_userid=contact.external_userid, handover_userid="lisi", takeover_userid="zhangsan",
            status=S.DONE, submitted_at=timezone.now() - dt.timedelta(days=91))
    handover = hand_over(from_rep=zhang, to_rep=li)
    assert WeComTransfer.objects.get(handover=handover).status == S.WAITING


def test_a_resigned_rep_uses_the_resigned_endpoints(reps, wecom_real, hand_over):
    zhang, li = reps
    contacts(zhang, 2)
    wecom_real.resigned_users.add("zhangsan")

    hand_over(from_rep=zhang, to_rep=li, revoke_access=True)

    [call] = wecom_real.calls(RESIGNED)
    assert set(call.json) == {"handover_userid", "takeover_userid", "external_userid"}  # no message there
    assert wecom_real.calls(TRANSFER) == []
    assert set(statuses().values()) == {S.WAITING}
    assert WeComTransfer.objects.filter(resigned=True).count() == 2
    wecom_real.transfer_status["wmEXT00000"] = 1
    wecom_transfers_poll()
    assert wecom_real.calls("/cgi-bin/externalcontact/resigned/transfer_result")
    assert statuses()["wmEXT00000"] == S.DONE


def test_per_customer_refusal_and_a_failed_call_is_resent_later(reps, wecom_real, hand_over):
    zhang, li = reps
    contacts(zhang, 2)
    wecom_real.transfer_errcodes["wmEXT00001"] = 40097  # refused for this customer alone
    wecom_real.respond_once(TRANSFER, status=502, body="bad gateway")

    hand_over(from_rep=zhang, to_rep=li)
    assert set(statuses().values()) == {S.PENDING}  # the call failed: nothing changed but the claim

    # A second run at once does not resend what was just claimed; after RESUBMIT_AFTER the sweep does.
    assert wecom_transfers_submit() == 0
    assert wecom_transfers_submit(now=timezone.now() + dt.timedelta(minutes=11)) == 2
    assert statuses() == {"wmEXT00000": S.WAITING, "wmEXT00001": S.FAILED}
    assert WeComTransfer.objects.get(external_userid="wmEXT00001").errcode == 40097
    assert len(wecom_real.transfers) == 1


def test_selected_customers_move_only_their_linked_contacts(reps, wecom_real, hand_over):
    zhang, li = reps
    a, b = CustomerFactory(rep=zhang), CustomerFactory(rep=zhang)
    contacts(zhang, 2, customers=[a, b])
    contacts(zhang, 1, start=5)  # not linked to any restaurant

    hand_over(from_rep=zhang, to_rep=li, customer_ids=[a.pk])

    assert list(statuses()) == ["wmEXT00000"]


def test_no_wecom_account_no_transfer(reps, wecom_real, hand_over):
    zhang, li = reps
    contacts(zhang, 1)
    li.wecom_user_id = ""
    li.save()
    hand_over(from_rep=zhang, to_rep=li)
    assert statuses() == {} and wecom_real.calls(TRANSFER) == []


def test_transfer_fail_callback_ends_the_waiting_transfer(reps, wecom_real, client, settings, hand_over):
    zhang, li = reps
    settings.WECOM_CORP_ID, wecom_real.corp_id = CORP, CORP
    settings.WECOM_CALLBACK_TOKEN, settings.WECOM_CALLBACK_AES_KEY = TOKEN, AES_KEY
    contacts(zhang, 2)
    hand_over(from_rep=zhang, to_rep=li)

    # WeCom tells the taker's side: UserID is the taker.
    _post(client, _event_xml("transfer_fail", user="lisi", external="wmEXT00000", fail_reason="customer_refused"))
    _post(client, _event_xml("transfer_fail", user="lisi", external="wmEXT00001",
                             fail_reason="customer_limit_exceed", create_time=1700000001))

    assert statuses() == {"wmEXT00000": S.REFUSED, "wmEXT00001": S.TAKER_LIMIT}


def test_tasks_are_safe_to_run_twice(reps, wecom_real, hand_over):
    zhang, li = reps
    contacts(zhang, 3)
    handover = hand_over(from_rep=zhang, to_rep=li)
    wecom_transfers_submit_task(handover.pk)
    wecom_transfers_submit_task(handover.pk)
    assert len(wecom_real.transfers) == 3
    wecom_real.transfer_status.update(dict.fromkeys(["wmEXT00000", "wmEXT00001", "wmEXT00002"], 1))
    assert wecom_transfers_poll_task() == 3
    assert wecom_transfers_poll_task() == 0
    assert WeComContact.objects.filter(rep=li).count() == 3


def test_dev_backend_simulates_the_transfer(reps, settings, hand_over):
    settings.WECHAT_BACKEND = "dev"
    zhang, li = reps
    contacts(zhang, 2)
    hand_over(from_rep=zhang, to_rep=li)
    assert set(statuses().values()) == {S.WAITING}
    assert wecom_transfers_poll() == 2
    assert set(statuses().values()) == {S.DONE}
    assert WeComContact.objects.filter(rep=li, status=WeComContact.Status.ACTIVE).count() == 2


def test_handover_page_shows_each_customers_transfer_status(reps, wecom_real, admin_client, hand_over):
    zhang, li = reps
    contacts(zhang, 3)
    handover = hand_over(from_rep=zhang, to_rep=li)
    wecom_real.transfer_status.update({"wmEXT00000": 1, "wmEXT00001": 3})
    wecom_transfers_poll()

    html = admin_client.get(f"/admin/reps/handover/{handover.pk}/change/").content.decode()

    assert "企业微信客户转接" in html
    for label in ("接替完毕", "客户拒绝", "等待接替"):
        assert label in html


def test_the_admin_handover_form_transfers_and_says_so(reps, wecom_real, admin_client,
                                                       django_capture_on_commit_callbacks):
    from django.contrib.messages import get_messages

    zhang, li = reps
    contacts(zhang, 2)
    wecom_real.resigned_users.add("zhangsan")  # leaving the company: the resigned endpoints
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/reps/rep/{zhang.pk}/handover/", {
            "to_rep": li.pk, "scope": "all", "reason": "离职", "revoke_access": "on"})

    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "已将 0 位客户从 张三 移交给 李四，张三 已停用；2 位企业微信客户转接中（结果见本页）"]
    assert len(wecom_real.calls(RESIGNED)) == 1 and set(statuses().values()) == {S.WAITING}
