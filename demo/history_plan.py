"""The order history of one restaurant, as data: its rhythm, baskets, statuses and audit trail
(see demo/history.py for the rules). Pure: a random stream in, rows out; nothing is written here,
so the generator is tested without a database and forked workers share it.
"""

import math
import random
import uuid
from bisect import bisect
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from functools import cached_property
from itertools import accumulate

from catalog.models import Product
from core.money import money, to_fen
from orders.models import Order, OrderSettings, Payment

SEED_KEY_PREFIX = "seed-"
# Restaurants per transaction: ~9,000 orders and ~55,000 lines, a few tens of MB at most.
CUSTOMERS_PER_BATCH = 250
CUSTOMERS_PER_CHUNK = 500  # a parallel worker's unit of work (two batches)
DAYS_PER_MONTH = 365.25 / 12

# The rhythm. With these, a restaurant averages ~6 orders a month over the window (churned and new included).
INTERVAL_MEDIAN_DAYS = 4.6
INTERVAL_SIGMA = 0.35
INTERVAL_RANGE = (2.0, 10.0)
CHURNED_SHARE = 0.10
CHURNED_DAYS_AGO = (30, 91)  # stopped ordering 1-3 months ago
NEW_SHARE = 0.15
NEW_DAYS_AGO = (3, 75)  # first order this long ago
# Lapsing: kept their rhythm until recently, now silent for well over 4.5 times their interval
# (the sweep's default is 3) but under a month: the 预警 (at-risk) customers a rep should call.
LAPSING_SHARE = 0.06
LAPSING_PATIENCE = 4.5
LAPSING_MAX_SILENCE = 28
UNPAID_SHARE = 0.02
# Lines per order, 3..12: mean ~5.9.
LINE_COUNTS = range(3, 13)
LINE_COUNT_CUM_WEIGHTS = list(accumulate((16, 18, 17, 14, 11, 8, 6, 4, 3, 3)))
FAVOURITE_SHARE = 0.8  # of lines, from the restaurant's favourites
LINE_SPEND_YUAN = 150.0  # a typical line, before the restaurant's size factor
MAX_QUANTITY = Decimal("500")
# When restaurants order, minutes after midnight in Shanghai: after lunch service, afternoon, after dinner.
HABITS = ((10 * 60, 50), (15 * 60, 70), (21 * 60 + 30, 55))
HABIT_CUM_WEIGHTS = list(accumulate((0.25, 0.35, 0.40)))
EARLIEST, LATEST = 8 * 60, 23 * 60 + 50
NOTES = ("请早上七点前送到", "后门卸货", "到了打电话", "送到后厨", "冰块多放点", "发票抬头同上次", "放冷库门口")
# The warehouse's day for orders delivered on day D (local hours on D), in order.
FULFILMENT = (
    (Order.Status.PACKING, (1.0, 2.5), "warehouse", "开始备货"),
    (Order.Status.PACKED, (2.5, 4.5), "warehouse", "备货完成"),
    (Order.Status.OUT_FOR_DELIVERY, (5.0, 7.0), "driver", "司机已出发"),
    (Order.Status.DELIVERED, (7.5, 11.5), "driver", "已送达签收"),
)
COMPLETED_NOTE = "签收后自动完成"
S = Order.Status

ORDER_FIELDS = (
    "id", "number", "customer", "visitor", "rep", "status", "idempotency_key", "delivery_date", "subtotal",
    "delivery_fee", "discount", "total", "restaurant_name", "contact_name", "phone", "address", "district",
    "latitude", "longitude", "note", "expires_at", "paid_at", "cancelled_at", "cancel_reason", "created_at",
    "updated_at",
)
LINE_FIELDS = (
    "order", "product", "product_code", "product_name", "spec", "unit", "unit_price", "quantity", "amount",
    "catch_weight", "nominal_weight",
)
PAYMENT_FIELDS = (
    "order", "out_trade_no", "amount_fen", "status", "transaction_id", "payer_openid", "succeeded_at",
    "created_at", "updated_at",
)
EVENT_FIELDS = ("order", "from_status", "to_status", "note", "actor", "created_at")
NUMBER_INDEX, TRADE_NO_INDEX = ORDER_FIELDS.index("number"), PAYMENT_FIELDS.index("out_trade_no")


@dataclass(frozen=True)
class CatalogueItem:
    pk: int
    code: str
    name: str
    spec: str
    unit: str
    price: Decimal
    catch_weight: bool
    nominal_weight: Decimal | None
    min_quantity: Decimal
    step_quantity: Decimal
    category_id: int
    max_steps: int  # steps above the minimum that stay within MAX_QUANTITY


