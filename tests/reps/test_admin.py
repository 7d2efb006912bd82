"""Rep oversight in the admin: the dashboard, handovers, history, QR codes and rep logins."""

import io
import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from customers.models import Customer
from customers.services import customer_bind_phone
from orders.models import Order
from reps.accounts import REP_GROUP
from reps.models import KEY_PATTERN, EntryEvent, Handover, HandoverItem, Rep, VisitNote
from reps.services import customers_handover, entry_record
from tests.factories import CustomerFactory, RepFactory, VisitorFactory
from wechat.backends import get_backend

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
DASHBOARD = "/admin/reps/rep/dashboard/"
# Monday 16 to Sunday 22 November 2026; the seeded day is Wednesday the 18th.
WEEK = {"day_from": "2026-11-16", "day_to": "2026-11-22"}


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=SHANGHAI)


def paid_order(customer, rep, total, paid_at):
    n = Order.objects.count()
    return Order.objects.create(
        number=f"2611{n:010d}", customer=customer, visitor=VisitorFactory(customer=customer), rep=rep,
        status=Order.Status.PAID, idempotency_key=f"k{n:08d}", delivery_date=paid_at.date() + timedelta(days=1),
        subtotal=Decimal(total), total=Decimal(total), restaurant_name=customer.name, contact_name="王",
        phone=customer.phone, address="深圳市福田区 1 号", expires_at=paid_at, paid_at=paid_at,
    )


def enter(rep, launch_scene, visitor=None):
    return entry_record(visitor=visitor or VisitorFactory(), scene=f"r={rep.key}", launch_scene=launch_scene,
                        first_login=True)


@pytest.fixture
def seeded():
    """Two reps hired on 1 November; Wednesday the 18th seeded for 张三, a forwarding habit for 李四."""
    with time_machine.travel(at(1, 9), tick=False):
        zhang, li = RepFactory(name="张三"), RepFactory(name="李四")
        regular = CustomerFactory(name="老客户", rep=zhang, acquired_by=zhang, acquired_at=timezone.now())
        paid_order(regular, zhang, "60.00", at(1, 12))  # their first order, long before the week
    with time_machine.travel(at(18, 10), tick=False):
        newcomer = VisitorFactory()
        enter(zhang, 1047, newcomer)
        for launch in (1047, 1011, 1048, 1048, 1007, 1001, None):
            enter(zhang, launch)
        code = get_backend().issue_phone_code(openid=newcomer.openid, phone="13911112222")
        new_customer = customer_bind_phone(visitor=newcomer, phone_code=code, nickname="湘味小馆")
    paid_order(new_customer, zhang, "200.00", at(18, 11))  # the first order
    paid_order(new_customer, zhang, "50.00", at(18, 15))
    paid_order(regular, zhang, "80.00", at(18, 16))
    paid_order(regular, zhang, "999.00", at(23, 9))  # outside the week: not counted
    with time_machine.travel(at(16, 10), tick=False):
        enter(li, 1047)
        enter(li, 1048)
        enter(li, 1049)
    return {"zhang": zhang, "li": li, "new_customer": new_customer, "regular": regular}


