"""Seeding steps for the warehouse and the road: staff logins (with Driver rows), yesterday's
receipts, tomorrow's purchase tasks and the delivery runs of the day's packed orders.

Unlike the bulk steps before them, these go through the logistics services (`receipt_create`,
`purchase_tasks_build`, `runs_build`): the rows are few, and what the demo should show is exactly
what the app writes (ledger rows, moving average cost, task lines, routed stops).

Natural keys, so a rerun adds nothing: usernames (a login and its Driver row), receipt notes
`demo-receipt-<date>-<n>`, any purchase task for tomorrow, any run for the routed date. The last
two are never rebuilt once there: a rerun must not rewrite tasks or runs somebody is working on.

"Today" is the day of `plan.now` (the clock when None) in the warehouse's time zone, as for history.
Scale is read from the number of restaurants (5,000 at scale 1), the finest of the plan's volumes.
"""

import random
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from catalog.models import Product
from core.demo_passwords import CLERK_PASSWORD, DRIVER_PASSWORD
from logistics.dispatch import runs_build
from logistics.models import Batch, DeliveryRun, Driver, PurchaseTask, Receipt, StockMove, Supplier
from logistics.purchasing import purchase_tasks_build
from logistics.receiving import ReceiptLineInput, batch_codes_next, receipt_create
from logistics.roles import DELIVERY_GROUP, PURCHASING_GROUP, WAREHOUSE_GROUP, ensure_groups
from orders.models import Order

from .base import BASE_CUSTOMERS, DemoPlan, StepResult, decimal_2, person_name, phone_numbers
from .catalog import supplier_specs

# Per unit of scale.
CLERKS, PURCHASING_DRIVERS, DELIVERY_DRIVERS, RECEIPTS = 1, 2, 5, 5
BATCHES_PER_RECEIPT = (10, 20)
RECEIPT_NOTE = "demo-receipt-{day}-{n}"
RECEIVING_MINUTES = 240
# The solver searches until its limit; seeding should not wait for a perfect route.
ROUTING_SECONDS = 2.0
# Delivery vans (stops, kg) and purchasing trucks (kg).
VANS = ((20, Decimal("800.0")), (25, Decimal("1000.0")), (30, Decimal("1500.0")))
TRUCKS = (Decimal("2000.0"), Decimal("3000.0"))
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on Chinese plates


def _count(plan: DemoPlan, per_scale: int) -> int:
    return max(1, round(per_scale * plan.customers / BASE_CUSTOMERS))


def _today(plan: DemoPlan) -> date:
    return timezone.localdate(plan.now or timezone.now())


# ---------------------------------------------------------------- staff


@dataclass(frozen=True)
class StaffSpec:
    username: str
    password: str
    group: str
    name: str
    phone: str
    kind: str | None  # a Driver.Kind; None for a warehouse clerk (a login only)
    plate: str = ""
    max_stops: int = 25
    max_weight_kg: Decimal = Decimal("1000.0")


def staff_specs(plan: DemoPlan) -> list[StaffSpec]:
    """clerk01…, purchase01…, delivery01…; one random stream per role, so a larger scale only adds people."""
    specs = []
    roles = (
        ("clerk", CLERKS, CLERK_PASSWORD, WAREHOUSE_GROUP, None),
        ("purchase", PURCHASING_DRIVERS, DRIVER_PASSWORD, PURCHASING_GROUP, Driver.Kind.PURCHASING),
        ("delivery", DELIVERY_DRIVERS, DRIVER_PASSWORD, DELIVERY_GROUP, Driver.Kind.DELIVERY),
    )
    for prefix, per_scale, password, group, kind in roles:
        rng = plan.rng(f"staff:{prefix}")
        phones = phone_numbers(rng)
        for i in range(1, _count(plan, per_scale) + 1):
            spec = StaffSpec(username=f"{prefix}{i:02d}", password=password, group=group, name=person_name(rng),
                             phone=next(phones), kind=kind)
            if kind == Driver.Kind.DELIVERY:
                stops, kg = rng.choice(VANS)
                # Shenzhen city delivery vans are electric: green plates, 粤B + D + 5 digits.
                spec = replace(spec, plate=f"粤BD{rng.randrange(10**5):05d}", max_stops=stops, max_weight_kg=kg)
            elif kind == Driver.Kind.PURCHASING:
                plate = f"粤B{rng.choice(PLATE_LETTERS)}{rng.randrange(10**4):04d}"
                spec = replace(spec, plate=plate, max_weight_kg=rng.choice(TRUCKS))
            specs.append(spec)
    return specs


