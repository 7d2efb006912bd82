"""Seeding step for entries: how each restaurant's WeChat user opened the mini program, consistent with
its order history, so the rep assistant, the admin's rep dashboard and its flags have data to show.

What `reps.services.entry_record` would have left behind, per restaurant (a random stream keyed by its
phone, like its history):
- the first entry, through its rep's code (scene `r=<key>`), in the rep's working hours on the day of
  the first order or up to three days before it: `first_visit`, credited, no customer yet (the visitor
  became one when it authorised its phone at the first checkout). Mostly an in-person scan
  (1047/1011), some a forwarded picture of the code (1048/1012), some the rep's share card (1007).
  A few reps mostly forward pictures instead of visiting, so the admin's "mostly forwarded" flag shows;
- a return visit a few minutes before many of its later orders: opened from the recently-used lists or
  My Mini Programs (1089/1001/1104/1103), or a share card in the restaurant's chat (1007/1008) that
  carries no rep code: `return_visit`, no rep;
- now and then its rep calls again and it scans the code again: `customer_rescan`, the rep's code,
  never credited.

The visitor's first touch (first_rep, first_touch_at) is its first entry, and the visitor row itself
appeared seconds before it (wx.login at the first launch). The restaurant was acquired by that rep
when it became a customer (`customer_bind_phone` sets acquired_at to the customer's creation), so
acquired_at is the customer's created_at, which history put just before the first order.

Times are local (Asia/Shanghai) business hours stored in UTC, always before the order they lead to.
Idempotent: a restaurant whose visitor already has entries, or that has no orders yet, is skipped;
each batch is written in one transaction.
"""

import random
from bisect import bisect
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from hashlib import sha256
from itertools import accumulate

from django.db import transaction
from django.utils import timezone

from customers.models import Customer, Visitor
from orders.models import Order
from reps.models import EntryEvent, Rep, Scene

from .base import DemoPlan, StepResult
from .history_plan import EARLIEST
from .rows import RowUpdater, RowWriter

CUSTOMERS_PER_BATCH = 1000  # ~35,000 orders read and ~20,000 entries written a batch

# When reps call on restaurants (local minutes after midnight): the code is scanned then.
REP_HOURS = (9 * 60, 19 * 60)
FIRST_DAYS_BEFORE = (0, 1, 2, 3)  # first entry on the first order's day, or this many days before
FIRST_DAYS_CUM_WEIGHTS = list(accumulate((0.45, 0.3, 0.15, 0.1)))
RETURN_SHARE = 0.55  # of later orders, preceded by a recorded return visit (warm starts record nothing)
RETURN_LEAD_MINUTES = (1.0, 20.0)  # opened this long before ordering
RESCAN_SHARE = 0.04  # of later orders, preceded by a rep's call and a rescan that day (or the day before)
FORWARDING_REP_SHARE = 0.2  # of reps (at least one when there are two or more) who mostly forward pictures

# (scene code, weight). A forwarding rep's new restaurants mostly long-press a picture of the code.
FIRST_SCENES = ((1047, 62), (1011, 14), (1048, 10), (1012, 4), (1007, 10))
FORWARDING_FIRST_SCENES = ((1047, 16), (1011, 4), (1048, 55), (1012, 15), (1007, 10))
RESCAN_SCENES = ((1047, 75), (1011, 10), (1048, 10), (1007, 5))
FORWARDING_RESCAN_SCENES = ((1047, 20), (1011, 5), (1048, 60), (1012, 10), (1007, 5))
RETURN_SCENES = ((1089, 40), (1001, 20), (1104, 12), (1103, 8), (1007, 10), (1008, 10))
NO_REP_FIRST_SCENES = ((1008, 60), (1007, 40))  # a restaurant without a rep heard of us in a chat

ENTRY_FIELDS = ("visitor", "customer", "rep", "scene_code", "scene_kind", "visit_kind", "scene", "launch_id",
                "credited", "created_at")
V = EntryEvent.Visit


class _Scenes:
    """A weighted draw of scene codes, with each code's kind (Scene.classify) looked up once."""

    def __init__(self, weighted: tuple[tuple[int, int], ...]):
        self.codes = [code for code, _ in weighted]
        self.kinds = [Scene.classify(code) for code in self.codes]
        self.cum_weights = list(accumulate(weight for _, weight in weighted))

    def draw(self, rng: random.Random) -> tuple[int, str]:
        k = bisect(self.cum_weights, rng.random() * self.cum_weights[-1])
        return self.codes[k], self.kinds[k]


