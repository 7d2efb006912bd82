"""`make run`'s periodic work, for real: honcho starts Procfile.dev's Celery worker and beat against a
SQLite file and kombu's filesystem broker in a temporary folder, with no Redis and no eager mode.
An unpaid order whose payment window has closed is cancelled, and its stock released, by the
beat-scheduled expiry sweep the worker runs. Bounded polling, never a timing assertion."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 240  # generous: a loaded machine is slow, never wrong

SETUP = r"""
import json, warnings
from datetime import timedelta
from decimal import Decimal
warnings.filterwarnings("ignore")
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.utils import timezone
from catalog.services import cart_line_set
from orders.models import Order, OrderSettings
from orders.services import order_place
from orders.services.checkout import DeliveryInput
from tests.factories import CustomerFactory, VisitorFactory, product_with_stock

assert not settings.CELERY_TASK_ALWAYS_EAGER and settings.CELERY_BROKER_URL == "filesystem://"
OrderSettings.objects.update_or_create(pk=1, defaults={"min_order_amount": Decimal("10.00")})
product = product_with_stock(name="冻虾仁", price="38.50", on_hand="20")
customer = CustomerFactory()
visitor = VisitorFactory(customer=customer, phone=customer.phone)
cart_line_set(visitor=visitor, product_id=product.pk, quantity="3")
delivery = DeliveryInput(restaurant_name="湘味小馆", contact_name="王老板", address="深圳市福田区福华路 88 号",
                         latitude=Decimal("22.541234"), longitude=Decimal("114.061234"), district="福田")
order, _ = order_place(visitor=visitor, idempotency_key="embeddedscheduler01", delivery=delivery)
# A short payment deadline: this order's window closes two seconds from now.
Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() + timedelta(seconds=2))
print(json.dumps({"order": order.pk.hex, "product": product.pk}))
"""


def _read(db: Path, sql: str, params=()):
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql, params).fetchall()


def _stop(process: subprocess.Popen) -> str:
    """SIGTERM to honcho's process group (honcho stops its children), then its output."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.stdout.read() if process.stdout else ""


def test_an_unpaid_order_expires_and_releases_its_stock_under_make_runs_worker_and_beat(tmp_path):
    db = tmp_path / "db.sqlite3"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER", "CELERY_BROKER_URL")}
    env.update(DJANGO_SETTINGS_MODULE="seafood_b2b.settings", DATABASE_URL=f"sqlite:///{db}", PYTHONPATH=str(ROOT),
               PYTHONWARNINGS="ignore", CELERY_BROKER_URL="filesystem://",
               CELERY_FILESYSTEM_DIR=str(tmp_path / "broker"), ORDERS_EXPIRY_SWEEP_SECONDS="2")
    setup = subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=WAIT_SECONDS)
    assert setup.returncode == 0, setup.stderr[-3000:]
    placed = json.loads(setup.stdout.strip().splitlines()[-1])
    order_id, product_id = placed["order"], placed["product"]
    stock = "SELECT reserved, on_hand FROM logistics_stock WHERE product_id = ?"
    assert _read(db, stock, (product_id,)) == [(3, 20)]

    honcho = subprocess.Popen([str(ROOT / ".venv" / "bin" / "honcho"), "-f", "Procfile.dev", "start", "worker", "beat"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    status = None
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline and honcho.poll() is None:
            status = _read(db, "SELECT status FROM orders_order WHERE id = ?", (order_id,))[0][0]
            if status == "cancelled":
                break
            time.sleep(0.5)
        tasks = {name for (name,) in _read(db, "SELECT name FROM django_celery_beat_periodictask")}
    finally:
        output = _stop(honcho)

    assert status == "cancelled", output[-5000:]
    assert _read(db, stock, (product_id,)) == [(0, 20)]
    assert _read(db, "SELECT kind, reserved_delta FROM logistics_stockmove WHERE kind = 'release'") == [("release", -3)]
    assert _read(db, "SELECT cancel_reason FROM orders_order WHERE id = ?", (order_id,)) == [("超时未支付，已自动取消",)]
    # Beat keeps its schedule in the database: every entry of the settings' schedule is a row there.
    assert set(settings.CELERY_BEAT_SCHEDULE) <= tasks
    assert "orders.tasks.orders_expire_unpaid" in output  # run by the worker, as beat sent it
