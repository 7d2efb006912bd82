"""A day's peak hour at 10x, the whole product running: `make load` (10 min) and `make load-quick` (60 s).

What runs, on loopback, against a fresh database (`seafood_load`, dropped and seeded each run):
two web processes (gunicorn, 1 worker x 4 threads each, on two ports, requests sent to them in
turn), two Celery workers (acks late, as the Procfile) and beat, all against one PostgreSQL and one
Redis (db 6, flushed first). locust plays restaurants, WeChat Pay's late notifications, reps,
delivery drivers completing stops with photos, purchasing drivers and clerks, and staff
(bench/locustfile.py). Before the load, today's deliveries are laid out as the warehouse leaves
them: packed orders for today, routed onto the load's drivers by `runs_build`. Halfway through,
the nightly sweeps (churn, automatic tags, lost items, tomorrow's purchase tasks, the ledger check) are sent to
the workers as beat would at night, and the orders left unpaid so far are made due (their 30-minute
payment window is longer than the run) and the expiry sweep is sent: it closes them at WeChat Pay
and releases their stock while the shop is busy.

Afterwards, once the workers are idle, it checks the invariants of DESIGN.md and exits 1 if any
fails: no oversold unit (no stock row with reserved above on-hand, or below zero), the ledger
equal to the stock, every order the clients saw placed exists exactly once (and nothing else was
created), every payment they confirmed settled exactly once (one settlement, one paid event and
one paid message however many notifications came), every order made due cancelled with its
payment closed, every stop a driver saw completed delivered with its proof (who signed or where
left, the photo file in private storage) and its customer's delivered message in the outbox once,
no notification failed or left waiting. It prints throughput, p50/p95/p99 per endpoint, the error rate, the most database
connections in use, and the orders per hour reached against the 10x target.

The target: the distributor of the source story takes 1,000+ orders a day, about a fifth of them
in the peak hour (~200/h); 10x is 2,000 orders an hour, with the browsing that goes with them.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._http_load import GunicornServer  # noqa: E402

TARGET_ORDERS_PER_HOUR = 2_000
EXPIRY = "orders.tasks.orders_expire_unpaid"
NIGHTLY = ["customers.tasks.churn_sweep_task", "crm.tasks.auto_tags_task", "usuals.tasks.lost_items_sweep_task",
           "logistics.tasks_purchasing.purchase_tasks_build_for_tomorrow", "logistics.tasks.stock_check_ledger"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=600, help="seconds of load (default 600)")
    parser.add_argument("--users", type=int, default=48,
                        help="locust users: restaurants, reps, delivery drivers, WeChat Pay, warehouse, staff 20:3:2:1:1:1")
    parser.add_argument("--scale", type=float, default=1.0, help="seed_demo scale (1 = 3,000 SKUs, 5,000 restaurants)")
    parser.add_argument("--no-seed", action="store_true",
                        help="do not drop, recreate and seed the database: load the one there (e.g. `seed_demo --bulk`)")
    parser.add_argument("--quick", action="store_true", help="60 s, 24 users, scale 0.2: the CI run")
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL",
                                                                 "postgres://postgres@127.0.0.1:5432/seafood_load"))
    parser.add_argument("--redis-url", default=os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/6"))
    parser.add_argument("--settle-timeout", type=int, default=900,
                        help="seconds to wait after the load for the workers to finish (default 900)")
    parser.add_argument("--report", default="", help="also write the report (markdown) to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.users, args.scale = 60, 24, 0.2
    return args


def environment(args, key_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="seafood_b2b.settings", DATABASE_URL=args.database_url, REDIS_URL=args.redis_url,
        CELERY_BROKER_URL=args.redis_url, CELERY_TASK_ALWAYS_EAGER="false", DEBUG="0",
        SECRET_KEY="load-only-secret-not-for-production-0123456789", ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING", WECHATPAY_DEV_KEY_DIR=key_dir, WECHATPAY_DEV_DUPLICATE_NOTIFY="1",
        PYTHONWARNINGS="ignore:No directory at", PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        # Proof photos and pictures of this run, not the checkout's folders.
        MEDIA_ROOT=str(Path(key_dir).parent / "media"), PRIVATE_MEDIA_ROOT=str(Path(key_dir).parent / "private-media"),
    )
    return env


def sh(env, *command, stream=False) -> None:
    result = subprocess.run(command, cwd=ROOT, env=env, text=True,
                            stdout=None if stream else subprocess.PIPE, stderr=subprocess.STDOUT)
    if result.returncode:
        sys.exit(f"load: {' '.join(command)} failed ({result.returncode}):\n{result.stdout or ''}")


def fresh_database(args, env) -> None:
    import dj_database_url
    import psycopg2
    import redis
    from psycopg2 import sql

    config = dj_database_url.parse(args.database_url)
    conn = psycopg2.connect(host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432,
                            user=config["USER"] or "postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(config["NAME"])))
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
    conn.close()
    redis.Redis.from_url(args.redis_url).flushdb()
    started = time.monotonic()
    print(f"Seeding {config['NAME']}: migrate, seed_demo --scale {args.scale} --history-months 1", flush=True)
    sh(env, sys.executable, "manage.py", "migrate", "--noinput")
    sh(env, sys.executable, "manage.py", "seed_demo", "--scale", str(args.scale), "--history-months", "1", stream=True)
    print(f"  ready in {time.monotonic() - started:.0f} s", flush=True)


def write_fixture(path: Path, *, drivers: int, stops_each: int) -> None:
    """Who the simulated people are: tokens and sessions made as the product makes them."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.cached_db import SessionStore

    from catalog.models import Category
    from customers.models import Visitor
    from customers.tokens import visitor_token_make
    from reps.feed import feed_token_make
    from reps.models import Rep

    def session_for(user) -> str:
        session = SessionStore()
        session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), settings.AUTHENTICATION_BACKENDS[-1]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        return session.session_key

    from catalog.models import Product
    from logistics.models import Driver, PurchaseTask
    from logistics.roles import WAREHOUSE_GROUP

    visitors = list(Visitor.objects.filter(customer__isnull=False, phone__gt="").values_list("pk", flat=True)[:2000])
    reps = [rep for rep in Rep.objects.select_related("user").filter(user__isnull=False, is_active=True)[:50]]
    staff = get_user_model().objects.filter(is_superuser=True).first()
    aisles = list(Category.objects.filter(parent__isnull=True).values_list("pk", flat=True))
    shelves = list(Category.objects.filter(parent__isnull=False).values_list("pk", flat=True))
    purchasing = [driver.user for driver in Driver.objects.select_related("user")
                  .filter(kind=Driver.Kind.PURCHASING, is_active=True, suspended_at__isnull=True)]
    clerk = get_user_model().objects.filter(groups__name=WAREHOUSE_GROUP, is_active=True).first()
    if not (visitors and reps and staff and aisles and shelves and purchasing and clerk):
        sys.exit("load: the seeded database lacks restaurants with phones, reps, an admin, categories, "
                 "purchasing drivers or a clerk")
    drivers = deliveries_prepare(drivers=drivers, stops_each=stops_each)
    path.write_text(json.dumps({
        "visitors": [{"id": pk, "token": visitor_token_make(pk)} for pk in visitors],
        "reps": [{"id": rep.pk, "feed_token": feed_token_make(rep), "session": session_for(rep.user)} for rep in reps],
        "staff_session": session_for(staff), "aisles": aisles, "shelves": shelves,
        "drivers": [{"id": driver.pk, "session": session_for(driver.user)} for driver in drivers],
        "purchasing_sessions": [session_for(user) for user in purchasing],
        "purchase_tasks": list(PurchaseTask.objects.filter(driver__isnull=False).values_list("pk", flat=True)[:200]),
        "clerk_session": session_for(clerk),
        "product_codes": list(Product.objects.order_by("?").values_list("code", flat=True)[:200]),
    }))