SCENES = {
    "first": _Scenes(FIRST_SCENES), "first_forwarding": _Scenes(FORWARDING_FIRST_SCENES),
    "rescan": _Scenes(RESCAN_SCENES), "rescan_forwarding": _Scenes(FORWARDING_RESCAN_SCENES),
    "return": _Scenes(RETURN_SCENES), "first_no_rep": _Scenes(NO_REP_FIRST_SCENES),
}


@dataclass(frozen=True)
class EntryCustomer:
    pk: int
    phone: str
    joined: datetime  # Customer.created_at: when it authorised its phone, just before the first order
    visitor_id: int
    rep_id: int | None
    rep_key: str | None
    forwarding: bool  # its rep mostly forwards a picture of the code instead of calling


@dataclass
class SeedEntries:
    rows: list[tuple]  # in ENTRY_FIELDS order, oldest first; the first is the first entry
    visitor_created: datetime

    @property
    def first(self) -> tuple:
        return self.rows[0]


def forwarding_rep_keys(*, seed: int, keys: list[str]) -> set[str]:
    """The reps who mostly forward pictures: the same for a seed and set of reps, whatever their ids."""
    if len(keys) < 2:
        return set()  # a lone rep flagged would make the flag the whole story
    count = max(1, round(len(keys) * FORWARDING_REP_SHARE))
    ranked = sorted(keys, key=lambda key: sha256(f"{seed}:forwarding:{key}".encode()).hexdigest())
    return set(ranked[:count])


def _local(day: date, minutes: float, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz) + timedelta(minutes=minutes)


def _minutes(moment: datetime) -> float:
    return moment.hour * 60 + moment.minute + moment.second / 60 + moment.microsecond / 60e6


def _rep_call(rng: random.Random, *, before: datetime, days_back: int, tz: tzinfo) -> datetime:
    """A moment in the rep's working hours `days_back` days before `before`'s local day, and before it."""
    local = before.astimezone(tz)
    low, high = REP_HOURS
    if days_back == 0:
        high = min(high, _minutes(local) - 5)
        if high - low < 10:  # ordered too early in the day for a call first: the rep came the day before
            days_back, high = 1, REP_HOURS[1]
    return _local(local.date() - timedelta(days=days_back), rng.uniform(low, high), tz)


def customer_entries(*, customer: EntryCustomer, orders: list[datetime], tz: tzinfo, seed: int) -> SeedEntries:
    """A restaurant's entries, given its orders' created times (oldest first, at least one): a pure function
    of its phone, the seed and those times."""
    rng = random.Random(f"{seed}:entries:{customer.phone}")
    anchor = min(customer.joined, orders[0])
    code = f"r={customer.rep_key}" if customer.rep_id is not None else ""
    days_back = FIRST_DAYS_BEFORE[bisect(FIRST_DAYS_CUM_WEIGHTS, rng.random() * FIRST_DAYS_CUM_WEIGHTS[-1])]
    first_at = _rep_call(rng, before=anchor, days_back=days_back, tz=tz)
    if customer.rep_id is not None:
        scene_code, kind = SCENES["first_forwarding" if customer.forwarding else "first"].draw(rng)
    else:
        scene_code, kind = SCENES["first_no_rep"].draw(rng)
    rows = [(customer.visitor_id, None, customer.rep_id, scene_code, kind, V.FIRST, code, "",
             customer.rep_id is not None, first_at)]
    rescans = SCENES["rescan_forwarding" if customer.forwarding else "rescan"]
    for ordered in orders[1:]:
        if customer.rep_id is not None and rng.random() < RESCAN_SHARE:
            called = _rep_call(rng, before=ordered, days_back=0, tz=tz)
            if called > orders[0]:  # a rescan is by a customer: never before it first ordered
                scene_code, kind = rescans.draw(rng)
                rows.append((customer.visitor_id, customer.pk, customer.rep_id, scene_code, kind, V.CUSTOMER_RESCAN,
                             code, "", False, called))
        if rng.random() < RETURN_SHARE:
            # Opened a few minutes before ordering, never before the day's business hours began.
            room = (ordered - _local(ordered.astimezone(tz).date(), EARLIEST, tz)).total_seconds() / 60
            lead = min(rng.uniform(*RETURN_LEAD_MINUTES), room * rng.uniform(0.2, 0.9))
            if lead > 0.05:
                scene_code, kind = SCENES["return"].draw(rng)
                rows.append((customer.visitor_id, customer.pk, None, scene_code, kind, V.RETURN, "", "", False,
                             ordered - timedelta(minutes=lead)))
    rows.sort(key=lambda row: row[-1])
    return SeedEntries(rows=rows, visitor_created=first_at - timedelta(seconds=rng.uniform(2, 20)))