def staff_seed(plan: DemoPlan) -> StepResult:
    """Warehouse clerks (group 仓管) and drivers (进货司机 / 送货司机, each with a Driver row)."""
    User = get_user_model()
    specs = staff_specs(plan)
    names = [s.username for s in specs]
    users = {u.username: u for u in User.objects.filter(username__in=names)}
    with_driver = set(Driver.objects.filter(user__username__in=names).values_list("user__username", flat=True))
    complete = {s.username for s in specs if s.username in users and (s.kind is None or s.username in with_driver)}
    missing = [s for s in specs if s.username not in users]
    if missing:
        # One hash per password: PBKDF2 takes ~0.5 s a call, and these demo passwords are published.
        hashes = {password: make_password(password) for password in {s.password for s in missing}}
        User.objects.bulk_create(
            [User(username=s.username, first_name=s.name, password=hashes[s.password]) for s in missing],
            ignore_conflicts=True,
        )
        users = {u.username: u for u in User.objects.filter(username__in=names)}
    ensure_groups()
    groups = {g.name: g for g in Group.objects.filter(name__in={s.group for s in specs})}
    for name, group in groups.items():
        group.user_set.add(*(users[s.username] for s in specs if s.group == name))
    Driver.objects.bulk_create(
        [
            Driver(user=users[s.username], kind=s.kind, name=s.name, phone=s.phone, vehicle_plate=s.plate,
                   max_stops=s.max_stops, max_weight_kg=s.max_weight_kg)
            for s in specs if s.kind is not None and s.username not in with_driver
        ],
        ignore_conflicts=True,
    )
    return StepResult("仓管与司机", len(specs) - len(complete), len(complete))


# ---------------------------------------------------------------- receipts


def _line(rng: random.Random, product: Product, day: date, today: date) -> ReceiptLineInput:
    """What a supplier delivers of one SKU: a restocking quantity, a cost under the selling price and
    dates by storage (chilled: made days ago, keeps a week; frozen and dry: made weeks ago, keeps 1-2 years)."""
    unit = product.unit
    if unit == "斤":
        quantity = Decimal(rng.randrange(40, 400, 10))
    elif unit == "kg":
        quantity = Decimal(rng.randrange(20, 200, 5))
    elif unit == "箱":
        quantity = Decimal(rng.randrange(5, 41))
    else:  # 袋 盒 包 条 只
        quantity = Decimal(rng.randrange(20, 201, 10))
    weight = None
    if product.catch_weight:
        per_unit = product.nominal_weight or Decimal("1")
        weight = decimal_2(float(quantity * per_unit) * (1 if unit == "斤" else rng.uniform(0.96, 1.04)))
    if product.storage == Product.Storage.CHILLED:  # caught or processed a day or two ago, keeps a week
        production = day - timedelta(days=rng.randint(0, 2))
        expiry = production + timedelta(days=rng.choice((5, 7)))
    else:
        production = day - timedelta(days=rng.randint(7, 140))
        expiry = production + timedelta(days=rng.choice((365, 545, 730)))
    # receipt_create checks dates against the real clock (`today`); a plan.now in the past (tests) must pass too.
    production, expiry = min(production, today), max(expiry, today)
    return ReceiptLineInput(product_id=product.pk, quantity=quantity, weight=weight,
                            unit_cost=decimal_2(float(product.price) * rng.uniform(0.62, 0.8)),
                            production_date=production, expiry_date=expiry)


def _backdate(receipt: Receipt, *, received_at: datetime, day: date) -> None:
    """receipt_create stamps the real moment and numbers batches by the real day; the demo receipt
    arrived yesterday morning, so its times and batch codes (and the ledger rows naming them) say so."""
    batches = list(receipt.batches.order_by("pk"))
    renamed = dict(zip((b.code for b in batches), batch_codes_next(day, len(batches)), strict=True))
    moves = list(StockMove.objects.filter(kind=StockMove.Kind.RECEIPT, reference__in=list(renamed)))
    for batch in batches:
        batch.code, batch.created_at = renamed[batch.code], received_at
    for move in moves:
        move.reference, move.created_at = renamed[move.reference], received_at
    Batch.objects.bulk_update(batches, ["code", "created_at"])
    StockMove.objects.bulk_update(moves, ["reference", "created_at"])
    Receipt.objects.filter(pk=receipt.pk).update(created_at=received_at, updated_at=received_at)


