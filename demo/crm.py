"""Seeding step for customer operations: tag groups and tags, the automatic-tag rules, each
restaurant's business type (from its name) and size, a saved segment, the welcome; then one run
of the nightly automatic tags (crm.autotags) over the seeded history.

Idempotent: groups, tags, rules and the segment are found by name; restaurants that already carry
a manual tag are left alone.
"""

import hashlib

from django.utils import timezone

from catalog.models import Category
from crm.autotags import auto_tags_recompute
from crm.models import CategoryShareRule, CustomerTag, RfmSegment, Segment, Tag, TagGroup, WelcomeSettings
from customers.models import Customer

from .base import BATCH_SIZE, DemoPlan, StepResult

BUSINESS = {  # tag ← words in the restaurant's name
    "火锅": ("火锅", "麻辣烫", "椰子鸡"), "烧烤": ("烧烤", "烤鱼", "大排档"), "奶茶": ("茶餐厅",),
    "酒楼": ("酒家", "酒楼", "食府", "私房菜", "农庄"), "快餐": ("快餐", "饭堂", "粉面", "小炒", "粥"),
}
SIZES = ("大", "中", "小")
SHARE_RULES = (("买虾", "冻虾类", "30"), ("买鱼", "冻鱼类", "30"), ("火锅料", "丸滑类/火锅料", "20"))


def _group(name: str, kind: str, order: int) -> TagGroup:
    return TagGroup.objects.get_or_create(name=name, defaults={"kind": kind, "sort_order": order})[0]


def _tag(group: TagGroup, name: str, order: int, **extra) -> Tag:
    return Tag.objects.get_or_create(group=group, name=name, defaults={"sort_order": order, **extra})[0]


def business_of(name: str) -> str | None:
    for tag, words in BUSINESS.items():
        if any(word in name for word in words):
            return tag
    return None


def size_of(plan: DemoPlan, phone: str) -> str:
    """大 one in six, 中 two in six, 小 the rest: stable per restaurant and seed."""
    pick = hashlib.sha256(f"{plan.seed}:size:{phone}".encode()).digest()[0] % 6
    return SIZES[0] if pick == 0 else SIZES[1] if pick < 3 else SIZES[2]


def crm_seed(plan: DemoPlan, *, set_based: bool = False) -> StepResult:
    """With set_based (PostgreSQL, demo/bulk.py), the manual tags are one INSERT ... SELECT with the same rules
    (business_of's words in order, size_of's digest) instead of a loop over the customers."""
    business = _group("业态", TagGroup.Kind.MANUAL, 1)
    size = _group("规模", TagGroup.Kind.MANUAL, 2)
    preference = _group("购买偏好", TagGroup.Kind.AUTO, 3)
    rfm = _group("RFM 分层", TagGroup.Kind.AUTO, 4)
    business_tags = {name: _tag(business, name, i) for i, name in enumerate(BUSINESS)}
    size_tags = {name: _tag(size, name, i) for i, name in enumerate(SIZES)}
    for i, segment in enumerate(RfmSegment):
        if not Tag.objects.filter(rfm_segment=segment).exists():
            _tag(rfm, segment.label, i, rfm_segment=segment)
    for i, (tag_name, aisle, threshold) in enumerate(SHARE_RULES):
        tag = _tag(preference, tag_name, i)
        category = Category.objects.filter(name=aisle, parent__isnull=True).first()
        if category and not CategoryShareRule.objects.filter(tag=tag).exists():
            CategoryShareRule.objects.create(category=category, threshold_percent=threshold, tag=tag)
    WelcomeSettings.current()

    tagged = set(CustomerTag.objects.filter(source=CustomerTag.Source.MANUAL).values_list("customer_id", flat=True)
                 .distinct())
    new = []
    if set_based:
        created = _manual_tags_sql(plan, business_tags, size_tags)
        _demo_segment(business_tags)
        auto_tags_recompute(now=plan.now or timezone.now())
        return StepResult("客户标签", created, len(tagged))
    for pk, name, phone in Customer.objects.order_by("pk").values_list("pk", "name", "phone").iterator(BATCH_SIZE):
        if pk in tagged:
            continue
        kind = business_of(name)
        if kind:
            new.append(CustomerTag(customer_id=pk, tag=business_tags[kind]))
        new.append(CustomerTag(customer_id=pk, tag=size_tags[size_of(plan, phone)]))
    CustomerTag.objects.bulk_create(new, batch_size=BATCH_SIZE, ignore_conflicts=True)

    _demo_segment(business_tags)
    auto_tags_recompute(now=plan.now or timezone.now())
    return StepResult("客户标签", len(new), len(tagged))


def _demo_segment(business_tags) -> None:
    if not Segment.objects.filter(name="买虾的火锅店").exists():
        segment = Segment.objects.create(name="买虾的火锅店", note="演示：火锅店里近 90 天买过虾的")
        segment.tags.set([business_tags["火锅"]])
        segment.category = Category.objects.filter(name="冻虾类", parent__isnull=True).first()
        segment.save(update_fields=["category"])


def _manual_tags_sql(plan: DemoPlan, business_tags, size_tags) -> int:
    from django.db import connection

    business = " ".join(f"WHEN c.name LIKE ANY (%s) THEN {business_tags[tag].pk}" for tag in BUSINESS)
    patterns = [[f"%{word}%" for word in words] for words in BUSINESS.values()]
    sizes = [size_tags[name].pk for name in SIZES]
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO crm_customertag (customer_id, tag_id, source, created_at)
            SELECT c.id, t.tag_id, 'manual', now()
            FROM customers_customer c
            CROSS JOIN LATERAL (
                SELECT CASE {business} END AS tag_id
                UNION ALL
                SELECT CASE WHEN d = 0 THEN %s WHEN d < 3 THEN %s ELSE %s END
                FROM (SELECT get_byte(sha256(convert_to(%s || ':size:' || c.phone, 'UTF8')), 0) %% 6 AS d) x
            ) t
            LEFT JOIN (SELECT DISTINCT customer_id FROM crm_customertag WHERE source = 'manual') m
                   ON m.customer_id = c.id
            WHERE t.tag_id IS NOT NULL AND m.customer_id IS NULL  -- (a hash anti-join, whatever the statistics say)
            ON CONFLICT DO NOTHING""", [*patterns, *sizes, str(plan.seed)])
        return cursor.rowcount
