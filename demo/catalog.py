"""Seeding steps for the catalogue side: categories, suppliers, products.

Generation (pure, seeded) is kept apart from writing (bulk inserts that skip natural keys already
present), so a rerun regenerates the same rows and inserts none of them twice.
"""

import random
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate

from catalog.models import Category, Product
from logistics.models import Supplier

from .base import BATCH_SIZE, DemoPlan, StepResult, batched, decimal_2, decimal_6, person_name, phone_numbers
from .catalog_data import AISLES, BRANDS, COMMON_TAGS, ORIGINS, PACKS, Species
from .names_data import SUPPLIER_KINDS, SUPPLIER_WORDS
from .places_data import MARKETS

# ---------------------------------------------------------------- categories


def categories_seed(plan: DemoPlan) -> StepResult:
    created = existing = 0
    for aisle_index, (aisle, _storage, shelves) in enumerate(AISLES, start=1):
        top, made = Category.objects.get_or_create(
            parent=None, name=aisle, defaults={"sort_order": aisle_index * 10}
        )
        created, existing = created + made, existing + (not made)
        for shelf_index, (shelf, _species) in enumerate(shelves, start=1):
            _, made = Category.objects.get_or_create(parent=top, name=shelf, defaults={"sort_order": shelf_index * 10})
            created, existing = created + made, existing + (not made)
    return StepResult("分类", created, existing)


# ---------------------------------------------------------------- suppliers


@dataclass(frozen=True)
class SupplierSpec:
    name: str
    contact_name: str
    phone: str
    address: str
    latitude: Decimal
    longitude: Decimal
    aisles: tuple[int, ...]  # indexes into AISLES this supplier sells


def supplier_specs(plan: DemoPlan) -> list[SupplierSpec]:
    rng = plan.rng("suppliers")
    firms = [
        (f"深圳市{word}{kind}" if kind.endswith("公司") else f"{word}{kind}")
        for word in SUPPLIER_WORDS for kind in SUPPLIER_KINDS
    ]
    rng.shuffle(firms)
    phones = phone_numbers(rng)
    specs = []
    for i in range(plan.suppliers):
        # Past the table's size, numbered stalls keep names unique (only at scales nobody seeds by hand).
        name = firms[i % len(firms)] + (f"{i // len(firms) + 1}号档" if i >= len(firms) else "")
        market, area, lat, lng = rng.choice(MARKETS)
        phone = next(phones) if rng.random() < 0.7 else f"0755-{rng.randrange(2, 9)}{rng.randrange(10**6, 10**7)}"
        # Every aisle has a supplier as soon as there are as many suppliers as aisles.
        aisles = {i % len(AISLES), *rng.sample(range(len(AISLES)), rng.choice((0, 1, 1, 2)))}
        specs.append(SupplierSpec(
            name=name,
            contact_name=person_name(rng),
            phone=phone,
            address=f"深圳市{area}{market}{rng.choice('ABCDEF')}区{rng.randrange(1, 240)}号",
            latitude=decimal_6(lat + rng.uniform(-0.0015, 0.0015)),
            longitude=decimal_6(lng + rng.uniform(-0.0015, 0.0015)),
            aisles=tuple(sorted(aisles)),
        ))
    return specs


def suppliers_seed(plan: DemoPlan) -> StepResult:
    specs = supplier_specs(plan)
    present = set(Supplier.objects.filter(name__in=[s.name for s in specs]).values_list("name", flat=True))
    new = [
        Supplier(name=s.name, contact_name=s.contact_name, phone=s.phone, address=s.address, latitude=s.latitude,
                 longitude=s.longitude)
        for s in specs if s.name not in present
    ]
    Supplier.objects.bulk_create(new, batch_size=BATCH_SIZE, ignore_conflicts=True)
    return StepResult("供应商", len(new), len(present))


# ---------------------------------------------------------------- products


@dataclass(frozen=True)
class ProductSpec:
    code: str
    name: str
    aisle: str
    shelf: str
    spec: str
    unit: str
    price: Decimal
    catch_weight: bool
    nominal_weight: Decimal | None
    storage: str
    origin: str
    supplier: str | None
    is_active: bool
    min_quantity: Decimal
    step_quantity: Decimal
    sort_order: int


def product_code(index: int) -> str:
    return f"SF{index:06d}"


def _round_price(value: float) -> Decimal:
    """Wholesalers quote round figures: dimes under 20 yuan, half yuan under 200, whole yuan above."""
    step = 0.1 if value < 20 else 0.5 if value < 200 else 1.0
    return decimal_2(max(0.5, round(value / step) * step))


def _quantities(rng: random.Random, unit: str, jin: float, catch_weight: bool) -> tuple[Decimal, Decimal]:
    if unit == "斤":
        return decimal_2(rng.choice((1, 2, 2, 5))), Decimal("0.50")
    if unit == "kg":
        return Decimal("1.00"), Decimal("0.50")
    if unit in ("袋", "盒", "包") and jin <= 0.5:
        return decimal_2(rng.choice((1, 5, 10))), Decimal("1.00")
    if unit == "只" and not catch_weight:
        return decimal_2(rng.choice((5, 10, 12))), Decimal("1.00")
    return Decimal("1.00"), Decimal("1.00")


