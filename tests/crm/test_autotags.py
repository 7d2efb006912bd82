"""Automatic tags: the pure rules at their edges, RFM quintiles on known data, and the nightly SQL
held to the pure rules on generated data."""

import random
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from crm.autotags import auto_tags_recompute, auto_tags_wanted_python, auto_tags_wanted_sql
from crm.models import AutoTagSettings, CategoryShareRule, CustomerSpend, CustomerTag, RfmSegment, Tag, TagGroup
from crm.rules import PaidOrder, ShareRule, category_shares_met, quintile_scores, rfm_segment, rfm_segments
from orders.models import Order
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory, SubCategoryFactory

from .helpers import paid_order

D = Decimal
NOW = datetime(2026, 11, 24, 2, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
SHRIMP, SHRIMP_SHELF, FISH = 1, 11, 2
PARENTS = {SHRIMP: None, SHRIMP_SHELF: SHRIMP, FISH: None}


def order(customer_id, *, days_ago, lines=(), total=None, seconds=0):
    paid_at = NOW - timedelta(days=days_ago, seconds=seconds)
    amount = sum((D(a) for _, a in lines), D("0"))
    return PaidOrder(customer_id=customer_id, paid_at=paid_at, total=D(total) if total else amount,
                     lines=tuple((c, D(a)) for c, a in lines))


def shares(orders, threshold="30", category=SHRIMP):
    return category_shares_met(orders, now=NOW, window_days=90, parents=PARENTS,
                               rules=[ShareRule(category_id=category, threshold_percent=D(threshold), tag_id=7)])


# --- Category share at its edges ----------------------------------------------------------------

def test_exactly_the_threshold_gets_the_tag_and_a_fen_less_does_not():
    assert shares([order(1, days_ago=3, lines=[(SHRIMP, "30.00"), (FISH, "70.00")])]) == {(1, 7)}
    assert shares([order(1, days_ago=3, lines=[(SHRIMP, "29.99"), (FISH, "70.01")])]) == set()
    assert shares([order(1, days_ago=3, lines=[(SHRIMP, "29.99"), (FISH, "70.01")])], threshold="29.99") == {(1, 7)}


def test_an_aisle_rule_counts_its_shelves_and_a_shelf_rule_only_itself():
    orders = [order(1, days_ago=3, lines=[(SHRIMP_SHELF, "20"), (SHRIMP, "20"), (FISH, "60")])]
    assert shares(orders, threshold="40") == {(1, 7)}
    assert shares(orders, threshold="20", category=SHRIMP_SHELF) == {(1, 7)}
    assert shares(orders, threshold="21", category=SHRIMP_SHELF) == set()


def test_the_window_is_the_last_90_days_its_first_moment_excluded():
    inside = order(1, days_ago=90, seconds=-1, lines=[(SHRIMP, "100")])
    on_the_edge = order(2, days_ago=90, lines=[(SHRIMP, "100")])
    future = order(3, days_ago=0, seconds=-60, lines=[(SHRIMP, "100")])
    assert shares([inside, on_the_edge, future]) == {(1, 7)}


def test_spend_over_the_window_not_per_order_and_nothing_without_spend():
    orders = [order(1, days_ago=3, lines=[(SHRIMP, "50")]), order(1, days_ago=100, lines=[(FISH, "1000")]),
              order(1, days_ago=5, lines=[(FISH, "150")])]
    assert shares(orders, threshold="25") == {(1, 7)}  # 50 of 200 in the window
    assert shares(orders, threshold="25.01") == set()
    assert shares([order(2, days_ago=3, lines=[(SHRIMP, "0")])]) == set()


# --- RFM -----------------------------------------------------------------------------------------

def test_quintiles_of_ten_distinct_values_are_two_per_score():
    assert quintile_scores({i: i * 10 for i in range(1, 11)}) == {
        1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 3, 7: 4, 8: 4, 9: 5, 10: 5}


def test_quintiles_keep_ties_together_at_their_first_rank():
    # Six customers with one order, four with more: the six share the lowest score.
    values = {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 2, 8: 3, 9: 3, 10: 9}
    assert quintile_scores(values) == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 4, 8: 4, 9: 4, 10: 5}
    assert quintile_scores({1: 5, 2: 5}) == {1: 1, 2: 1}
    assert quintile_scores({}) == {}