@dataclass(frozen=True)
class Catalogue:
    items: list[CatalogueItem]
    shelves: list[list[int]]  # indexes into items, per shelf (category)
    shelf_cum_sizes: list[int]

    @classmethod
    def load(cls) -> "Catalogue":
        """Active, priced products in code order, so a seed picks the same SKUs whatever their ids."""
        items = [
            CatalogueItem(*row, max_steps=max(int((MAX_QUANTITY - row[8]) / row[9]), 0))
            for row in Product.objects.filter(is_active=True, price__gt=0).order_by("code").values_list(
                "pk", "code", "name", "spec", "unit", "price", "catch_weight", "nominal_weight", "min_quantity",
                "step_quantity", "category_id",
            )
        ]
        by_shelf: dict[int, list[int]] = {}
        for index, item in enumerate(items):
            by_shelf.setdefault(item.category_id, []).append(index)
        shelves = [by_shelf[key] for key in sorted(by_shelf)]
        return cls(items=items, shelves=shelves, shelf_cum_sizes=list(accumulate(len(s) for s in shelves)))


@dataclass(frozen=True)
class CustomerRow:
    pk: int
    phone: str
    name: str
    contact_name: str
    address: str
    district: str
    latitude: Decimal | None
    longitude: Decimal | None
    rep_id: int | None
    visitor_id: int
    openid: str


@dataclass
class SeedOrder:
    row: list  # in ORDER_FIELDS order
    lines: list[tuple]
    payment: list
    events: list[tuple]

    @property
    def created_at(self) -> datetime:
        return self.row[ORDER_FIELDS.index("created_at")]

    @property
    def paid_at(self) -> datetime | None:
        return self.row[ORDER_FIELDS.index("paid_at")]


@dataclass(frozen=True)
class Rules:
    """What checkout would apply, read once: OrderSettings plus the clock the history runs up to."""

    settings_row: OrderSettings
    now: datetime
    window_days: int
    tz: tzinfo  # the warehouse's (TIME_ZONE): business hours, cut-off and order numbers are local

    @cached_property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    @cached_property
    def first_day(self) -> date:
        return self.today - timedelta(days=self.window_days)

    def local(self, day: date, minutes: float) -> datetime:
        """`minutes` after local midnight of `day`, aware in local time (the database stores it in UTC)."""
        return datetime.combine(day, time(0), tzinfo=self.tz) + timedelta(minutes=minutes)

    def delivery_date(self, created: datetime) -> date:
        """checkout.delivery_date_for, inlined: it costs a timezone lookup per call (tests check they agree)."""
        local = created.astimezone(self.tz)
        return local.date() + timedelta(days=1 if local.time() < self.settings_row.cutoff_time else 2)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _order_number(*, local: datetime, customer_pk: int, sequence: int) -> str:
    """yymmdd + 8 digits like checkout's, but a bijection of (customer, sequence) within a day, so seeded
    numbers never clash with each other (below 781,250 customers); a clash with a live order is redrawn."""
    x = (customer_pk * 128 + sequence % 128) % 10**8
    salt = (local.toordinal() * 7919) % 10**8
    return local.strftime("%y%m%d") + f"{(x * 48271 + salt) % 10**8:08d}"


def _transaction_id(*, local: datetime, customer_pk: int, sequence: int) -> str:
    """WeChat Pay's shape (4200 + yyyymmdd + 16 digits), unique per (customer, sequence) by construction."""
    x = customer_pk * 4096 + sequence % 4096
    return "4200" + local.strftime("%Y%m%d") + f"{(x * 2654435761) % 10**16:016d}"