def deliveries_prepare(*, drivers: int, stops_each: int) -> list:
    """Today's deliveries as the warehouse leaves them at dawn: `drivers` delivery drivers of the
    load's own (logins in 送货司机, a van of `stops_each` stops) and as many orders, paid and packed
    for today, for seeded restaurants at their map pins (made directly: packing is not what this
    load measures), then routed by the real 排线 (`runs_build`) onto those drivers alone. The
    drivers' phones do the rest (出发, each stop) during the load."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from catalog.models import Product
    from customers.models import Visitor
    from logistics.dispatch import runs_build
    from logistics.models import DeliveryRun, Driver
    from logistics.roles import DELIVERY_GROUP, ensure_groups
    from orders.models import Order, OrderLine

    ensure_groups()
    group = Group.objects.get(name=DELIVERY_GROUP)
    team = []
    for k in range(1, drivers + 1):
        user = get_user_model().objects.create_user(username=f"load-driver{k:02d}", password=None)
        user.groups.add(group)
        team.append(Driver.objects.create(user=user, kind=Driver.Kind.DELIVERY, name=f"压测司机{k:02d}",
                                          max_stops=stops_each, max_weight_kg=5000))
    now, today = timezone.now(), timezone.localdate()
    visitors = list(Visitor.objects.select_related("customer")
                    .filter(customer__isnull=False, phone__gt="", customer__latitude__isnull=False)
                    .order_by("pk")[:drivers * stops_each])
    products = list(Product.objects.order_by("pk")[:50])
    orders, lines = [], []
    for k, visitor in enumerate(visitors):
        customer, product = visitor.customer, products[k % len(products)]
        quantity = 5
        amount = product.price * quantity
        order = Order(number=f"L{now:%y%m%d}{k:07d}", customer=customer, visitor=visitor, status=Order.Status.PACKED,
                      idempotency_key=f"load-delivery-{k}", delivery_date=today, subtotal=amount, total=amount,
                      restaurant_name=customer.name, contact_name=customer.contact_name or "老板",
                      phone=customer.phone, address=customer.address or "深圳市", district=customer.district or "",
                      latitude=customer.latitude, longitude=customer.longitude,
                      expires_at=now - timedelta(hours=12), paid_at=now - timedelta(hours=12))
        orders.append(order)
        lines.append(OrderLine(order=order, product=product, product_code=product.code, product_name=product.name,
                               spec=product.spec, unit=product.unit, unit_price=product.price, quantity=quantity,
                               amount=amount, packed_quantity=quantity, actual_amount=amount, packed_at=now))
    Order.objects.bulk_create(orders)
    OrderLine.objects.bulk_create(lines)
    result = runs_build(delivery_date=today, driver_ids=[driver.pk for driver in team], time_limit_s=5)
    routed = DeliveryRun.objects.filter(driver__in=team, delivery_date=today).count()
    print(f"  deliveries: {len(orders)} packed orders for today routed onto {routed} runs "
          f"({len(result.runs)} built)", flush=True)
    return team


class ConnectionSampler(threading.Thread):
    """The most connections the database had open, sampled every second."""

    def __init__(self, database_url: str):
        super().__init__(daemon=True)
        import dj_database_url

        self.name_ = dj_database_url.parse(database_url)["NAME"]
        self.url = database_url
        self.most = 0
        self.stop = threading.Event()

    def run(self):
        import psycopg2

        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cursor:
            while not self.stop.wait(1.0):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.name_])
                self.most = max(self.most, cursor.fetchone()[0])
        conn.close()


class WebProcess(GunicornServer):
    """gunicorn keeping idle connections open longer than any simulated person waits between two
    requests (8 s): otherwise a client sends on a connection the server has just closed and the
    reset is counted as an error of the product (a browser silently retries those)."""

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--keep-alive") + 1] = "30"
        return command


def start(env, log_dir: Path, name: str, *command) -> subprocess.Popen:
    log = open(log_dir / f"{name}.log", "wb")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def orders_make_due(journal_path: Path) -> int:
    """The orders left unpaid so far reach the end of their payment window now (it is 30 minutes,
    longer than the run): the expiry sweep sent next closes them while the shop is busy."""
    from django.utils import timezone

    from orders.models import Order

    unpaid = [entry["order_id"] for entry in _entries(journal_path) if entry["kind"] == "unpaid"]
    return Order.objects.filter(pk__in=unpaid, status=Order.Status.PENDING_PAYMENT).update(expires_at=timezone.now())


def _entries(journal_path: Path) -> list[dict]:
    entries = []
    for line in journal_path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            pass  # a line being written as the run reads it
    return entries


def wait_idle(redis_url: str, journal_path: Path, timeout: float) -> bool:
    """The workers are done: nothing queued, no outbox row waiting to be sent, and every payment
    the clients confirmed has reached the shop (a notification retried after a busy moment waits
    in a worker with a countdown, not in the queue)."""
    import redis

    from notifications.models import Notification
    from orders.models import Order

    paid = {entry["order_id"] for entry in _entries(journal_path) if entry["kind"] == "paid"}
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = Notification.objects.filter(status="pending").exclude(channel="inbox").count()
        unsettled = Order.objects.filter(pk__in=paid, paid_at__isnull=True).count()
        if client.llen("celery") == 0 and waiting == 0 and unsettled == 0:
            return True
        time.sleep(2)
    return False


def check_invariants(journal_path: Path, started_at) -> tuple[list[str], dict]:
    from django.db.models import Count, F, Q
    from django.utils import timezone

    from logistics.models import Stock
    from logistics.selectors import stock_ledger_drift
    from notifications.models import Notification
    from orders.models import Order, OrderEvent, Payment

    entries = _entries(journal_path)
    placed = [entry["order_id"] for entry in entries if entry["kind"] == "order"]
    paid = {entry["order_id"] for entry in entries if entry["kind"] == "paid"}
    problems = []
    oversold = Stock.objects.filter(Q(reserved__gt=F("on_hand")) | Q(on_hand__lt=0) | Q(reserved__lt=0)).count()
    if oversold:
        problems.append(f"{oversold} stock rows oversold (reserved above on-hand, or negative)")
    drift = stock_ledger_drift()
    if drift:
        problems.append(f"{len(drift)} stock rows differ from their ledger: {drift[:3]}")
    attempted = {entry["key"] for entry in entries if entry["kind"] == "attempt"}
    rows = list(Order.objects.filter(created_at__gte=started_at).values_list("pk", "idempotency_key"))
    created = {str(pk) for pk, _ in rows}
    if len(placed) != len(set(placed)):
        problems.append("an order id was answered twice")
    if set(placed) - created:
        problems.append(f"{len(set(placed) - created)} orders the clients saw placed are missing")
    strays = [key for _, key in rows if key not in attempted]
    if strays:
        problems.append(f"{len(strays)} orders exist that no client attempted")
    if len(rows) != len({key for _, key in rows}):
        problems.append("two orders for one checkout attempt")
    # An order placed whose answer never reached the client (the run's end cut the request) is
    # not an error of the product: the client's retry with the same key would get it.
    unsettled = [pk for pk in paid if Payment.objects.filter(order_id=pk, status="succeeded").count() != 1]
    if unsettled:
        problems.append(f"{len(unsettled)} confirmed payments not settled exactly once")
    not_paid = Order.objects.filter(pk__in=paid, paid_at__isnull=True).count()
    if not_paid:
        problems.append(f"{not_paid} orders paid at WeChat Pay but not paid here")
    paid_events = dict(OrderEvent.objects.filter(order_id__in=paid, to_status="paid").values_list("order_id")
                       .annotate(n=Count("id")).values_list("order_id", "n"))
    if any(paid_events.get(pk, 0) != 1 for pk in map(_uuid, paid)):
        problems.append("a confirmed payment has not exactly one paid event")
    paid_messages = Notification.objects.filter(event_key__in=[f"order:{pk}:paid" for pk in paid]).count()
    if paid_messages != len(paid):
        problems.append(f"{paid_messages} paid messages in the outbox for {len(paid)} payments")
    # The unpaid orders made due at halfway (the others are still inside their payment window).
    due = Order.objects.filter(pk__in=[e["order_id"] for e in entries if e["kind"] == "unpaid"],
                               expires_at__lte=timezone.now())
    expired = due.filter(status=Order.Status.CANCELLED).count()
    stuck = due.filter(status=Order.Status.PENDING_PAYMENT).count()
    if stuck:
        problems.append(f"{stuck} orders past their payment window still pending")
    open_payments = Payment.objects.filter(order__in=due.filter(status=Order.Status.CANCELLED)).exclude(
        status="closed").count()
    if open_payments:
        problems.append(f"{open_payments} payments of expired orders not closed at WeChat Pay")
    problems += _deliveries_check(entries)
    failed = Notification.objects.filter(status="failed").count()
    if failed:
        problems.append(f"{failed} notifications failed")
    delivered = {entry["stop_id"] for entry in entries if entry["kind"] == "delivered"}
    late = sum(1 for entry in entries if entry["kind"] == "late_notify")
    return problems, {"orders": len(placed), "paid": len(paid), "expired": expired, "delivered": len(delivered),
                      "late_notifications": late}


def _uuid(value):
    import uuid

    return uuid.UUID(str(value))


def _deliveries_check(entries) -> list[str]:
    """Every stop a driver's phone saw completed is delivered with its proof: who signed or where
    it was left, the photo file present in private storage, the completion time; its order is
    delivered; its customer's delivered message is in the outbox exactly once."""
    from django.db.models import Count

    from logistics.models import Stop
    from notifications.models import Notification

    seen = {entry["stop_id"] for entry in entries if entry["kind"] == "delivered"}
    problems = []
    stops = list(Stop.objects.select_related("order").filter(status=Stop.Status.DELIVERED))
    if seen - {stop.pk for stop in stops}:
        problems.append(f"{len(seen - {stop.pk for stop in stops})} stops the drivers completed are not delivered")
    without_proof = [stop.pk for stop in stops
                     if not (stop.photo and stop.photo.storage.exists(stop.photo.name) and stop.completed_at
                             and (stop.signed_by if stop.proof_kind == "signed" else stop.left_at))]
    if without_proof:
        problems.append(f"{len(without_proof)} delivered stops without their proof (photo, signer or place)")
    if any(stop.order.status != "delivered" for stop in stops):
        problems.append("a delivered stop's order is not delivered")
    messages = dict(Notification.objects.filter(event_key__in=[f"order:{stop.order_id}:delivered" for stop in stops])
                    .values_list("event_key").annotate(n=Count("id")).values_list("event_key", "n"))
    missing = [stop.pk for stop in stops if messages.get(f"order:{stop.order_id}:delivered") != 1]
    if missing:
        problems.append(f"{len(missing)} delivered stops without exactly one delivered message")
    return problems


