"""Seeding steps for people: the admin account, reps (with logins), restaurants and their WeChat visitors."""

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group

from core.demo_passwords import ADMIN_PASSWORD, REP_PASSWORD
from customers.models import Customer, Visitor
from reps.models import KEY_ALPHABET, Rep

from .base import BATCH_SIZE, DemoPlan, StepResult, batched, decimal_6, person_name, phone_numbers
from .names_data import CONTACT_TITLES, RESTAURANT_PREFIXES, RESTAURANT_TYPES, SURNAMES
from .places_data import DISTRICTS, LAT_MAX, LAT_MIN, LNG_MAX, LNG_MIN, TERRITORY_CYCLE

ADMIN_USERNAME = "admin"
REP_GROUP = "业务员"


def admin_seed(plan: DemoPlan) -> StepResult:
    User = get_user_model()
    if User.objects.filter(username=ADMIN_USERNAME).exists():
        return StepResult("管理员", 0, 1)
    User.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)
    return StepResult("管理员", 1, 0)


# ---------------------------------------------------------------- reps


@dataclass(frozen=True)
class RepSpec:
    key: str
    username: str
    name: str
    phone: str
    territory: str


def rep_specs(plan: DemoPlan) -> list[RepSpec]:
    rng = plan.rng("reps")
    phones = phone_numbers(rng)
    keys: set[str] = set()
    specs = []
    for i in range(plan.reps):
        while (key := "".join(rng.choice(KEY_ALPHABET) for _ in range(6))) in keys:
            pass
        keys.add(key)
        specs.append(RepSpec(
            key=key, username=f"rep{i + 1:02d}", name=person_name(rng), phone=next(phones),
            territory=TERRITORY_CYCLE[i % len(TERRITORY_CYCLE)],
        ))
    return specs


def reps_seed(plan: DemoPlan) -> StepResult:
    """Reps with a login each (rep01, rep02, … in the group 业务员); the rep key is the natural key."""
    User = get_user_model()
    specs = rep_specs(plan)
    present = set(Rep.objects.filter(key__in=[s.key for s in specs]).values_list("key", flat=True))
    users = {u.username: u for u in User.objects.filter(username__in=[s.username for s in specs])}
    missing_users = [s for s in specs if s.username not in users]
    if missing_users:
        # One hash for all: PBKDF2 takes ~0.5 s a call, and these are demo logins with a published password.
        password = make_password(REP_PASSWORD)
        User.objects.bulk_create(
            [User(username=s.username, first_name=s.name, password=password) for s in missing_users],
            ignore_conflicts=True,
        )
        users = {u.username: u for u in User.objects.filter(username__in=[s.username for s in specs])}
    group, _ = Group.objects.get_or_create(name=REP_GROUP)
    group.user_set.add(*users.values())
    linked = set(Rep.objects.filter(user__in=users.values()).values_list("user_id", flat=True))
    new = []
    for s in specs:
        if s.key in present:
            continue
        user = users.get(s.username)
        new.append(Rep(
            # Their WeCom account is their login name: the assistant shows a dev contact-me code.
            key=s.key, name=s.name, phone=s.phone, territory=s.territory, wecom_user_id=s.username,
            user=user if user is not None and user.pk not in linked else None,
        ))
    Rep.objects.bulk_create(new, batch_size=BATCH_SIZE, ignore_conflicts=True)
    return StepResult("业务员", len(new), len(present))


# ---------------------------------------------------------------- customers (restaurants)


@dataclass(frozen=True)
class CustomerSpec:
    name: str
    contact_name: str
    phone: str
    address: str
    district: str
    latitude: Decimal
    longitude: Decimal
    rep_pick: float  # where among the district's reps this restaurant falls, in [0, 1)


def _clamp(value: float, low: float, high: float) -> float:
    # A hair inside the box, so rounding to 6 places cannot push a point out of it.
    return min(max(value, low + 0.001), high - 0.001)


