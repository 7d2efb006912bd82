"""The company's tags mirrored as WeCom corp tags: only tags this app created, idempotent, both
directions (a tag gained is marked, a tag lost unmarked, a tag deleted deleted), against the fake
WeCom (request shapes checked) and through the dev backend."""

import pytest
from django.utils import timezone

from crm.models import CustomerTag, Tag, TagGroup
from reps.models import WeComContact, WeComCorpTag, WeComTagMark
from reps.wecom_tags import wecom_tags_sync
from tests.factories import CustomerFactory, RepFactory
from tests.wechat.fake_server import fake_wechat, fake_wechat_server, wechat_real, wecom_real  # noqa: F401

pytestmark = pytest.mark.django_db
ADD, DEL, MARK = ("/cgi-bin/externalcontact/add_corp_tag", "/cgi-bin/externalcontact/del_corp_tag",
                  "/cgi-bin/externalcontact/mark_tag")
EDIT = "/cgi-bin/externalcontact/edit_corp_tag"


@pytest.fixture
def world():
    rep = RepFactory(name="张三", wecom_user_id="zhangsan")
    kind = TagGroup.objects.create(name="业态")
    hotpot, noodles = Tag.objects.create(group=kind, name="火锅"), Tag.objects.create(group=kind, name="面馆")
    size = TagGroup.objects.create(name="规模")
    big = Tag.objects.create(group=size, name="大店")
    restaurant = CustomerFactory(rep=rep)
    contact = WeComContact.objects.create(rep=rep, external_userid="wmEXT001", added_at=timezone.now(),
                                          customer=restaurant)
    CustomerTag.objects.create(customer=restaurant, tag=hotpot)
    CustomerTag.objects.create(customer=restaurant, tag=big)
    return {"rep": rep, "hotpot": hotpot, "noodles": noodles, "big": big, "restaurant": restaurant,
            "contact": contact}


def wecom_id(tag):
    return WeComCorpTag.objects.get(tag=tag).wecom_tag_id


def test_groups_and_tags_are_created_once_and_customers_marked(world, wecom_real):
    assert wecom_tags_sync() == (3, 1)

    adds = wecom_real.calls(ADD)
    assert sorted((c.json.get("group_name"), [t["name"] for t in c.json["tag"]]) for c in adds) == [
        ("业态", ["火锅", "面馆"]), ("规模", ["大店"])]
    groups = {g["group_name"]: g for g in wecom_real.corp_tag_groups.values()}
    assert set(groups) == {"业态", "规模"}
    [mark] = wecom_real.calls(MARK)
    assert (mark.json["userid"], mark.json["external_userid"]) == ("zhangsan", "wmEXT001")
    assert set(mark.json["add_tag"]) == {wecom_id(world["hotpot"]), wecom_id(world["big"])}
    assert "remove_tag" not in mark.json
    assert wecom_real.tag_marks[("zhangsan", "wmEXT001")] == {wecom_id(world["hotpot"]), wecom_id(world["big"])}

    # Idempotent: nothing changed, nothing sent.
    assert wecom_tags_sync() == (0, 0)
    assert len(wecom_real.calls(ADD)) == 2 and len(wecom_real.calls(MARK)) == 1


def test_both_directions_a_tag_gained_and_a_tag_lost(world, wecom_real):
    wecom_tags_sync()
    CustomerTag.objects.filter(customer=world["restaurant"], tag=world["hotpot"]).delete()
    CustomerTag.objects.create(customer=world["restaurant"], tag=world["noodles"])

    assert wecom_tags_sync() == (0, 1)

    mark = wecom_real.calls(MARK)[-1].json
    assert (mark["add_tag"], mark["remove_tag"]) == ([wecom_id(world["noodles"])], [wecom_id(world["hotpot"])])
    assert wecom_real.tag_marks[("zhangsan", "wmEXT001")] == {wecom_id(world["noodles"]), wecom_id(world["big"])}
    assert set(WeComTagMark.objects.values_list("corp_tag__tag__name", flat=True)) == {"面馆", "大店"}


def test_a_new_tag_joins_its_existing_group_by_id_and_a_deleted_tag_is_deleted(world, wecom_real):
    wecom_tags_sync()
    group_id = WeComCorpTag.objects.get(tag=world["hotpot"]).wecom_group_id
    Tag.objects.create(group=world["hotpot"].group, name="烧烤")
    gone = wecom_id(world["big"])
    CustomerTag.objects.filter(tag=world["big"]).delete()
    world["big"].delete()

    wecom_tags_sync()

    assert wecom_real.calls(ADD)[-1].json == {"tag": [{"name": "烧烤"}], "group_id": group_id}
    assert wecom_real.calls(DEL)[-1].json == {"tag_id": [gone]}
    assert gone not in wecom_real.corp_tags
    assert not WeComCorpTag.objects.filter(wecom_tag_id=gone).exists()
    # WeCom took the deleted tag off the customer; no mark call is needed for it.
    assert wecom_real.tag_marks[("zhangsan", "wmEXT001")] == {wecom_id(world["hotpot"])}


