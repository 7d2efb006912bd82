"""What every seeding step shares: the plan, its result, seeded randomness, batching, progress."""

import random
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice

from tqdm import tqdm

from .names_data import GIVEN_CHARS, SURNAMES

DEFAULT_SEED = 20261123
BATCH_SIZE = 2000

# Volumes at scale 1: the distributor of the story (docs/design.md §8).
BASE_PRODUCTS = 3000
BASE_SUPPLIERS = 30
BASE_REPS = 10
BASE_CUSTOMERS = 5000
DEFAULT_HISTORY_MONTHS = 6


@dataclass(frozen=True)
class DemoPlan:
    seed: int = DEFAULT_SEED
    products: int = BASE_PRODUCTS
    suppliers: int = BASE_SUPPLIERS
    reps: int = BASE_REPS
    customers: int = BASE_CUSTOMERS
    history_months: int = DEFAULT_HISTORY_MONTHS  # months of past orders per restaurant; 0 = none
    now: datetime | None = None  # the moment history runs up to; None = the clock at seeding time
    jobs: int = 1  # worker processes for order history (PostgreSQL only)
    progress: bool = False

    @classmethod
    def for_scale(
        cls, scale: float, *, seed: int = DEFAULT_SEED, history_months: int = DEFAULT_HISTORY_MONTHS, jobs: int = 1,
        progress: bool = False,
    ) -> "DemoPlan":
        """Fractions are allowed so tests can seed a few dozen rows; every kind gets at least one."""

        def count(base: int) -> int:
            return max(1, round(base * scale))

        return cls(
            seed=seed, products=count(BASE_PRODUCTS), suppliers=count(BASE_SUPPLIERS), reps=count(BASE_REPS),
            customers=count(BASE_CUSTOMERS), history_months=history_months, jobs=jobs, progress=progress,
        )

    def rng(self, stream: str) -> random.Random:
        """One independent stream per step, so adding a step never changes what another generates."""
        return random.Random(f"{self.seed}:{stream}")

    def progress_bar(self, *, total: int, desc: str) -> tqdm:
        return tqdm(total=total, desc=desc, unit="行", file=sys.stderr, disable=not self.progress, leave=False)


@dataclass(frozen=True)
class StepResult:
    label: str
    created: int
    existing: int
    seconds: float = 0.0

    def __str__(self) -> str:
        return f"{self.label}：新增 {self.created}，已存在 {self.existing}（{self.seconds:.1f} 秒）"


def batched(items: Iterable, size: int = BATCH_SIZE) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def decimal_2(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def decimal_6(value: float) -> Decimal:
    return Decimal(f"{value:.6f}")


def phone_numbers(rng: random.Random) -> Iterator[str]:
    """Distinct, plausible mainland mobile numbers (13x/15x/17x/18x/19x), forever."""
    prefixes = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
                "157", "158", "159", "166", "173", "176", "177", "180", "181", "182", "185", "186", "187", "188",
                "189", "191", "198", "199")
    seen: set[str] = set()
    while True:
        number = f"{rng.choice(prefixes)}{rng.randrange(10**8):08d}"
        if number not in seen:
            seen.add(number)
            yield number


def person_name(rng: random.Random) -> str:
    given = "".join(rng.choice(GIVEN_CHARS) for _ in range(rng.choice((1, 2, 2, 2))))
    return rng.choice(SURNAMES) + given