def _batch_customers(batch: list[tuple], reps: dict[int, tuple[str, bool]]) -> list[EntryCustomer]:
    """The batch's restaurants whose visitor has no entries yet, with their visitor (the one orders use)."""
    ids = [pk for pk, *_ in batch]
    visitors: dict[int, int] = {}
    for customer_id, visitor_id in (
        Visitor.objects.filter(customer_id__in=ids).order_by("customer_id", "pk").values_list("customer_id", "pk")
    ):
        visitors.setdefault(customer_id, visitor_id)
    # By visitor id, not through a join on the customer: the (visitor, created_at) index answers it.
    entered = set(
        EntryEvent.objects.filter(visitor_id__in=list(visitors.values())).values_list("visitor_id", flat=True)
        .distinct()
    )
    rows = []
    for pk, phone, joined, rep_id in batch:
        if pk not in visitors or visitors[pk] in entered:
            continue
        rep_key, forwarding = reps.get(rep_id, (None, False))
        rows.append(EntryCustomer(pk=pk, phone=phone, joined=joined, visitor_id=visitors[pk],
                                  rep_id=rep_id if rep_key else None, rep_key=rep_key, forwarding=forwarding))
    return rows


def entries_seed(plan: DemoPlan) -> StepResult:
    """Entries for every restaurant that has orders and whose visitor has none, by batches of restaurants."""
    existing = EntryEvent.objects.count()
    tz = timezone.get_default_timezone()
    rep_rows = list(Rep.objects.values_list("pk", "key"))
    forwarding = forwarding_rep_keys(seed=plan.seed, keys=[key for _, key in rep_rows])
    reps = {pk: (key, key in forwarding) for pk, key in rep_rows}
    writer = RowWriter(EntryEvent, ENTRY_FIELDS)
    visitor_updater = RowUpdater(Visitor, ["created_at", "first_rep", "first_touch_at"])
    customer_updater = RowUpdater(Customer, ["acquired_by", "acquired_at"])
    customers = Customer.objects.order_by("pk").values_list("pk", "phone", "created_at", "rep_id")
    created = 0
    after = 0
    with plan.progress_bar(total=Customer.objects.count(), desc="进入记录(客户)") as bar:
        while batch := list(customers.filter(pk__gt=after)[:CUSTOMERS_PER_BATCH]):
            after = batch[-1][0]
            todo = _batch_customers(batch, reps)
            orders: dict[int, list[datetime]] = {}
            for customer_id, created_at in (
                Order.objects.filter(customer_id__in=[c.pk for c in todo]).order_by("customer_id", "created_at")
                .values_list("customer_id", "created_at")
            ):
                orders.setdefault(customer_id, []).append(created_at)
            rows, visitor_updates, customer_updates = [], [], []
            for customer in todo:
                if customer.pk not in orders:
                    continue  # nothing to be consistent with yet: a later run with history seeds it
                seeded = customer_entries(customer=customer, orders=orders[customer.pk], tz=tz, seed=plan.seed)
                rows.extend(seeded.rows)
                first_at = seeded.first[-1]
                visitor_updates.append((seeded.visitor_created, customer.rep_id,
                                        first_at if customer.rep_id is not None else None, customer.visitor_id))
                if customer.rep_id is not None:
                    customer_updates.append((customer.rep_id, customer.joined, customer.pk))
            with transaction.atomic():
                writer.write(rows)
                visitor_updater.write(visitor_updates)
                customer_updater.write(customer_updates)
            created += len(rows)
            bar.update(len(batch))
    return StepResult("进入记录", created, existing)
