import json
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import sql
from orders.models import Order
from reps import feed
from reps.feed import FEED_SALT, feed_token_make
from reps.models import EntryEvent, Handover, VisitNote
from reps.qr import rep_entry_path
from reps.services import customers_handover, entry_record
from tests.factories import CustomerFactory, RepFactory, VisitorFactory

pytestmark = pytest.mark.django_db


def rep_with_login(name="张三"):
    user = User.objects.create_user(username=f"rep-{name}", password="rep12345")
    return RepFactory(name=name, user=user), user


@pytest.fixture
def rep_client(client):
    rep, user = rep_with_login()
    client.force_login(user)
    client.rep = rep
    return client


def paid_order(customer, rep, total="188.00", paid_at=None):
    visitor = VisitorFactory(customer=customer)
    now = paid_at or timezone.now()
    return Order.objects.create(
        number=f"2611{Order.objects.count():010d}", customer=customer, visitor=visitor, rep=rep,
        status=Order.Status.PAID, idempotency_key=f"k{Order.objects.count():08d}",
        delivery_date=timezone.localdate() + timedelta(days=1), subtotal=Decimal(total), total=Decimal(total),
        restaurant_name=customer.name, contact_name="王", phone=customer.phone, address="深圳市福田区 1 号",
        expires_at=now, paid_at=now,
    )


def test_rep_sees_only_their_own_customers(rep_client):
    mine = CustomerFactory(name="我的客户", rep=rep_client.rep)
    other_rep = RepFactory()
    theirs = CustomerFactory(name="别人的客户", rep=other_rep)

    names = [c["name"] for c in rep_client.get("/api/v1/rep/customers").json()["results"]]

    assert names == ["我的客户"]
    assert rep_client.get(f"/api/v1/rep/customers/{theirs.pk}").status_code == 404
    assert rep_client.post(f"/api/v1/rep/customers/{theirs.pk}/notes", {"note": "拜访"},
                           content_type="application/json").status_code == 404
    assert rep_client.get(f"/api/v1/rep/customers/{mine.pk}").status_code == 200


def test_feed_shows_only_my_customers_paid_orders_and_polls_by_time(rep_client):
    mine = CustomerFactory(rep=rep_client.rep)
    other = RepFactory()
    earlier = paid_order(mine, rep_client.rep, paid_at=timezone.now() - timedelta(minutes=5))
    paid_order(CustomerFactory(rep=other), other)

    first = rep_client.get("/api/v1/rep/feed").json()
    assert [o["number"] for o in first["orders"]] == [earlier.number]

    newer = paid_order(mine, rep_client.rep, total="99.50")
    polled = rep_client.get("/api/v1/rep/feed", {"after": earlier.paid_at.isoformat()}).json()
    assert [(o["number"], o["total"]) for o in polled["orders"]] == [(newer.number, "99.50")]
    assert rep_client.get("/api/v1/rep/feed", {"after": "yesterday"}).status_code == 400


def test_summary_counts_entries_by_scene_today(rep_client):
    rep = rep_client.rep
    for launch in (1047, 1047, 1048, 1007):
        entry_record(visitor=VisitorFactory(), scene=f"r={rep.key}", launch_scene=launch, first_login=True)
    entry_record(visitor=VisitorFactory(), scene=f"r={RepFactory().key}", launch_scene=1047)

    summary = rep_client.get("/api/v1/rep/summary").json()

    assert summary["entries_today"] == {"in_person": 2, "forwarded_image": 1, "share_card": 1, "direct": 0,
                                        "other": 0}
    assert summary["rep"]["scene"] == f"r={rep.key}"


def test_visit_note_with_location(rep_client):
    customer = CustomerFactory(rep=rep_client.rep)
    response = rep_client.post(f"/api/v1/rep/customers/{customer.pk}/notes",
                               {"note": "老板说下周加冻虾", "latitude": "22.54", "longitude": "114.06"},
                               content_type="application/json")
    assert response.status_code == 201
    note = VisitNote.objects.get()
    assert (note.rep, note.customer, note.latitude) == (rep_client.rep, customer, Decimal("22.540000"))
    empty = rep_client.post(f"/api/v1/rep/customers/{customer.pk}/notes", {"note": "  "},
                            content_type="application/json")
    assert empty.status_code == 400 and VisitNote.objects.count() == 1


