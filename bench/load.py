"""A day's peak hour at 10x, the whole product running: `make load` (10 min) and `make load-quick` (60 s).

What runs, on loopback, against a fresh database (`seafood_load`, dropped and seeded each run):
two web processes (gunicorn, 1 worker x 4 threads each, on two ports, requests sent to them in
turn), two Celery workers (acks late, as the Procfile) and beat, all against one PostgreSQL and one
Redis (db 6, flushed first). locust plays restaurants, reps and staff (bench/locustfile.py);
halfway through, the nightly sweeps (churn, automatic tags, tomorrow's purchase tasks, the ledger
check) are sent to the workers as beat would at night.

Afterwards, once the workers are idle, it checks the invariants of DESIGN.md and exits 1 if any
fails: no oversold unit (no stock row with reserved above on-hand, or below zero), the ledger
equal to the stock, every order the clients saw placed exists exactly once (and nothing else was
created), every payment they confirmed settled exactly once, no notification failed or left
waiting. It prints throughput, p50/p95/p99 per endpoint, the error rate, the most database
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
NIGHTLY = ["customers.tasks.churn_sweep_task", "crm.tasks.auto_tags_task",
           "logistics.tasks_purchasing.purchase_tasks_build_for_tomorrow", "logistics.tasks.stock_check_ledger"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=600, help="seconds of load (default 600)")
    parser.add_argument("--users", type=int, default=48, help="locust users: restaurants, reps, staff 20:3:1")
    parser.add_argument("--scale", type=float, default=1.0, help="seed_demo scale (1 = 3,000 SKUs, 5,000 restaurants)")
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


def write_fixture(path: Path) -> None:
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

    visitors = list(Visitor.objects.filter(customer__isnull=False, phone__gt="").values_list("pk", flat=True)[:2000])
    reps = [rep for rep in Rep.objects.select_related("user").filter(user__isnull=False, is_active=True)[:50]]
    staff = get_user_model().objects.filter(is_superuser=True).first()
    aisles = list(Category.objects.filter(parent__isnull=True).values_list("pk", flat=True))
    shelves = list(Category.objects.filter(parent__isnull=False).values_list("pk", flat=True))
    if not (visitors and reps and staff and aisles and shelves):
        sys.exit("load: the seeded database lacks restaurants with phones, reps, an admin or categories")
    path.write_text(json.dumps({
        "visitors": [{"id": pk, "token": visitor_token_make(pk)} for pk in visitors],
        "reps": [{"id": rep.pk, "feed_token": feed_token_make(rep), "session": session_for(rep.user)} for rep in reps],
        "staff_session": session_for(staff), "aisles": aisles, "shelves": shelves,
    }))


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


def wait_idle(redis_url: str, journal_path: Path, timeout: float) -> bool:
    """The workers are done: nothing queued, no outbox row waiting to be sent, and every payment
    the clients confirmed has reached the shop (a notification retried after a busy moment waits
    in a worker with a countdown, not in the queue)."""
    import redis

    from notifications.models import Notification
    from orders.models import Order

    paid = {json.loads(line)["order_id"] for line in journal_path.read_text().splitlines()
            if line.strip() and json.loads(line)["kind"] == "paid"}
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = Notification.objects.filter(status="pending").exclude(channel="inbox").count()
        unsettled = Order.objects.filter(pk__in=paid, paid_at__isnull=True).count()
        if client.llen("celery") == 0 and waiting == 0 and unsettled == 0:
            return True
        time.sleep(2)
    return False


def check_invariants(journal_path: Path, started_at) -> tuple[list[str], int, int]:
    from django.db.models import F, Q

    from logistics.models import Stock
    from logistics.selectors import stock_ledger_drift
    from notifications.models import Notification
    from orders.models import Order, Payment

    entries = [json.loads(line) for line in journal_path.read_text().splitlines() if line.strip()]
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
    failed = Notification.objects.filter(status="failed").count()
    if failed:
        problems.append(f"{failed} notifications failed")
    return problems, len(placed), len(paid)


def read_stats(prefix: Path) -> list[dict]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def report(rows, *, args, orders, paid, most_connections, problems, duration) -> str:
    lines = [f"Load: {duration:.0f} s, {args.users} users (restaurants:reps:staff 20:3:1), seed scale {args.scale}, "
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
              f"- most database connections in use: {most_connections}",
              "- invariants: " + ("all hold (no oversold unit, ledger = stock, no order or payment lost or doubled, "
                                  "no notification failed or waiting)" if not problems else "FAILED: " + "; ".join(problems))]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="seafood-load-"))
    env = environment(args, str(work / "wechatpay-dev-keys"))
    os.environ.update({key: env[key] for key in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL",
                                                 "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "SECRET_KEY",
                                                 "WECHATPAY_DEV_KEY_DIR")})
    fresh_database(args, env)
    import django

    django.setup()
    from django.utils import timezone

    from seafood_b2b.celery import app as celery_app

    fixture, journal, stats = work / "fixture.json", work / "journal.jsonl", work / "locust"
    write_fixture(fixture)
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
        print("  halfway: nightly sweeps sent to the workers", flush=True)
        locust.wait()
        duration = time.monotonic() - began
        sampler.stop.set()
        settle_started = time.monotonic()
        if wait_idle(args.redis_url, journal, timeout=args.settle_timeout):
            print(f"  workers idle, every confirmed payment settled {time.monotonic() - settle_started:.0f} s after "
                  "the load stopped", flush=True)
        else:
            print(f"load: the workers did not finish within {args.settle_timeout} s", file=sys.stderr)
        problems, orders, paid = check_invariants(journal, started_at)
        text = report(read_stats(stats), args=args, orders=orders, paid=paid, most_connections=sampler.most,
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