def cells(html: str, testid: str, key: str, value) -> dict:
    """The data-col cells of one table row, e.g. cells(html, "rep-row", "data-rep", 3)."""
    row = re.search(rf'<tr data-testid="{testid}" {key}="{value}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, f"no row {testid} {key}={value}"
    return dict(re.findall(r'data-col="(\w+)">([^<]*)<', row.group(1)))


def test_dashboard_shows_a_seeded_day_per_rep_and_per_day(admin_client, seeded):
    zhang, li = seeded["zhang"], seeded["li"]

    response = admin_client.get(DASHBOARD, WEEK)

    assert response.status_code == 200
    html = response.content.decode()
    assert cells(html, "rep-row", "data-rep", zhang.pk) == {
        "in_person": "3", "forwarded_image": "2", "share_card": "1", "direct": "1", "other": "1",
        "entries_total": "8", "new_customers": "1", "first_orders": "1", "orders": "3", "gmv": "330.00",
        "churned": "0", "won_back": "0", "wecom_added": "0", "wecom_removed": "0",
    }
    assert cells(html, "rep-row", "data-rep", li.pk) == {
        "in_person": "1", "forwarded_image": "2", "share_card": "0", "direct": "0", "other": "0",
        "entries_total": "3", "new_customers": "0", "first_orders": "0", "orders": "0", "gmv": "0.00",
        "churned": "0", "won_back": "0", "wecom_added": "0", "wecom_removed": "0",
    }
    assert cells(html, "day-row", "data-day", "2026-11-18") == {
        "in_person": "3", "forwarded_image": "2", "share_card": "1", "direct": "1", "other": "1",
        "entries_total": "8", "new_customers": "1", "first_orders": "1", "orders": "3", "gmv": "330.00",
        "churned": "0", "won_back": "0", "wecom_added": "0", "wecom_removed": "0",
    }
    assert cells(html, "day-row", "data-day", "2026-11-17")["entries_total"] == "0"
    # Sorted by GMV; the chart gets one point per day.
    assert [row["rep"] for row in response.context["rep_rows"]] == [zhang, li]
    chart = response.context["chart"]
    assert chart["labels"] == ["11-16", "11-17", "11-18", "11-19", "11-20", "11-21", "11-22"]
    assert chart["gmv"] == ["0.00", "0.00", "330.00", "0.00", "0.00", "0.00", "0.00"]
    assert chart["scenes"][0] == {"kind": "in_person", "label": "当面扫码", "data": [1, 0, 3, 0, 0, 0, 0]}
    assert 'id="repdash-data"' in html and "vendor/chartjs/chart.umd.min.js" in html


def test_dashboard_for_one_rep(admin_client, seeded):
    zhang = seeded["zhang"]
    response = admin_client.get(DASHBOARD, {**WEEK, "rep": zhang.pk})
    html = response.content.decode()
    assert 'data-testid="rep-table"' not in html
    assert cells(html, "day-row", "data-day", "2026-11-16")["entries_total"] == "0"  # 李四's day is not his
    assert cells(html, "day-row", "data-day", "2026-11-18")["gmv"] == "330.00"
    assert response.context["totals"]["entries_total"] == 8


def test_dashboard_flags_missing_in_person_scans_and_forwarded_image_habits(admin_client, seeded):
    zhang, li = seeded["zhang"], seeded["li"]

    response = admin_client.get(DASHBOARD, WEEK)

    flags = {row["rep"]: row for row in response.context["flag_rows"]}
    # Monday to Saturday without a camera scan; Sunday the 22nd is not a working day.
    assert [f"{d:%d}" for d in flags[zhang]["no_scan_days"]] == ["16", "17", "19", "20", "21"]
    assert [f"{d:%d}" for d in flags[li]["no_scan_days"]] == ["17", "18", "19", "20", "21"]
    assert flags[zhang]["mostly_forwarded"] == ""  # 2 of 6 credited entries came from images
    assert flags[li]["mostly_forwarded"] == "新客户 2/3 来自长按识别图片，而非当面扫码"
    html = response.content.decode()
    assert "需要关注（11）" in html
    assert "5 个工作日没有任何当面扫码（11-16、11-17、11-19、11-20、11-21）" in html


def test_dashboard_does_not_flag_days_before_a_rep_was_hired(admin_client, seeded):
    with time_machine.travel(at(20, 9), tick=False):
        newcomer = RepFactory(name="新人")
    response = admin_client.get(DASHBOARD, WEEK)
    flags = {row["rep"]: row for row in response.context["flag_rows"]}
    assert [f"{d:%d}" for d in flags[newcomer]["no_scan_days"]] == ["20", "21"]


def test_dashboard_defaults_to_the_last_14_days_and_refuses_bad_ranges(admin_client):
    today = timezone.localdate()
    default = admin_client.get(DASHBOARD)
    assert (default.context["day_from"], default.context["day_to"]) == (today - timedelta(days=13), today)
    assert len(default.context["day_rows"]) == 14

    backwards = admin_client.get(DASHBOARD, {"day_from": "2026-11-20", "day_to": "2026-11-10"})
    too_long = admin_client.get(DASHBOARD, {"day_from": "2026-01-01", "day_to": "2026-11-10"})
    for response in (backwards, too_long):
        assert response.status_code == 200
        assert len(response.context["day_rows"]) == 14
    assert "开始日期不能晚于结束日期" in backwards.content.decode()
    assert "日期范围最多 92 天" in too_long.content.decode()


def test_dashboard_is_for_staff_with_permission(client):
    assert client.get(DASHBOARD)["Location"].startswith("/admin/login/")
    clerk = User.objects.create_user(username="clerk", password="x", is_staff=True)
    client.force_login(clerk)
    assert client.get(DASHBOARD).status_code == 403


def test_dashboard_is_linked_from_the_rep_list_and_the_reps_section(admin_client):
    assert f'href="{DASHBOARD}"' in admin_client.get("/admin/reps/rep/").content.decode()
    assert f'href="{DASHBOARD}"' in admin_client.get("/admin/reps/").content.decode()


def _dashboard_queries(client, n_reps: int) -> int:
    day = timezone.localtime().replace(hour=10)
    for i in range(n_reps):
        rep = RepFactory()
        enter(rep, (1047, 1048, 1007)[i % 3])
        customer = CustomerFactory(rep=rep, acquired_by=rep, acquired_at=day)
        paid_order(customer, rep, "100.00", day)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(DASHBOARD)
    assert response.status_code == 200
    assert len(response.context["rep_rows"]) == Rep.objects.count()
    return len(captured)


def test_dashboard_queries_do_not_grow_with_the_number_of_reps(admin_client):
    few = _dashboard_queries(admin_client, 5)
    many = _dashboard_queries(admin_client, 45)  # 50 reps in all
    assert many == few
    # session, user; 5 statistics (shared with rep_flags), reps, credited entries, customers sent a
    # code without a WeCom contact, the rep filter's options; other apps' sidebar checks.
    assert many <= 14


# --- Handover ---


def _handover_page(rep):
    return f"/admin/reps/rep/{rep.pk}/handover/"


@pytest.fixture
def leaving(client):
    user = User.objects.create_user(username="rep-zhang", password="rep-pass-123")
    rep = RepFactory(name="张三", user=user)
    client.force_login(user)  # the rep's own phone, signed in
    rep.phone_client = client
    return rep


def test_handover_of_all_customers_through_the_admin_form_revokes_access(admin_client, admin_user, leaving):
    successor = RepFactory(name="李四")
    mine = [CustomerFactory(rep=leaving, acquired_by=leaving) for _ in range(3)]
    other = CustomerFactory(rep=RepFactory())
    assert leaving.phone_client.get("/api/v1/rep/customers").json()["count"] == 3
    form = admin_client.get(_handover_page(leaving))
    assert form.status_code == 200 and 'data-testid="customer-total">3<' in form.content.decode()

    response = admin_client.post(_handover_page(leaving), {
        "to_rep": successor.pk, "scope": "all", "reason": "离职", "revoke_access": "on"})

    handover = Handover.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/reps/handover/{handover.pk}/change/"
    assert (handover.from_rep, handover.to_rep, handover.customer_count, handover.reason, handover.revoked_access,
            handover.performed_by) == (leaving, successor, 3, "离职", True, admin_user)
    assert sorted(HandoverItem.objects.values_list("customer_id", flat=True)) == sorted(c.pk for c in mine)
    assert set(Customer.objects.filter(rep=successor)) == set(mine)
    assert set(Customer.objects.filter(acquired_by=leaving)) == set(mine)  # who brought them in stays
    other.refresh_from_db()
    assert other.rep != successor
    leaving.refresh_from_db()
    assert leaving.is_active is False and leaving.user.is_active is False
    assert leaving.phone_client.get("/api/v1/rep/customers").status_code == 401
    assert leaving.phone_client.get("/api/v1/rep/me").status_code == 401  # the assistant's JS: to the login
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["已将 3 位客户从 张三 移交给 李四，张三 已停用"]


def test_handover_of_selected_customers_keeps_the_rep_active(admin_client, leaving):
    successor = RepFactory(name="李四")
    keep, move_a, move_b = (CustomerFactory(rep=leaving) for _ in range(3))
    prefilled = admin_client.get(_handover_page(leaving), {"customers": f"{move_a.pk},{move_b.pk}"})
    assert prefilled.context["form"].initial == {"scope": "selected", "customers": [move_a.pk, move_b.pk]}

    admin_client.post(_handover_page(leaving), {
        "to_rep": successor.pk, "scope": "selected", "customers": [move_a.pk, move_b.pk], "reason": "换片区"})

    assert set(Customer.objects.filter(rep=successor)) == {move_a, move_b}
    assert list(Customer.objects.filter(rep=leaving)) == [keep]
    leaving.refresh_from_db()
    assert leaving.is_active is True
    assert leaving.phone_client.get("/api/v1/rep/customers").json()["count"] == 1


@pytest.mark.parametrize("problem", ["no_customers_selected", "to_self", "inactive_successor", "someone_elses"])
def test_refused_handovers_change_nothing(admin_client, leaving, problem):
    successor = RepFactory(name="李四", is_active=problem != "inactive_successor")
    mine = CustomerFactory(rep=leaving)
    stranger = CustomerFactory(rep=RepFactory())
    data = {
        "no_customers_selected": {"to_rep": successor.pk, "scope": "selected"},
        "to_self": {"to_rep": leaving.pk, "scope": "all"},
        "inactive_successor": {"to_rep": successor.pk, "scope": "all"},
        "someone_elses": {"to_rep": successor.pk, "scope": "selected", "customers": [stranger.pk]},
    }[problem]

    response = admin_client.post(_handover_page(leaving), {**data, "revoke_access": "on"})

    assert response.status_code == 200 and response.context["form"].errors
    assert Handover.objects.count() == 0
    mine.refresh_from_db()
    stranger.refresh_from_db()
    leaving.refresh_from_db()
    assert (mine.rep, stranger.rep == leaving, leaving.is_active) == (leaving, False, True)


def test_rep_list_action_opens_the_handover_form_for_one_rep(admin_client, leaving):
    other = RepFactory()
    one = admin_client.post("/admin/reps/rep/", {"action": "handover_customers", "_selected_action": [leaving.pk]})
    assert one.status_code == 302 and one["Location"] == _handover_page(leaving)

    two = admin_client.post("/admin/reps/rep/", {"action": "handover_customers",
                                                 "_selected_action": [leaving.pk, other.pk]})
    assert [str(m) for m in get_messages(two.wsgi_request)] == ["请只选择一位移交人"]


def test_handover_history_is_read_only_and_shown_on_both_reps(admin_client, leaving):
    successor = RepFactory(name="李四")
    customers = [CustomerFactory(name=f"餐厅{n}", rep=leaving) for n in range(2)]
    handover = customers_handover(from_rep=leaving, to_rep=successor, reason="离职")

    page = admin_client.get(f"/admin/reps/handover/{handover.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200 and all(c.name in html for c in customers)
    assert admin_client.get("/admin/reps/handover/add/").status_code == 403
    admin_client.post(f"/admin/reps/handover/{handover.pk}/change/", {"reason": "改掉"})
    admin_client.post(f"/admin/reps/handover/{handover.pk}/delete/", {"post": "yes"})
    handover.refresh_from_db()
    assert handover.reason == "离职" and HandoverItem.objects.count() == 2
    assert "移出客户记录" in admin_client.get(f"/admin/reps/rep/{leaving.pk}/change/").content.decode()
    received = admin_client.get(f"/admin/reps/rep/{successor.pk}/change/").content.decode()
    assert "接收客户记录" in received and "离职" in received


# --- Entries and visit notes ---


def test_entry_admin_is_read_only_and_filters(admin_client):
    rep, other = RepFactory(), RepFactory()
    entry = enter(rep, 1047)
    enter(rep, 1048)
    enter(other, 1047)

    filtered = admin_client.get("/admin/reps/entryevent/", {"rep__id__exact": rep.pk, "scene_kind": "in_person"})
    assert list(filtered.context["cl"].result_list) == [entry]
    by_visit = admin_client.get("/admin/reps/entryevent/", {"visit_kind": "first_visit", "credited__exact": "1"})
    assert len(by_visit.context["cl"].result_list) == 3
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    # What the filter's "今天" link sends.
    by_date = admin_client.get("/admin/reps/entryevent/", {"created_at__gte": str(midnight),
                                                            "created_at__lt": str(midnight + timedelta(days=1))})
    assert len(by_date.context["cl"].result_list) == 3

    assert admin_client.get("/admin/reps/entryevent/add/").status_code == 403
    assert admin_client.get(f"/admin/reps/entryevent/{entry.pk}/change/").status_code == 200
    admin_client.post(f"/admin/reps/entryevent/{entry.pk}/change/", {"scene_kind": "forwarded_image"})
    admin_client.post(f"/admin/reps/entryevent/{entry.pk}/delete/", {"post": "yes"})
    entry.refresh_from_db()
    assert entry.scene_kind == "in_person" and EntryEvent.objects.count() == 3


def test_entry_changelist_queries_do_not_grow_with_rows(admin_client):
    def page_queries():
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/admin/reps/entryevent/").status_code == 200
        return len(captured)

    customer = CustomerFactory()
    for _ in range(3):
        enter(RepFactory(), 1047, VisitorFactory(customer=customer))
    few = page_queries()
    for _ in range(40):
        enter(RepFactory(), 1048, VisitorFactory(customer=CustomerFactory()))
    assert page_queries() == few


def test_visit_notes_are_listed_and_not_editable(admin_client):
    rep = RepFactory()
    note = VisitNote.objects.create(rep=rep, customer=CustomerFactory(rep=rep), note="老板说下周加冻虾",
                                    latitude=Decimal("22.54"), longitude=Decimal("114.06"))
    page = admin_client.get("/admin/reps/visitnote/", {"q": "冻虾"})
    assert list(page.context["cl"].result_list) == [note]
    assert "22.540000, 114.060000" in page.content.decode()
    assert admin_client.get("/admin/reps/visitnote/add/").status_code == 403
    admin_client.post(f"/admin/reps/visitnote/{note.pk}/change/", {"note": "改"})
    note.refresh_from_db()
    assert note.note == "老板说下周加冻虾"


# --- The rep's page in the admin: QR code, entry link, login ---


def test_rep_admin_qr_endpoint_returns_the_reps_png(admin_client, client):
    rep = RepFactory(key="R7M4")

    response = admin_client.get(f"/admin/reps/rep/{rep.pk}/qr.png")

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).format == "PNG"
    page = admin_client.get(f"/admin/reps/rep/{rep.pk}/change/").content.decode()
    assert f'<img src="/admin/reps/rep/{rep.pk}/qr.png"' in page
    assert 'href="/shop/?scene=r%3DR7M4&amp;launch_scene=1047"' in page
    assert admin_client.get("/admin/reps/rep/999999/qr.png").status_code == 404
    assert client.get(f"/admin/reps/rep/{rep.pk}/qr.png")["Location"].startswith("/admin/login/")


def _new_key(admin_client) -> str:
    """The key the add form comes pre-filled with (the model's default, made fresh per form)."""
    form = admin_client.get("/admin/reps/rep/add/").content.decode()
    return re.search(r'name="key" value="(\w+)"', form).group(1)


def test_new_rep_gets_a_key_and_a_login_in_the_rep_group(admin_client, client):
    key = _new_key(admin_client)
    assert KEY_PATTERN.match(key)
    response = admin_client.post("/admin/reps/rep/add/", {
        "name": "王五", "phone": "13800000001", "territory": "南山", "is_active": "on", "key": key,
        "login_username": "wangwu", "login_password": "wangwu-pass-1",
    })

    rep = Rep.objects.get(name="王五")
    assert response.status_code == 302
    assert rep.key == key
    user = rep.user
    assert (user.username, user.is_staff, user.is_active) == ("wangwu", False, True)
    assert list(user.groups.values_list("name", flat=True)) == [REP_GROUP]
    assert client.post("/rep/login/", {"username": "wangwu", "password": "wangwu-pass-1"})["Location"] == "/rep/"


def test_login_can_be_added_to_an_existing_rep(admin_client):
    rep = RepFactory(name="赵六")
    inline_forms = {f"{prefix}-{field}": value for prefix in ("handovers_out", "handovers_in")
                    for field, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))}
    response = admin_client.post(f"/admin/reps/rep/{rep.pk}/change/", {
        "name": "赵六", "is_active": "on", "login_username": "zhaoliu", "login_password": "zhaoliu-pass-1",
        **inline_forms,
    })
    assert response.status_code == 302
    rep.refresh_from_db()
    assert rep.user.username == "zhaoliu" and rep.user.check_password("zhaoliu-pass-1")
    assert Group.objects.get(name=REP_GROUP).user_set.get() == rep.user