@pytest.mark.parametrize("path", ["/api/v1/rep/me", "/api/v1/rep/summary", "/api/v1/rep/customers",
                                  "/api/v1/rep/inbox", "/api/v1/rep/feed"])
def test_people_who_are_not_reps_are_refused(client, path):
    """What the assistant's shell calls: anonymous 401, anyone not an active rep 403 not_a_rep; the
    page's JS sends both to the rep login."""
    anonymous = client.get(path)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"

    client.force_login(User.objects.create_user(username="clerk", password="x12345678"))
    clerk = client.get(path)
    assert clerk.status_code == 403 and clerk.json()["error"]["code"] == "not_a_rep"

    left, left_user = rep_with_login("已离职")
    left.is_active = False
    left.save()
    client.force_login(left_user)
    gone = client.get(path)
    assert gone.status_code == 403 and gone.json()["error"]["code"] == "not_a_rep"
    assert left.key not in gone.content.decode()


def test_me_api_answers_each_rep_with_their_own_data_only(client):
    first, first_user = rep_with_login("甲")
    second, second_user = rep_with_login("乙")

    client.force_login(first_user)
    mine = client.get("/api/v1/rep/me").json()
    client.force_login(second_user)  # same browser, another rep
    theirs = client.get("/api/v1/rep/me").json()

    assert (mine["rep"]["id"], mine["rep"]["name"], mine["rep"]["key"]) == (first.pk, "甲", first.key)
    assert (theirs["rep"]["id"], theirs["rep"]["name"], theirs["rep"]["key"]) == (second.pk, "乙", second.key)
    assert first.key in mine["share_url"] and first.key in mine["qr_url"]
    assert second.key in theirs["share_url"] and second.key in theirs["qr_url"]
    assert first.key not in str(theirs)
    # Each feed token is its own rep's.
    signer = signing.TimestampSigner(salt=FEED_SALT)
    assert signer.unsign(mine["feed_token"]) == str(first.pk)
    assert signer.unsign(theirs["feed_token"]) == str(second.pk)


def test_me_api_is_one_query_after_the_session(rep_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):  # the session (when not cached), the user with the rep
        assert rep_client.get("/api/v1/rep/me").status_code == 200


def test_handover_moves_customers_keeps_history_and_revokes_access_at_once(rep_client):
    leaving = rep_client.rep
    successor, _ = rep_with_login("李四")
    customers = [CustomerFactory(rep=leaving, acquired_by=leaving) for _ in range(3)]
    assert rep_client.get("/api/v1/rep/customers").json()["count"] == 3

    handover = customers_handover(from_rep=leaving, to_rep=successor, reason="离职", revoke_access=True)

    assert handover.customer_count == 3 and handover.items.count() == 3
    for customer in customers:
        customer.refresh_from_db()
        assert (customer.rep, customer.acquired_by) == (successor, leaving)
    assert rep_client.get("/api/v1/rep/customers").status_code in (401, 403)
    assert rep_client.get("/api/v1/rep/me").status_code == 401  # logged out: the login is inactive
    assert Handover.objects.get().from_rep == leaving


def test_partial_handover_of_selected_customers(rep_client):
    leaving = rep_client.rep
    successor, _ = rep_with_login("王五")
    keep, move = CustomerFactory(rep=leaving), CustomerFactory(rep=leaving)
    customers_handover(from_rep=leaving, to_rep=successor, customer_ids=[move.pk], reason="换片区")
    keep.refresh_from_db()
    move.refresh_from_db()
    assert (keep.rep, move.rep) == (leaving, successor)
    assert rep_client.get("/api/v1/rep/customers").json()["count"] == 1