@pytest.mark.parametrize(("r", "f", "m", "segment"), [
    (5, 5, 5, RfmSegment.IMPORTANT_VALUE), (3, 3, 3, RfmSegment.IMPORTANT_VALUE),
    (3, 2, 3, RfmSegment.IMPORTANT_DEVELOP), (2, 3, 3, RfmSegment.IMPORTANT_KEEP),
    (2, 2, 3, RfmSegment.IMPORTANT_WIN_BACK), (1, 1, 5, RfmSegment.IMPORTANT_WIN_BACK),
    (3, 5, 2, RfmSegment.ORDINARY), (5, 1, 1, RfmSegment.ORDINARY),
    (2, 5, 2, RfmSegment.LOST), (1, 1, 1, RfmSegment.LOST),
])
def test_the_rfm_table(r, f, m, segment):
    assert rfm_segment(r, f, m) == segment


def test_rfm_classes_on_known_customers():
    orders = []
    # Customers 1..10: customer i last ordered i days ago... reversed so 10 is the most recent.
    for i in range(1, 11):
        orders.append(order(i, days_ago=20 - i, total=str(100 * i)))
    # Frequency: customers 1 and 2 order often (high F, low R, low M) but small.
    for _ in range(5):
        orders += [order(1, days_ago=200, total="1"), order(2, days_ago=200, total="1")]
    orders.append(order(11, days_ago=400, total="99999"))  # only before the window: lost
    segments = rfm_segments(orders, now=NOW, window_days=365)
    # R: 1,2→1; 3,4→2; 5,6→3; 7,8→4; 9,10→5. M: 1→105,2→205 low; ... 10→1000 high.
    # F: 1 and 2 have 6 orders (rank 9 → 5), the rest 1 (rank 1 → 1).
    assert segments == {
        1: RfmSegment.LOST, 2: RfmSegment.LOST,  # R 1, M 1 (105, 205 are the lowest spends)
        3: RfmSegment.LOST, 4: RfmSegment.LOST,  # R 2, M 2
        5: RfmSegment.IMPORTANT_DEVELOP, 6: RfmSegment.IMPORTANT_DEVELOP,  # R 3, F 1, M 3
        7: RfmSegment.IMPORTANT_DEVELOP, 8: RfmSegment.IMPORTANT_DEVELOP,
        9: RfmSegment.IMPORTANT_DEVELOP, 10: RfmSegment.IMPORTANT_DEVELOP,
        11: RfmSegment.LOST,
    }


def test_rfm_high_frequency_and_spend_make_important_value():
    orders = [order(c, days_ago=c, total="10") for c in range(1, 6)]  # five small, recent-ish customers
    orders += [order(9, days_ago=d, total="500") for d in (1, 2, 3)]  # frequent, big, recent
    segments = rfm_segments(orders, now=NOW, window_days=365)
    assert segments[9] == RfmSegment.IMPORTANT_VALUE
    assert segments[5] == RfmSegment.LOST  # least recent, least spend


# --- The nightly SQL --------------------------------------------------------------------------

@pytest.fixture
def catalogue(db):
    shrimp = CategoryFactory(name="冻虾类")
    shelf = SubCategoryFactory(name="虾仁", parent=shrimp)
    fish = SubCategoryFactory(name="鱼柳")
    products = [ProductFactory(category=shelf), ProductFactory(category=shrimp), ProductFactory(category=fish),
                ProductFactory(category=fish)]
    preference = TagGroup.objects.create(name="购买偏好", kind=TagGroup.Kind.AUTO)
    buys_shrimp = Tag.objects.create(group=preference, name="买虾")
    buys_fish = Tag.objects.create(group=preference, name="买鱼")
    CategoryShareRule.objects.create(category=shrimp, threshold_percent=D("30"), tag=buys_shrimp)
    CategoryShareRule.objects.create(category=fish, threshold_percent=D("50"), tag=buys_fish)
    rfm = TagGroup.objects.create(name="RFM 分层", kind=TagGroup.Kind.AUTO)
    rfm_tags = {segment: Tag.objects.create(group=rfm, name=segment.label, rfm_segment=segment)
                for segment in RfmSegment}
    return {"products": products, "shrimp": buys_shrimp, "fish": buys_fish, "rfm": rfm_tags}


def _pairs():
    return set(CustomerTag.objects.filter(source=CustomerTag.Source.AUTO).values_list("customer_id", "tag_id"))