def test_only_tags_this_app_created_are_touched(world, wecom_real):
    # A tag someone made in the WeCom console, on the same customer: never removed or deleted.
    wecom_real.corp_tag_groups["etCONSOLE"] = {"group_id": "etCONSOLE", "group_name": "控制台",
                                               "tag": [{"id": "etMANUAL", "name": "手工"}]}
    wecom_real.corp_tags["etMANUAL"] = "etCONSOLE"
    wecom_real.tag_marks[("zhangsan", "wmEXT001")] = {"etMANUAL"}
    wecom_tags_sync()
    CustomerTag.objects.filter(customer=world["restaurant"]).delete()
    wecom_tags_sync()

    assert wecom_real.tag_marks[("zhangsan", "wmEXT001")] == {"etMANUAL"}
    assert all("etMANUAL" not in (c.json.get("remove_tag") or []) for c in wecom_real.calls(MARK))
    assert all("etMANUAL" not in (c.json.get("tag_id") or []) for c in wecom_real.calls(DEL))


def test_a_refused_mark_is_retried_next_run_and_removed_contacts_are_not_marked(world, wecom_real):
    wecom_real.respond_once(MARK, json={"errcode": 40096, "errmsg": "invalid external userid"})
    assert wecom_tags_sync() == (3, 0)
    assert WeComTagMark.objects.count() == 0
    assert wecom_tags_sync() == (0, 1)
    WeComContact.objects.filter(pk=world["contact"].pk).update(status=WeComContact.Status.REMOVED_BY_CUSTOMER)
    CustomerTag.objects.create(customer=world["restaurant"], tag=world["noodles"])
    assert wecom_tags_sync() == (0, 0)
    assert WeComTagMark.objects.count() == 0


def test_dev_backend_mirrors_too(world, settings):
    from wechat.models import DevMessage

    settings.WECHAT_BACKEND = "dev"
    assert wecom_tags_sync() == (3, 1)
    assert wecom_tags_sync() == (0, 0)
    marked = DevMessage.objects.get(kind=DevMessage.Kind.WECOM_MARK, to="wmEXT001")
    assert set(marked.data["tags"]) == {wecom_id(world["hotpot"]), wecom_id(world["big"])}


def test_a_tag_renamed_here_is_renamed_in_wecom_once_and_stays_marked(world, wecom_real):
    wecom_tags_sync()
    hotpot_id = wecom_id(world["hotpot"])
    Tag.objects.filter(pk=world["hotpot"].pk).update(name="川味火锅")

    assert wecom_tags_sync() == (1, 0)

    assert wecom_real.calls(EDIT)[-1].json == {"id": hotpot_id, "name": "川味火锅"}
    group = wecom_real.corp_tag_groups[wecom_real.corp_tags[hotpot_id]]
    assert [t["name"] for t in group["tag"] if t["id"] == hotpot_id] == ["川味火锅"]
    assert wecom_id(world["hotpot"]) == hotpot_id  # the same WeCom tag: its marks stay
    assert hotpot_id in wecom_real.tag_marks[("zhangsan", "wmEXT001")]
    assert wecom_tags_sync() == (0, 0)  # nothing more to send
    assert len(wecom_real.calls(EDIT)) == 1


def test_dev_backend_renames_too(world, settings):
    from wechat.models import DevMessage

    settings.WECHAT_BACKEND = "dev"
    wecom_tags_sync()
    Tag.objects.filter(pk=world["big"].pk).update(name="大型店")

    assert wecom_tags_sync() == (1, 0)
    assert DevMessage.objects.get(kind=DevMessage.Kind.WECOM_TAG, to=wecom_id(world["big"])).text == "大型店"


@pytest.mark.parametrize("tag_id, name", [("", "火锅"), ("et" + "0" * 22, ""), ("et" + "0" * 22, "长" * 31),
                                          (["a", "b"], "火锅"), ("et" + "0" * 22, None)])
def test_a_bad_rename_is_refused_before_any_call(db, wecom_real, tag_id, name):
    from core.errors import ValidationFailed
    from wechat.backends import get_backend

    with pytest.raises(ValidationFailed):
        get_backend().wecom_edit_corp_tag(tag_id=tag_id, name=name)
    assert wecom_real.calls(EDIT) == []