def product_specs(plan: DemoPlan) -> Iterator[ProductSpec]:
    """`plan.products` distinct-named SKUs; for one seed and supplier count, the first n never depend on the total."""
    rng = plan.rng("products")
    shelves = [
        (aisle_index, aisle, storage, shelf, species)
        for aisle_index, (aisle, storage, aisle_shelves) in enumerate(AISLES)
        for shelf, shelf_species in aisle_shelves
        for species in shelf_species
    ]
    cum_weights = list(accumulate(entry[4].weight for entry in shelves))
    supplier_names_by_aisle: dict[int, list[str]] = {}
    all_suppliers = supplier_specs(plan)
    for supplier in all_suppliers:
        for aisle_index in supplier.aisles:
            supplier_names_by_aisle.setdefault(aisle_index, []).append(supplier.name)
    used_names: set[str] = set()

    for index in range(1, plan.products + 1):
        aisle_index, aisle, storage, shelf, species = shelves[bisect(cum_weights, rng.random() * cum_weights[-1])]
        for attempt in range(60):
            candidate = _product_candidate(rng, species, tag_chance=0.15 if attempt < 3 else 0.9)
            if candidate[0] not in used_names:
                break
        # After 60 draws the species is saturated; a duplicate name is still a valid SKU.
        name, spec, unit, jin, catch_weight, origin = candidate
        used_names.add(name)
        per_jin = rng.uniform(*species.price)
        factor = 0.94 if unit == "箱" else 1.06 if jin <= 0.5 else 1.0
        min_quantity, step_quantity = _quantities(rng, unit, jin, catch_weight)
        suppliers = supplier_names_by_aisle.get(aisle_index) or [s.name for s in all_suppliers]
        yield ProductSpec(
            code=product_code(index),
            name=name,
            aisle=aisle,
            shelf=shelf,
            spec=spec,
            unit=unit,
            price=_round_price(per_jin * jin * factor),
            catch_weight=catch_weight,
            nominal_weight=decimal_2(jin) if catch_weight else None,
            storage=species.storage or storage,
            origin=origin,
            supplier=rng.choice(suppliers) if suppliers else None,
            is_active=rng.random() >= 0.02,
            min_quantity=min_quantity,
            step_quantity=step_quantity,
            sort_order=index * 10,
        )


def _product_candidate(rng: random.Random, species: Species, *, tag_chance: float):
    form = rng.choice(species.forms)
    origin_in_form = next((o for o in ORIGINS if o in form), None)
    origin = origin_in_form or rng.choice(species.origins)
    roll = rng.random()
    if roll < 0.45 and not origin_in_form:
        head = f"{origin}{form}"
    elif roll < 0.8 and species.branded:
        head = f"{rng.choice(BRANDS)} {form}"
    else:
        head = form
    grade = rng.choice(species.grades) if species.grades and rng.random() < 0.8 else ""
    tag = rng.choice(COMMON_TAGS) if rng.random() < tag_chance else ""
    pack = PACKS[rng.choice(species.packs)]
    unit, jin, catch_weight, spec = pack.unit, pack.jin, pack.catch_weight, pack.spec
    if unit in ("条", "只"):
        jin = round(species.piece_jin * rng.uniform(0.8, 1.25), 2)
        if jin >= 0.5:
            jin = round(jin, 1)
            spec = f"约{jin:g}斤/{unit}"
        else:
            # Small pieces (abalone, oysters) are counted, not weighed.
            catch_weight = False
            spec = f"约{round(jin * 500 / 5) * 5}g/{unit}"
    in_name = pack.in_name
    name = " ".join(part for part in (head, grade, tag, spec if in_name else "") if part)
    return name, spec, unit, jin, catch_weight, origin


def products_seed(plan: DemoPlan) -> StepResult:
    shelf_ids = {
        (c.parent.name, c.name): c.pk
        for c in Category.objects.filter(parent__isnull=False, parent__parent__isnull=True).select_related("parent")
    }
    supplier_ids = dict(
        Supplier.objects.filter(name__in=[s.name for s in supplier_specs(plan)]).values_list("name", "pk")
    )
    created = existing = 0
    with plan.progress_bar(total=plan.products, desc="商品") as bar:
        for batch in batched(product_specs(plan)):
            present = set(Product.objects.filter(code__in=[s.code for s in batch]).values_list("code", flat=True))
            new = []
            for s in batch:
                if s.code in present:
                    continue
                product = Product(
                    code=s.code, name=s.name, category_id=shelf_ids[(s.aisle, s.shelf)], spec=s.spec, unit=s.unit,
                    price=s.price, catch_weight=s.catch_weight, nominal_weight=s.nominal_weight, storage=s.storage,
                    origin=s.origin, default_supplier_id=supplier_ids.get(s.supplier), is_active=s.is_active,
                    min_quantity=s.min_quantity, step_quantity=s.step_quantity, sort_order=s.sort_order,
                )
                product.refresh_search_key()  # what Product.save() would do; bulk_create skips save()
                new.append(product)
            Product.objects.bulk_create(new, batch_size=BATCH_SIZE, ignore_conflicts=True)
            created += len(new)
            existing += len(present)
            bar.update(len(batch))
    return StepResult("商品", created, existing)