class _Taste:
    """A restaurant's habits: favourite products (weighted) with the quantity it usually takes of each."""

    def __init__(self, rng: random.Random, catalogue: Catalogue, size: float):
        self.rng, self.catalogue, self.size = rng, catalogue, size
        shelves = catalogue.shelves
        home = {
            bisect(catalogue.shelf_cum_sizes, rng.random() * catalogue.shelf_cum_sizes[-1])
            for _ in range(rng.randint(2, 4))
        }
        home_items = [i for shelf in sorted(home) for i in shelves[shelf]]
        favourites: list[int] = []
        for _ in range(rng.randint(12, 36)):
            pool = home_items if rng.random() < 0.7 else None
            index = rng.choice(pool) if pool else rng.randrange(len(catalogue.items))
            if index not in favourites:
                favourites.append(index)
        self.favourites = favourites
        self.cum_weights = list(accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(favourites))))
        self.usual_steps = {index: self._steps_for_spend(catalogue.items[index]) for index in favourites}

    def _steps_for_spend(self, item: CatalogueItem) -> int:
        spend = self.size * self.rng.lognormvariate(math.log(LINE_SPEND_YUAN), 0.5)
        steps = round((spend / float(item.price) - float(item.min_quantity)) / float(item.step_quantity))
        return min(max(steps, 0), item.max_steps)

    def basket(self) -> list[tuple[CatalogueItem, int]]:
        """(item, steps above the minimum) for 3-12 distinct products."""
        rng, items = self.rng, self.catalogue.items
        wanted = min(LINE_COUNTS[bisect(LINE_COUNT_CUM_WEIGHTS, rng.random() * LINE_COUNT_CUM_WEIGHTS[-1])],
                     len(items))
        chosen: dict[int, int] = {}
        for _ in range(wanted * 4):  # bounded: a tiny catalogue may not have `wanted` distinct picks left
            if len(chosen) == wanted:
                break
            if rng.random() < FAVOURITE_SHARE:
                index = self.favourites[bisect(self.cum_weights, rng.random() * self.cum_weights[-1])]
                if index in chosen:
                    continue
                usual = self.usual_steps[index]
                chosen[index] = max(0, usual + round(rng.gauss(0, 0.3 * usual + 0.5)))
            else:
                index = rng.randrange(len(items))
                if index in chosen:
                    continue
                chosen[index] = self._steps_for_spend(items[index])
        return [(items[index], steps) for index, steps in chosen.items()]


def _quantity(item: CatalogueItem, steps: int) -> Decimal:
    """On the product's grid (min + k × step), never above MAX_QUANTITY unless the minimum itself is."""
    return item.min_quantity + min(steps, item.max_steps) * item.step_quantity


def _order_days(rng: random.Random, rules: Rules) -> list[int]:
    """Day offsets from the window's first day (window_days = today) on which the restaurant orders."""
    last_day = rules.window_days
    interval = min(max(rng.lognormvariate(math.log(INTERVAL_MEDIAN_DAYS), INTERVAL_SIGMA), INTERVAL_RANGE[0]),
                   INTERVAL_RANGE[1])
    kind = rng.random()
    first = rng.randrange(0, math.ceil(interval))
    end = last_day
    if kind < CHURNED_SHARE:
        end = last_day - rng.randint(*CHURNED_DAYS_AGO)
    elif kind < CHURNED_SHARE + NEW_SHARE:
        first = last_day - rng.randint(*NEW_DAYS_AGO)
    elif kind < CHURNED_SHARE + NEW_SHARE + LAPSING_SHARE:
        silence = math.ceil(LAPSING_PATIENCE * interval) + 1
        if silence <= LAPSING_MAX_SILENCE:
            end = last_day - rng.randint(silence, LAPSING_MAX_SILENCE)
    first = min(max(first, 0), last_day)
    end = max(end, first)  # churned before the window began: its last order opens the window
    days = []
    day = first
    while day <= end:
        days.append(day)
        day += max(1, round(interval * rng.uniform(0.6, 1.4)))
    return days


def customer_history(*, customer: CustomerRow, catalogue: Catalogue, rules: Rules, seed: int) -> list[SeedOrder]:
    """The orders one restaurant placed over the window: a pure function of its phone, the seed and the rules."""
    rng = random.Random(f"{seed}:history:{customer.phone}")
    settings_row = rules.settings_row
    habit_mean, habit_spread = HABITS[bisect(HABIT_CUM_WEIGHTS, rng.random() * HABIT_CUM_WEIGHTS[-1])]
    habit = habit_mean + rng.gauss(0, habit_spread)
    taste = _Taste(rng, catalogue, size=rng.lognormvariate(0, 0.45))
    timeout = timedelta(minutes=settings_row.payment_timeout_minutes)
    # Nothing is left awaiting payment: even an order cancelled by the expiry sweep is over by now.
    latest_created = rules.now - timeout - timedelta(minutes=2)
    orders = []
    for sequence, day_offset in enumerate(_order_days(rng, rules), start=1):
        minutes = min(max(habit + rng.gauss(0, 45), EARLIEST), LATEST) + rng.random()
        created = rules.local(rules.first_day + timedelta(days=day_offset), minutes)
        if created > latest_created:
            break
        orders.append(_order(rng=rng, customer=customer, taste=taste, rules=rules, sequence=sequence,
                             created=created, timeout=timeout))
    return orders