@pytest.mark.parametrize("login, error", [
    ({"login_username": "taken", "login_password": "good-pass-123"}, "已被使用"),
    ({"login_username": "newbie", "login_password": "short"}, "密码至少 8 个字符"),
    ({"login_username": "bad name!", "login_password": "good-pass-123"}, "请输入合法的用户名"),
    ({"login_username": "newbie"}, "请设置登录密码"),
])
def test_bad_logins_refuse_the_whole_form(admin_client, login, error):
    User.objects.create_user(username="taken", password="x")
    users = User.objects.count()

    response = admin_client.post("/admin/reps/rep/add/", {"name": "孙七", "is_active": "on",
                                                          "key": _new_key(admin_client), **login})

    assert response.status_code == 200 and error in response.content.decode()
    assert not Rep.objects.filter(name="孙七").exists() and User.objects.count() == users


def _grow(kind: str, n: int) -> None:
    for _ in range(n):
        user = User.objects.create_user(username=f"u{User.objects.count()}", password="x")
        rep, successor = RepFactory(user=user), RepFactory()
        customer = CustomerFactory(rep=rep)
        if kind == "handover":
            customers_handover(from_rep=rep, to_rep=successor, reason="换片区")
        elif kind == "visitnote":
            VisitNote.objects.create(rep=rep, customer=customer, note="拜访")