def customer_specs(plan: DemoPlan) -> Iterator[CustomerSpec]:
    rng = plan.rng("customers")
    phones = phone_numbers(rng)
    districts = list(DISTRICTS)
    cum_shares = list(accumulate(share for share, _, _ in DISTRICTS.values()))
    for _ in range(plan.customers):
        district = rng.choices(districts, cum_weights=cum_shares)[0]
        _, areas, streets = DISTRICTS[district]
        area, lat, lng = rng.choice(areas)
        branch = rng.random()
        name = rng.choice(RESTAURANT_PREFIXES) + rng.choice(RESTAURANT_TYPES)
        if branch < 0.45:
            name += f"({area}店)"
        elif branch < 0.6:
            name += f"({district[:-1]}店)"
        contact = person_name(rng) if rng.random() < 0.8 else rng.choice(SURNAMES) + rng.choice(CONTACT_TITLES)
        suffix = rng.choice(("", "", "1楼", "首层", f"{rng.randrange(1, 30)}号铺", f"{rng.randrange(1, 12)}栋一楼"))
        yield CustomerSpec(
            name=name,
            contact_name=contact,
            phone=next(phones),
            address=f"深圳市{district}{rng.choice(streets)}{rng.randrange(1, 999)}号{suffix}",
            district=district,
            latitude=decimal_6(_clamp(rng.gauss(lat, 0.012), LAT_MIN, LAT_MAX)),
            longitude=decimal_6(_clamp(rng.gauss(lng, 0.014), LNG_MIN, LNG_MAX)),
            rep_pick=rng.random(),
        )


def customers_seed(plan: DemoPlan) -> StepResult:
    """Restaurants, each looked after by a rep of its district (any rep where the district has none)."""
    order = {s.key: i for i, s in enumerate(rep_specs(plan))}
    reps = sorted(
        Rep.objects.filter(key__in=list(order)).values_list("key", "pk", "territory"), key=lambda r: order[r[0]]
    )
    all_rep_ids = [pk for _, pk, _ in reps]
    by_district: dict[str, list[int]] = {}
    for _, pk, territory in reps:
        by_district.setdefault(territory, []).append(pk)

    def rep_for(spec: CustomerSpec) -> int | None:
        candidates = by_district.get(spec.district) or all_rep_ids
        return candidates[int(spec.rep_pick * len(candidates))] if candidates else None

    created = existing = 0
    with plan.progress_bar(total=plan.customers, desc="客户") as bar:
        for batch in batched(customer_specs(plan)):
            present = set(
                Customer.objects.filter(phone__in=[s.phone for s in batch]).values_list("phone", flat=True)
            )
            new = [
                Customer(
                    name=s.name, contact_name=s.contact_name, phone=s.phone, address=s.address, district=s.district,
                    latitude=s.latitude, longitude=s.longitude, rep_id=rep_for(s),
                )
                for s in batch if s.phone not in present
            ]
            Customer.objects.bulk_create(new, batch_size=BATCH_SIZE)
            created += len(new)
            existing += len(present)
            bar.update(len(batch))
    return StepResult("客户", created, existing)



# ---------------------------------------------------------------- visitors (the WeChat user behind each restaurant)


def seed_openid(plan: DemoPlan, *, phone: str) -> str:
    """28 characters like a real OpenID, derived from the seed and the phone: stable across reruns."""
    digest = hashlib.sha256(f"{plan.seed}:openid:{phone}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode()[:27]


def visitors_seed(plan: DemoPlan) -> StepResult:
    """One visitor (who ordered on WeChat) per restaurant that has none; a customer with a visitor is left alone.

    Orders need a visitor; the order-history step backdates these rows to before the first order.
    """
    created = existing = 0
    last_pk = 0
    with plan.progress_bar(total=Customer.objects.count(), desc="访客") as bar:
        while rows := list(
            Customer.objects.filter(pk__gt=last_pk).order_by("pk").values_list("pk", "phone", "contact_name")[
                :BATCH_SIZE
            ]
        ):
            last_pk = rows[-1][0]
            served = set(
                Visitor.objects.filter(customer_id__in=[pk for pk, _, _ in rows]).values_list("customer_id", flat=True)
            )
            new = [
                Visitor(openid=seed_openid(plan, phone=phone), customer_id=pk, nickname=contact_name, phone=phone)
                for pk, phone, contact_name in rows if pk not in served
            ]
            Visitor.objects.bulk_create(new, batch_size=BATCH_SIZE, ignore_conflicts=True)
            created += len(new)
            existing += len(served)
            bar.update(len(rows))
    return StepResult("访客", created, existing)