def _order(*, rng, customer: CustomerRow, taste: _Taste, rules: Rules, sequence: int, created: datetime,
           timeout: timedelta) -> SeedOrder:
    settings_row = rules.settings_row
    order_id = _uuid(rng)
    basket = [[item, steps] for item, steps in taste.basket()]
    subtotal = sum((money(item.price * _quantity(item, steps)) for item, steps in basket), Decimal("0.00"))
    if subtotal < settings_row.min_order_amount:
        # Checkout refuses a basket below the minimum: the buyer takes more of the dearest line.
        dearest = max(basket, key=lambda pair: pair[0].price)
        item = dearest[0]
        steps = dearest[1] + math.ceil((settings_row.min_order_amount - subtotal) / (item.price * item.step_quantity))
        while True:  # one more step at most, for rounding; none past MAX_QUANTITY
            subtotal += money(item.price * _quantity(item, steps)) - money(item.price * _quantity(item, dearest[1]))
            dearest[1] = steps
            if subtotal >= settings_row.min_order_amount or _quantity(item, steps + 1) == _quantity(item, steps):
                break
            steps += 1
    lines = []
    for item, steps in basket:
        quantity = _quantity(item, steps)
        lines.append((order_id, item.pk, item.code, item.name, item.spec, item.unit, item.price, quantity,
                      money(item.price * quantity), item.catch_weight, item.nominal_weight))
    fee = Decimal("0.00") if subtotal >= settings_row.free_delivery_threshold else money(settings_row.delivery_fee)
    total = money(subtotal + fee)
    expires = created + timeout
    delivery_date = rules.delivery_date(created)
    # Checkout dates the number by the payment deadline (expires_at), in local time.
    number = _order_number(local=expires, customer_pk=customer.pk, sequence=sequence)
    events = [(order_id, "", S.PENDING_PAYMENT, "提交订单", "customer", created)]
    paid_at = cancelled_at = None
    cancel_reason = ""
    if rng.random() < UNPAID_SHARE:
        if rng.random() < 0.3:
            cancelled_at, cancel_reason, actor = created + timedelta(seconds=rng.uniform(30, 600)), "客户取消", "customer"
        else:
            cancelled_at = expires + timedelta(seconds=rng.uniform(1, 60))  # the expiry sweep runs every minute
            cancel_reason, actor = "超时未支付，已自动取消", "system"
        status = S.CANCELLED
        events.append((order_id, S.PENDING_PAYMENT, S.CANCELLED, cancel_reason, actor, cancelled_at))
        payment = [order_id, number, to_fen(total), Payment.Status.CLOSED, None, "", None, created, cancelled_at]
        updated = cancelled_at
    else:
        paid_at = created + timedelta(seconds=rng.uniform(15, min(300.0, timeout.total_seconds() - 10)))
        transaction_id = _transaction_id(local=paid_at, customer_pk=customer.pk, sequence=sequence)
        events.append((order_id, S.PENDING_PAYMENT, S.PAID, f"微信支付成功 {transaction_id}", "wechatpay", paid_at))
        rng.getrandbits(120)  # drawn for the prepay_id payments once kept: the same seed gives the same data
        payment = [order_id, number, to_fen(total), Payment.Status.SUCCEEDED, transaction_id, customer.openid,
                   paid_at, created, paid_at]
        status, updated = S.PAID, paid_at
        if delivery_date < rules.today:
            updated = rules.local(delivery_date, rng.uniform(16 * 60, 22 * 60))
            events.append((order_id, S.DELIVERED, S.COMPLETED, COMPLETED_NOTE, "system", updated))
            status = S.COMPLETED
        else:
            for stage, (start_hour, end_hour), actor, note in FULFILMENT:
                moment = rules.local(delivery_date, rng.uniform(start_hour * 60, end_hour * 60))
                if moment >= rules.now:
                    break
                events.append((order_id, status, stage, note, actor, moment))
                status, updated = stage, moment
    note = rng.choice(NOTES) if rng.random() < 0.08 else ""
    row = [
        order_id, number, customer.pk, customer.visitor_id, customer.rep_id, status,
        f"{SEED_KEY_PREFIX}{customer.pk}-{sequence}", delivery_date, subtotal, fee, Decimal("0.00"), total,
        customer.name, customer.contact_name, customer.phone, customer.address, customer.district,
        customer.latitude, customer.longitude, note, expires, paid_at, cancelled_at, cancel_reason, created, updated,
    ]
    return SeedOrder(row=row, lines=lines, payment=payment, events=events)