@pytest.mark.parametrize("kind", ["rep", "handover", "visitnote"])
def test_changelists_run_a_bounded_number_of_queries(admin_client, kind):
    url = f"/admin/reps/{kind}/"

    def page_queries():
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    _grow(kind, 3)
    few = page_queries()
    _grow(kind, 30)
    assert page_queries() == few


def test_rep_and_handover_pages_do_not_grow_with_history(admin_client):
    rep = RepFactory()

    def page_queries(url):
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    def hand_back_and_forth(times):
        for _ in range(times):
            other = RepFactory()
            CustomerFactory(rep=rep)
            customers_handover(from_rep=rep, to_rep=other, performed_by=User.objects.first())
            customers_handover(from_rep=other, to_rep=rep)

    hand_back_and_forth(1)
    few_rep = page_queries(f"/admin/reps/rep/{rep.pk}/change/")
    few_handover = page_queries(f"/admin/reps/handover/{Handover.objects.order_by('-pk').first().pk}/change/")
    hand_back_and_forth(10)
    assert page_queries(f"/admin/reps/rep/{rep.pk}/change/") == few_rep
    assert page_queries(f"/admin/reps/handover/{Handover.objects.order_by('-pk').first().pk}/change/") == few_handover


def test_customer_list_action_opens_the_handover_form_with_the_selection(admin_client):
    from tests.factories import CustomerFactory, RepFactory

    rep = RepFactory()
    picked = [CustomerFactory(rep=rep), CustomerFactory(rep=rep)]
    response = admin_client.post("/admin/customers/customer/", {
        "action": "handover_to_another_rep", "_selected_action": [c.pk for c in picked]})
    assert response.status_code == 302
    assert response["Location"].startswith(f"/admin/reps/rep/{rep.pk}/handover/?customers=")
    mixed = admin_client.post("/admin/customers/customer/", {
        "action": "handover_to_another_rep", "_selected_action": [picked[0].pk, CustomerFactory(rep=RepFactory()).pk]})
    assert mixed.status_code == 302 and "handover" not in mixed["Location"]
