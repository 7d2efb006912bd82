import pytest

from core.errors import ValidationFailed
from customers.models import Customer, Visitor
from customers.services import customer_bind_phone
from reps.models import EntryEvent, Scene
from reps.services import entry_record, scene_rep_key, scene_validate
from tests.factories import CustomerFactory, RepFactory, VisitorFactory
from wechat.backends import get_backend

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "code, kind",
    [
        (1047, "in_person"), (1011, "in_person"),
        (1048, "forwarded_image"), (1012, "forwarded_image"), (1049, "forwarded_image"), (1013, "forwarded_image"),
        (1007, "share_card"), (1008, "share_card"), (1044, "share_card"),
        (1001, "direct"), (1089, "direct"), (1103, "direct"), (1104, "direct"), (1023, "direct"),
        (1000, "other"), (1999, "other"), (None, "other"),
    ],
)
def test_every_listed_scene_value_is_classified(code, kind):
    assert Scene.classify(code) == kind


@pytest.mark.parametrize("scene", ["r=7F3K", "r=ABCD&s=1", "a" * 32, "!#$&'()*+,/:;=?@-._~"])
def test_valid_scenes(scene):
    assert scene_validate(scene) == scene


@pytest.mark.parametrize("scene", ["", "a" * 33, "r=%E8%99%BE", "r=虾", "r 7F3K", "r=7F3K\n"])
def test_invalid_scenes_are_refused(scene):
    with pytest.raises(ValidationFailed):
        scene_validate(scene)


def test_rep_key_is_read_from_the_scene():
    assert scene_rep_key("r=7f3k") == "7F3K"
    assert scene_rep_key("x=1&r=ABCD") == "ABCD"
    assert scene_rep_key("x=1") is None


def bind(visitor, phone="13912345678"):
    code = get_backend().issue_phone_code(openid=visitor.openid, phone=phone)
    return customer_bind_phone(visitor=visitor, phone_code=code)


def test_first_touch_wins_and_the_new_customer_belongs_to_that_rep():
    first, second = RepFactory(), RepFactory()
    visitor = VisitorFactory()

    entry = entry_record(visitor=visitor, scene=f"r={first.key}", launch_scene=1047, first_login=True)
    later = entry_record(visitor=visitor, scene=f"r={second.key}", launch_scene=1047)
    customer = bind(visitor)

    assert (entry.credited, entry.visit_kind, entry.scene_kind) == (True, "first_visit", "in_person")
    assert (later.credited, later.rep, later.visit_kind) == (False, second, "return_visit")
    assert (customer.rep, customer.acquired_by) == (first, first)
    assert Visitor.objects.get(pk=visitor.pk).first_rep == first


def test_existing_customer_rescanning_another_reps_code_is_recorded_not_credited():
    owner, other = RepFactory(), RepFactory()
    customer = CustomerFactory(rep=owner, acquired_by=owner)
    visitor = VisitorFactory(customer=customer)

    entry = entry_record(visitor=visitor, scene=f"r={other.key}", launch_scene=1047)

    assert (entry.visit_kind, entry.credited, entry.rep) == ("customer_rescan", False, other)
    customer.refresh_from_db()
    assert (customer.rep, customer.acquired_by) == (owner, owner)


def test_a_customer_who_came_in_directly_is_credited_to_the_first_rep_who_visits():
    rep = RepFactory()
    visitor = VisitorFactory()
    entry_record(visitor=visitor, launch_scene=1001, first_login=True)
    customer = bind(visitor)
    assert customer.rep is None

    entry = entry_record(visitor=visitor, scene=f"r={rep.key}", launch_scene=1047)

    customer.refresh_from_db()
    assert entry.credited and (customer.rep, customer.acquired_by) == (rep, rep)


def test_a_departed_reps_code_is_recorded_but_never_credited():
    gone = RepFactory(is_active=False)
    visitor = VisitorFactory()
    entry = entry_record(visitor=visitor, scene=f"r={gone.key}", launch_scene=1047, first_login=True)
    assert (entry.rep, entry.credited) == (gone, False)
    assert Visitor.objects.get(pk=visitor.pk).first_rep is None


def test_unknown_rep_key_is_recorded_without_a_rep():
    visitor = VisitorFactory()
    entry = entry_record(visitor=visitor, scene="r=ZZZZZZ", launch_scene=1047)
    assert (entry.rep, entry.scene) == (None, "r=ZZZZZZ")


def test_the_same_launch_is_recorded_once():
    rep = RepFactory()
    visitor = VisitorFactory()
    first = entry_record(visitor=visitor, scene=f"r={rep.key}", launch_scene=1048, launch_id="launch-1")
    again = entry_record(visitor=visitor, scene=f"r={rep.key}", launch_scene=1048, launch_id="launch-1")
    assert first.pk == again.pk
    assert EntryEvent.objects.count() == 1


def test_second_visit_without_code_is_a_return_visit():
    visitor = VisitorFactory()
    entry_record(visitor=visitor, launch_scene=1001, first_login=True)
    assert entry_record(visitor=visitor, launch_scene=1089).visit_kind == "return_visit"


@pytest.mark.parametrize("launch_scene", [999, 10000, True])
def test_bad_launch_scene_is_refused(launch_scene):
    visitor = VisitorFactory()
    with pytest.raises(ValidationFailed):
        entry_record(visitor=visitor, launch_scene=launch_scene)
    assert EntryEvent.objects.count() == 0


def test_joining_an_existing_restaurant_keeps_its_rep():
    owner, other = RepFactory(), RepFactory()
    CustomerFactory(phone="13912345678", rep=owner, acquired_by=owner)
    visitor = VisitorFactory()
    entry_record(visitor=visitor, scene=f"r={other.key}", launch_scene=1047, first_login=True)
    customer = bind(visitor, phone="13912345678")
    assert (customer.rep, customer.acquired_by) == (owner, owner)
    assert Customer.objects.count() == 1