def test_handover_refuses_customers_of_someone_else(rep_client):
    from core.errors import ValidationFailed

    successor, _ = rep_with_login("赵六")
    stranger = CustomerFactory(rep=RepFactory())
    with pytest.raises(ValidationFailed):
        customers_handover(from_rep=rep_client.rep, to_rep=successor, customer_ids=[stranger.pk])
    stranger.refresh_from_db()
    assert stranger.rep != successor and Handover.objects.count() == 0


def test_qr_code_and_card(rep_client):
    png = rep_client.get("/rep/qr.png")
    assert png["Content-Type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    card = rep_client.get("/rep/card/")
    assert card.status_code == 200
    assert rep_entry_path(rep_client.rep) == f"/shop/?scene=r%3D{rep_client.rep.key}&launch_scene=1047"


@pytest.mark.parametrize("n", [5, 500])
def test_assistant_endpoints_query_counts_are_constant(rep_client, n, django_assert_max_num_queries):
    rep = rep_client.rep
    customers = CustomerFactory.create_batch(n, rep=rep)
    for customer in customers[:5]:
        paid_order(customer, rep)
        EntryEvent.objects.create(visitor=VisitorFactory(), rep=rep, scene_code=1047, scene_kind="in_person",
                                  visit_kind="first_visit")
    with django_assert_max_num_queries(6):
        assert rep_client.get("/api/v1/rep/customers").status_code == 200
    with django_assert_max_num_queries(6):
        assert rep_client.get("/api/v1/rep/feed").status_code == 200
    with django_assert_max_num_queries(10):
        assert rep_client.get("/api/v1/rep/summary").status_code == 200
    with django_assert_max_num_queries(8):
        assert rep_client.get(f"/api/v1/rep/customers/{customers[0].pk}").status_code == 200


def test_session_login_records_the_launch_and_a_bad_scene_changes_nothing(api_client, client):
    from customers.models import Visitor

    rep = RepFactory()
    code = client.post("/wechat-dev/login").json()["code"]
    bad = api_client.post("/api/v1/auth/session", {"code": code, "scene": "r=%E8%99%BE", "launch_scene": 1047},
                          format="json")
    assert bad.status_code == 400 and Visitor.objects.count() == 0

    code = client.post("/wechat-dev/login").json()["code"]
    response = api_client.post("/api/v1/auth/session",
                               {"code": code, "scene": f"r={rep.key}", "launch_scene": 1047, "launch_id": "L1"},
                               format="json")
    assert response.status_code == 201
    entry = EntryEvent.objects.get()
    assert (entry.rep, entry.scene_kind, entry.visit_kind, entry.credited) == (rep, "in_person", "first_visit", True)
    token = response.json()["token"]
    again = api_client.post("/api/v1/entries", {"launch_scene": 1089, "launch_id": "L2"}, format="json",
                            HTTP_AUTHORIZATION=f"Visitor {token}")
    assert again.status_code == 204
    assert EntryEvent.objects.order_by("id").last().visit_kind == "return_visit"


def test_nearby_api_lists_only_my_lapsing_customers(rep_client):
    me = rep_client.rep
    mine = CustomerFactory(rep=me, name="我的流失客户", latitude=Decimal("22.5440"), longitude=Decimal("114.0579"),
                           status="churned")
    CustomerFactory(rep=RepFactory(), name="别人的", latitude=Decimal("22.5431"), longitude=Decimal("114.0579"),
                    status="churned")
    response = rep_client.get("/api/v1/rep/nearby", {"latitude": "22.5431", "longitude": "114.0579"})
    assert [(c["id"], c["distance_km"]) for c in response.json()["customers"]] == [(mine.pk, 0.1)]
    assert rep_client.get("/api/v1/rep/nearby", {"latitude": "x", "longitude": "1"}).status_code == 400


def test_inbox_shows_my_churn_alerts_only(rep_client):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from django.db import transaction

    from customers.churn import churn_sweep, customer_record_payment

    night = datetime(2026, 11, 24, 2, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    for rep in (rep_client.rep, RepFactory()):
        customer = CustomerFactory(rep=rep, name=f"{rep.name}的客户")
        with transaction.atomic():
            customer_record_payment(customer_id=customer.pk, paid_at=night - timedelta(days=40))
    churn_sweep(now=night)
    messages = rep_client.get("/api/v1/rep/inbox").json()["messages"]
    assert [m["title"] for m in messages] == [f"已流失：{rep_client.rep.name}的客户"]


def test_feed_poll_with_a_signed_token_shows_only_my_new_orders_and_stops_when_i_leave(client, rep_client):
    rep = rep_client.rep
    mine = CustomerFactory(rep=rep)
    earlier = paid_order(mine, rep, paid_at=timezone.now() - timedelta(minutes=5))
    other = RepFactory()
    paid_order(CustomerFactory(rep=other), other)
    token = feed_token_make(rep)

    first = client.get("/api/v1/rep/feed/poll", HTTP_X_FEED_TOKEN=token).json()
    assert [o["number"] for o in first["orders"]] == [earlier.number]
    newer = paid_order(mine, rep, total="99.50")
    polled = client.get("/api/v1/rep/feed/poll", {"after": earlier.paid_at.isoformat()}, HTTP_X_FEED_TOKEN=token)
    assert [(o["number"], o["total"]) for o in polled.json()["orders"]] == [(newer.number, "99.50")]

    assert client.get("/api/v1/rep/feed/poll", HTTP_X_FEED_TOKEN=token + "x").status_code == 401
    assert client.get("/api/v1/rep/feed/poll", {"after": "nope"}, HTTP_X_FEED_TOKEN=token).status_code == 400

    rep.is_active = False
    rep.save()
    gone = client.get("/api/v1/rep/feed/poll", HTTP_X_FEED_TOKEN=token)
    assert gone.status_code == 403 and gone.json()["error"]["code"] == "not_a_rep"


def test_feed_poll_is_one_query(client, rep_client, django_assert_num_queries):
    for _ in range(5):
        paid_order(CustomerFactory(rep=rep_client.rep), rep_client.rep)
    with django_assert_num_queries(1):
        response = client.get("/api/v1/rep/feed/poll", HTTP_X_FEED_TOKEN=feed_token_make(rep_client.rep))
    assert len(response.json()["orders"]) == 5


def test_feed_poll_latest_is_exact_so_the_newest_order_is_not_sent_again(client, rep_client):
    rep = rep_client.rep
    order = paid_order(CustomerFactory(rep=rep), rep,
                       paid_at=timezone.now().replace(microsecond=123456) - timedelta(minutes=1))
    token = feed_token_make(rep)

    first = client.get("/api/v1/rep/feed/poll", HTTP_X_FEED_TOKEN=token).json()
    again = client.get("/api/v1/rep/feed/poll", {"after": first["latest"]}, HTTP_X_FEED_TOKEN=token)

    assert first["latest"] == order.paid_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.123456Z")
    assert [o["paid_at"] for o in first["orders"]] == [first["latest"]]
    assert again.json() == {"orders": [], "latest": first["latest"]}  # nothing new: the page asks the same
    assert again["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert again["Content-Type"] == "application/json"


def test_feed_poll_answers_what_the_orm_path_answers(rep_client):
    """PostgreSQL builds the JSON in SQL; SQLite (`make run`) in Python: the same bytes."""
    rep = rep_client.rep
    base = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    customer = CustomerFactory(rep=rep, name="湘味\"小馆'")  # quotes survive both
    for n in range(35):  # more than the page gets at once
        paid_order(customer, rep, total=f"{100 + n}.5", paid_at=base + timedelta(minutes=n, microseconds=n * 1001))
    paid_order(CustomerFactory(rep=RepFactory()), RepFactory())
    cut = base + timedelta(minutes=20)

    for after in (None, cut, base + timedelta(days=1)):
        assert feed._feed_sql(rep_id=rep.pk, after=after) == feed._feed_orm(rep_id=rep.pk, after=after)
    active, orders, latest = feed._feed_sql(rep_id=rep.pk, after=None)
    rows = json.loads(f"[{orders}]")
    assert active and len(rows) == feed.FEED_LIMIT and latest == rows[0]["paid_at"]
    assert rows[0]["restaurant_name"] == "湘味\"小馆'" and rows[0]["total"] == "134.50"
    assert rows[0]["status_label"] == "已付款" and rows[0]["customer_id"] == customer.pk
    assert [r["paid_at"] for r in rows] == sorted((r["paid_at"] for r in rows), reverse=True)
    rep.is_active = False
    rep.save()
    assert feed._feed_sql(rep_id=rep.pk, after=None) == feed._feed_orm(rep_id=rep.pk, after=None) == (
        False, None, None)
    assert feed._feed_sql(rep_id=999999, after=None)[0] is False


def test_feed_poll_prepares_its_statement_once_per_connection(client, rep_client):
    token = feed_token_make(rep_client.rep)
    with connection.cursor() as cursor:  # as on a connection that has not polled yet
        cursor.execute("DEALLOCATE ALL")
    sql._PREPARED.pop(connection.connection, None)

    def poll(**params):
        with CaptureQueriesContext(connection) as sent:
            assert client.get("/api/v1/rep/feed/poll", params, HTTP_X_FEED_TOKEN=token).status_code == 200
        return [query["sql"] for query in sent]

    first, again = poll(), poll()
    after = timezone.now().isoformat()
    first_after, again_after = poll(after=after), poll(after=after)

    assert len(first) == 2 and first[0].startswith("PREPARE reps_feed_poll (bigint)")
    assert "EXECUTE reps_feed_poll (" in first[1]
    assert len(again) == 1 and "EXECUTE reps_feed_poll (" in again[0]
    assert first_after[0].startswith("PREPARE reps_feed_poll_after (timestamptz, bigint)")
    assert len(again_after) == 1 and "EXECUTE reps_feed_poll_after (" in again_after[0]


def test_feed_poll_refuses_other_methods(client, rep_client):
    token = feed_token_make(rep_client.rep)
    assert client.post("/api/v1/rep/feed/poll", HTTP_X_FEED_TOKEN=token).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_feed_poll_recovers_when_the_database_connection_went_away(client):
    """The poll's own statement is its health check (Django's "SELECT 1", with DB_HEALTH_CHECKS=1, is
    skipped): run again on a new connection if the kept one is gone or has lost its prepared
    statements, so a poll never fails for a stale connection."""
    rep, _ = rep_with_login("钱九")
    order = paid_order(CustomerFactory(rep=rep), rep)
    token = feed_token_make(rep)
    assert client.get("/api/v1/rep/feed/poll", HTTP_X_FEED_TOKEN=token).status_code == 200

    connection.connection.close()  # the database restarted, or a pooler dropped the connection
    dropped = client.get("/api/v1/rep/feed/poll", HTTP_X_FEED_TOKEN=token)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # a connection that lost its prepared statements
    deallocated = client.get("/api/v1/rep/feed/poll", HTTP_X_FEED_TOKEN=token)

    for response in (dropped, deallocated):
        assert response.status_code == 200
        assert [o["number"] for o in response.json()["orders"]] == [order.number]


def test_won_back_customers_are_credited_on_the_reps_summary_and_the_admin_dashboard(rep_client, admin_client):
    from django.db import transaction

    from customers.churn import churn_sweep, customer_record_payment

    rep = rep_client.rep
    customer = CustomerFactory(rep=rep)
    with transaction.atomic():
        customer_record_payment(customer_id=customer.pk, paid_at=timezone.now() - timedelta(days=45))
    churn_sweep()
    with transaction.atomic():
        customer_record_payment(customer_id=customer.pk, paid_at=timezone.now())

    assert rep_client.get("/api/v1/rep/summary").json()["won_back_month"] == 1
    page = admin_client.get("/admin/reps/rep/dashboard/").content.decode()
    assert 'data-testid="total-won-back">1<' in page
    assert 'data-testid="total-churned">1<' in page


# One door in Futian, Shenzhen: its pin as WeChat/Amap give it (GCJ-02) and where a phone's GPS, which
# is what a browser's navigator.geolocation answers with, puts the same spot (WGS-84): 606 m apart.
DOOR_GCJ02 = (Decimal("22.540379"), Decimal("114.062979"))
DOOR_WGS84 = ("22.543096", "114.057865")


def test_nearby_converts_a_browser_fix_to_the_pins_datum_before_measuring(rep_client):
    door = CustomerFactory(rep=rep_client.rep, name="门口的流失客户", latitude=DOOR_GCJ02[0], longitude=DOOR_GCJ02[1],
                           status="churned")
    as_wgs84 = rep_client.get("/api/v1/rep/nearby", {"latitude": DOOR_WGS84[0], "longitude": DOOR_WGS84[1],
                                                     "coordinate_system": "wgs84", "radius_km": "0.1"})
    assert as_wgs84.status_code == 200
    body = as_wgs84.json()
    assert [c["id"] for c in body["customers"]] == [door.pk]
    assert body["customers"][0]["distance_km"] < 0.005  # the same door, within a few metres
    assert abs(Decimal(body["origin"]["latitude"]) - DOOR_GCJ02[0]) < Decimal("0.00005")
    assert abs(Decimal(body["origin"]["longitude"]) - DOOR_GCJ02[1]) < Decimal("0.00005")
    # Taken as GCJ-02 (the old behaviour) the same fix is 606 m off: outside a 100 m radius.
    as_is = rep_client.get("/api/v1/rep/nearby", {"latitude": DOOR_WGS84[0], "longitude": DOOR_WGS84[1],
                                                  "radius_km": "0.1"})
    assert as_is.json()["customers"] == []
    assert as_is.json()["origin"] == {"latitude": DOOR_WGS84[0], "longitude": DOOR_WGS84[1]}


def test_nearby_refuses_an_unknown_coordinate_system(rep_client):
    response = rep_client.get("/api/v1/rep/nearby", {"latitude": "22.54", "longitude": "114.06",
                                                     "coordinate_system": "bd09"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter" and "坐标系" in response.json()["error"]["message"]


def test_a_visit_note_from_a_browser_is_stored_in_the_pins_datum(rep_client):
    customer = CustomerFactory(rep=rep_client.rep)
    response = rep_client.post(f"/api/v1/rep/customers/{customer.pk}/notes",
                               {"note": "门口拜访", "latitude": DOOR_WGS84[0], "longitude": DOOR_WGS84[1],
                                "coordinate_system": "wgs84"}, content_type="application/json")
    assert response.status_code == 201
    note = VisitNote.objects.get()
    assert abs(note.latitude - DOOR_GCJ02[0]) < Decimal("0.00005")
    assert abs(note.longitude - DOOR_GCJ02[1]) < Decimal("0.00005")
    plain = rep_client.post(f"/api/v1/rep/customers/{customer.pk}/notes",
                            {"note": "再访", "latitude": "22.540379", "longitude": "114.062979"},
                            content_type="application/json")
    assert plain.status_code == 201
    assert VisitNote.objects.get(pk=plain.json()["id"]).latitude == DOOR_GCJ02[0]  # gcj02 when not said


def test_a_visit_note_with_an_unknown_coordinate_system_is_refused_and_nothing_is_stored(rep_client):
    customer = CustomerFactory(rep=rep_client.rep)
    response = rep_client.post(f"/api/v1/rep/customers/{customer.pk}/notes",
                               {"note": "拜访", "latitude": "22.54", "longitude": "114.06", "coordinate_system": "bd09"},
                               content_type="application/json")
    assert response.status_code == 400
    assert not VisitNote.objects.exists()