def receipts_seed(plan: DemoPlan) -> StepResult:
    """Yesterday's receipts, one a supplier, each restocking 10-20 of its lowest-stocked products."""
    day = _today(plan) - timedelta(days=1)
    notes = [RECEIPT_NOTE.format(day=day.isoformat(), n=n) for n in range(1, _count(plan, RECEIPTS) + 1)]
    present = set(Receipt.objects.filter(note__in=notes).values_list("note", flat=True))
    todo = [(n, note) for n, note in enumerate(notes, start=1) if note not in present]
    if not todo:
        return StepResult("入库单", 0, len(present))
    rng = plan.rng(f"receipts:{day.isoformat()}")
    suppliers = list(Supplier.objects.filter(name__in=[s.name for s in supplier_specs(plan)], is_active=True,
                                             products__is_active=True).distinct().order_by("name"))
    rng.shuffle(suppliers)
    clerk = get_user_model().objects.filter(username="clerk01").first()
    tz = timezone.get_default_timezone()
    today = timezone.localdate()
    created = 0
    for n, note in todo:
        if n > len(suppliers):
            break
        supplier = suppliers[n - 1]
        line_rng = random.Random(f"{plan.seed}:receipt:{note}")
        products = list(Product.objects.filter(default_supplier=supplier, is_active=True)
                        .order_by(F("stock__on_hand").asc(nulls_first=True), "code")
                        [:line_rng.randint(*BATCHES_PER_RECEIPT)])
        # Purchasing drivers are back from the market between 05:00 and 09:00, one after another.
        slot = RECEIVING_MINUTES / len(notes)
        received_at = datetime.combine(day, time(5), tzinfo=tz) + timedelta(minutes=slot * (n - 1 + line_rng.random()))
        with transaction.atomic():
            receipt = receipt_create(received_by=clerk, supplier_id=supplier.pk, note=note,
                                     lines=[_line(line_rng, p, day, today) for p in products])
            _backdate(receipt, received_at=received_at, day=day)
        created += 1
    return StepResult("入库单", created, len(present))


# ---------------------------------------------------------------- purchase tasks and delivery runs


def purchase_tasks_seed(plan: DemoPlan) -> StepResult:
    """Tomorrow's purchase tasks from the paid orders, handed to the purchasing drivers in turn."""
    for_date = _today(plan) + timedelta(days=1)
    existing = PurchaseTask.objects.filter(for_date=for_date).count()
    if existing:
        return StepResult("采购任务", 0, existing)
    report = purchase_tasks_build(for_date=for_date)
    drivers = list(Driver.objects.assignable(Driver.Kind.PURCHASING).filter(user__username__startswith="purchase")
                   .order_by("user__username"))
    tasks = list(PurchaseTask.objects.filter(for_date=for_date, driver__isnull=True).order_by("supplier__name", "pk"))
    if drivers:
        for k, task in enumerate(tasks):
            task.driver = drivers[k % len(drivers)]
        PurchaseTask.objects.bulk_update(tasks, ["driver"])
    return StepResult("采购任务", report.created, existing)


def runs_seed(plan: DemoPlan) -> StepResult:
    """Runs for today's packed orders, or the latest earlier day that has some.

    Seeded history has packed orders only while the warehouse is between packing and loading the
    vans (about 02:30-07:00 local, see history.FULFILMENT); at other times there is nothing to route.
    """
    today = _today(plan)
    packed = Order.objects.filter(status=Order.Status.PACKED, delivery_date__lte=today)
    day = today if packed.filter(delivery_date=today).exists() else packed.aggregate(day=Max("delivery_date"))["day"]
    if day is None:
        return StepResult("配送线路", 0, 0)
    existing = DeliveryRun.objects.filter(delivery_date=day).count()
    if existing:
        return StepResult("配送线路", 0, existing)
    result = runs_build(delivery_date=day, time_limit_s=ROUTING_SECONDS)
    return StepResult("配送线路", len(result.runs), 0)