@pytest.mark.django_db
def test_the_sql_agrees_with_the_pure_rules_on_generated_data(catalogue):
    rng = random.Random(15)
    products = catalogue["products"]
    customers = [CustomerFactory() for _ in range(40)]
    for customer in customers:
        for _ in range(rng.randint(0, 6)):
            days = rng.choice([1, 5, 30, 89, 90, 91, 200, 364, 365, 366, 500])
            picked = rng.sample(products, rng.randint(1, 3))
            lines = [(p, rng.choice(["10.00", "30.00", "70.00", "33.33", "100.00"])) for p in picked]
            status = rng.choice([Order.Status.COMPLETED] * 4 + [Order.Status.CANCELLED])
            paid_order(customer, lines, now=NOW, days_ago=days, status=status, paid=rng.random() > 0.1)
    # Exactly on the edge: 30 of 100 on shrimp.
    edge = CustomerFactory()
    paid_order(edge, [(products[0], "30.00"), (products[2], "70.00")], now=NOW, days_ago=2)

    wanted = auto_tags_wanted_python(now=NOW)
    result = auto_tags_recompute(now=NOW)
    statement, params = auto_tags_wanted_sql(now=NOW, rules=AutoTagSettings.current())
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        raw = set(cursor.fetchall())

    assert _pairs() == wanted == raw  # the nightly run (from the spend summary) and the one-statement SQL
    assert result.wanted == len(wanted) == result.added
    assert (edge.pk, catalogue["shrimp"].pk) in wanted
    assert {tag for _, tag in wanted} >= {catalogue["shrimp"].pk, catalogue["fish"].pk}
    assert len({tag for _, tag in wanted} & {t.pk for t in catalogue["rfm"].values()}) >= 3


@pytest.mark.django_db
def test_the_nightly_run_replaces_stale_auto_tags_keeps_manual_ones_and_a_rerun_changes_nothing(catalogue):
    products = catalogue["products"]
    buyer = CustomerFactory()
    paid_order(buyer, [(products[0], "80"), (products[2], "20")], now=NOW, days_ago=3)
    stale = CustomerFactory()  # tagged 买鱼 once; no orders now
    CustomerTag.objects.create(customer=stale, tag=catalogue["fish"], source=CustomerTag.Source.AUTO)
    manual_group = TagGroup.objects.create(name="业态")
    hotpot = Tag.objects.create(group=manual_group, name="火锅")
    CustomerTag.objects.create(customer=stale, tag=hotpot)

    first = auto_tags_recompute(now=NOW)
    second = auto_tags_recompute(now=NOW)

    lone = catalogue["rfm"][RfmSegment.LOST]  # one customer in the population: every score 1
    assert _pairs() == {(buyer.pk, catalogue["shrimp"].pk), (buyer.pk, lone.pk)}
    assert (first.added, first.removed) == (2, 1)
    assert (second.added, second.removed) == (0, 0)
    assert CustomerTag.objects.filter(customer=stale, tag=hotpot, source=CustomerTag.Source.MANUAL).exists()


@pytest.mark.django_db
def test_windows_come_from_the_settings(catalogue):
    products = catalogue["products"]
    customer = CustomerFactory()
    paid_order(customer, [(products[0], "100")], now=NOW, days_ago=100)
    auto_tags_recompute(now=NOW)
    assert (customer.pk, catalogue["shrimp"].pk) not in _pairs()
    AutoTagSettings.objects.filter(pk=1).update(category_window_days=120)
    auto_tags_recompute(now=NOW)
    assert (customer.pk, catalogue["shrimp"].pk) in _pairs()
    assert _pairs() == auto_tags_wanted_python(now=NOW)


@pytest.mark.django_db
def test_the_summary_index_is_rebuilt_as_the_model_declares_it(catalogue):
    """The nightly run drops CustomerSpend's (category, customer) index for its bulk write and builds
    it again: afterwards it is there, as the migration made it."""
    if connection.vendor != "postgresql":
        pytest.skip("the index is rebuilt on PostgreSQL only")

    def definition():
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'crm_customerspend' "
                           "AND indexname = 'customerspend_category_idx'")
            return [row[0] for row in cursor.fetchall()]

    before = definition()
    customer = CustomerFactory()
    paid_order(customer, [(catalogue["products"][0], "100")], now=NOW, days_ago=2)

    auto_tags_recompute(now=NOW)
    auto_tags_recompute(now=NOW)

    assert len(before) == 1 and definition() == before
    assert CustomerSpend.objects.filter(customer=customer).count() == 2  # its category and its total