def read_stats(prefix: Path) -> list[dict]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def report(rows, *, args, counts, most_connections, problems, duration) -> str:
    orders, paid = counts["orders"], counts["paid"]
    lines = [f"Load: {duration:.0f} s, {args.users} users (restaurants:reps:drivers:WeChat Pay:warehouse:staff "
             f"20:3:2:1:1:1), seed scale {args.scale}, "
             "2 web processes (gunicorn 1x4 gthread each, round-robin), 2 Celery workers + beat, "
             f"load average at the end {os.getloadavg()[0]:.1f}", "",
             "| endpoint | requests | req/s | failures | p50 ms | p95 ms | p99 ms |", "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['Name']} | {row['Request Count']} | {float(row['Requests/s']):.1f} | {row['Failure Count']} | "
                     f"{row['50%']} | {row['95%']} | {row['99%']} |")
    total = next(row for row in rows if row["Name"] == "Aggregated")
    errors = int(total["Failure Count"]) / max(1, int(total["Request Count"]))
    per_hour = orders / duration * 3600
    lines += ["", f"- error rate: {errors:.2%}",
              f"- orders placed: {orders} ({per_hour:,.0f}/h; 10x peak target {TARGET_ORDERS_PER_HOUR:,}/h: "
              f"{per_hour / TARGET_ORDERS_PER_HOUR:.2f}x of it), payments confirmed: {paid}",
              f"- late WeChat Pay notifications answered: {counts['late_notifications']}; unpaid orders made due "
              f"at halfway and expired by the sweep: {counts['expired']}",
              f"- stops completed by drivers with a photo: {counts['delivered']}",
              f"- most database connections in use: {most_connections}",
              "- invariants: " + ("all hold (no oversold unit, ledger = stock, no order or payment lost or doubled, "
                                  "one paid event and message per payment, expired orders closed, every completed "
                                  "stop with its photo and proof and one delivered message, no notification failed "
                                  "or waiting)" if not problems else "FAILED: " + "; ".join(problems))]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="seafood-load-"))
    env = environment(args, str(work / "wechatpay-dev-keys"))
    os.environ.update({key: env[key] for key in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL",
                                                 "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "SECRET_KEY",
                                                 "WECHATPAY_DEV_KEY_DIR", "MEDIA_ROOT", "PRIVATE_MEDIA_ROOT")})
    if args.no_seed:
        print("Using the database as it is (--no-seed): no drop, no seeding; Redis flushed.", flush=True)
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
    else:
        fresh_database(args, env)
    import django

    django.setup()
    from django.utils import timezone

    from seafood_b2b.celery import app as celery_app

    fixture, journal, stats = work / "fixture.json", work / "journal.jsonl", work / "locust"
    drivers = max(2, round(args.users * 2 / 28) + 1)  # one driver per simulated driver, and a spare
    write_fixture(fixture, drivers=drivers, stops_each=max(8, args.duration // 15))
    journal.touch()
    processes = []
    webs = [WebProcess(wsgi_app="seafood_b2b.wsgi:application", cwd=ROOT, env=env, workers=1, threads=4)
            for _ in range(2)]
    sampler = ConnectionSampler(args.database_url)
    try:
        for web in webs:
            web.__enter__()
        for index in (1, 2):
            processes.append(start(env, work, f"worker{index}", "celery", "-A", "seafood_b2b", "worker", "--loglevel=WARNING",
                                   "--concurrency=1", "--without-gossip", "--without-mingle", "-n", f"load{index}@%h"))
        processes.append(start(env, work, "beat", "celery", "-A", "seafood_b2b", "beat", "--loglevel=WARNING",
                               "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"))
        hosts = ",".join(f"http://127.0.0.1:{web.port}" for web in webs)
        started_at = timezone.now()
        sampler.start()
        began = time.monotonic()
        locust = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
             "-u", str(args.users), "-r", str(max(1, args.users // 10)), "-t", f"{args.duration}s", "--csv", str(stats),
             "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING"],
            cwd=ROOT, env={**env, "LOAD_FIXTURE": str(fixture), "LOAD_HOSTS": hosts, "LOAD_JOURNAL": str(journal)})
        time.sleep(args.duration / 2)
        for task in NIGHTLY:
            celery_app.send_task(task)
        made_due = orders_make_due(journal)
        celery_app.send_task(EXPIRY)
        print(f"  halfway: nightly sweeps sent to the workers; {made_due} unpaid orders made due and the expiry "
              "sweep sent", flush=True)
        locust.wait()
        duration = time.monotonic() - began
        sampler.stop.set()
        settle_started = time.monotonic()
        if wait_idle(args.redis_url, journal, timeout=args.settle_timeout):
            print(f"  workers idle, every confirmed payment settled {time.monotonic() - settle_started:.0f} s after "
                  "the load stopped", flush=True)
        else:
            print(f"load: the workers did not finish within {args.settle_timeout} s", file=sys.stderr)
        problems, counts = check_invariants(journal, started_at)
        text = report(read_stats(stats), args=args, counts=counts, most_connections=sampler.most,
                      problems=problems, duration=duration)
        print("\n" + text)
        if args.report:
            Path(args.report).write_text(text + "\n")
        return 1 if problems else 0
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, 15)
                process.wait(timeout=60)
        for web in webs:
            web.__exit__(None, None, None)
        print(f"(logs in {work})")


if __name__ == "__main__":
    raise SystemExit(main())
