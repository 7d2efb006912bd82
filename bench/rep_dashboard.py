#!/usr/bin/env python
"""Rep assistant benchmark: the assistant's main page and its live-feed endpoint for one rep with
5,000 customers, under gunicorn, against the trivial one-query view in the same run.

    .venv/bin/python bench/rep_dashboard.py [--customers 5000] [--duration 8] [--clients 8] [--repeat 1]

Builds (once; reused when present) a rep with a login, N customers, ~4 paid orders each over the
last 30 days and entries through the rep's code, in its own database (seafood_bench_rep), logs the
rep in (a real session cookie, sent with every request as a browser would) and measures:
GET /healthz (baseline); GET /rep/ (the assistant's main page: a shell, the same for every rep;
checked in-process to be byte-identical without cookies and to answer 304 to its ETag); the API
calls that shell makes to become the rep's page (/api/v1/rep/me, summary, customers page 1,
inbox), each on its own row; GET
/api/v1/rep/feed/poll (first load, and ?after=<latest>: the signed-token poll the page makes every
few seconds); and the session-authenticated /api/v1/rep/feed for comparison. Prints req/s,
p50/p95/p99, SQL per request and the ratio to the baseline; target ≥ 0.5 for the page (the shell
request alone) and the feed poll. It also prints what one whole page open (the shell plus every
API call it makes) costs, from the same measurements. With --repeat N every figure is the median
of N rounds over all endpoints (each round's ratios against that round's baseline): on a shared
machine the load of others moves the figures between rounds.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import uuid
import warnings
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench._http_load import (  # noqa: E402
    GunicornServer,
    LoadGenerator,
    measure_rounds,
    median_over_rounds,
    median_ratio,
    queries_per_request,
    render_table,
)
from bench.catalog import ensure_database, redact, run_manage  # noqa: E402

REP_USERNAME = "bench-rep"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_REP_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/seafood_bench_rep"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--no-seed", action="store_true",
                        help="add nothing: measure the rep with the most customers of the database as it is "
                             "(e.g. one seeded by `seed_demo --bulk --scale 100`)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all endpoints; medians reported")
    parser.add_argument("--results", metavar="PATH", help="also write the rows for bench/RESULTS.md (make bench)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be positive")
    return args


def environment(args) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="seafood_b2b.settings", DATABASE_URL=args.database_url,
               REDIS_URL=args.redis_url, DEBUG="0", SECRET_KEY="bench-only-secret-not-for-production-0123456789",
               ALLOWED_HOSTS="127.0.0.1,localhost,testserver", LOG_LEVEL="WARNING",
               PYTHONWARNINGS="ignore:No directory at")
    return env


def build_data(n_customers: int):
    """One rep with n customers, orders and entries; bulk inserts; skipped when already there."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from customers.models import Customer, Visitor
    from orders.models import Order
    from reps.models import EntryEvent, Rep

    user, _ = User.objects.get_or_create(username=REP_USERNAME)
    rep, _ = Rep.objects.get_or_create(user=user, defaults={"name": "压测业务员"})
    have = Customer.objects.filter(rep=rep).count()
    if have >= n_customers:
        return rep
    rng = random.Random(7)
    now = timezone.now()
    customers = Customer.objects.bulk_create(
        Customer(name=f"压测餐厅{i}", phone=f"139{i:08d}", rep=rep, acquired_by=rep,
                 latitude=Decimal("22.5") + Decimal(rng.randint(0, 30000)) / 100000,
                 longitude=Decimal("113.9") + Decimal(rng.randint(0, 50000)) / 100000)
        for i in range(have, n_customers)
    )
    visitors = Visitor.objects.bulk_create(
        Visitor(openid=f"obench{c.pk:022d}", customer=c, phone=c.phone) for c in customers)
    orders, entries = [], []
    for customer, visitor in zip(customers, visitors):
        entries.append(EntryEvent(visitor=visitor, customer=customer, rep=rep, scene_code=1047,
                                  scene_kind="in_person", visit_kind="first_visit", credited=True))
        for _ in range(4):
            paid = now - timedelta(minutes=rng.randint(1, 30 * 24 * 60))
            total = Decimal(rng.randint(100, 2000))
            orders.append(Order(
                number=f"{paid:%y%m%d}{rng.randrange(10**8):08d}", customer=customer, visitor=visitor, rep=rep,
                status="completed", idempotency_key=uuid.uuid4().hex, delivery_date=paid.date(), subtotal=total,
                total=total, restaurant_name=customer.name, contact_name="老板", phone=customer.phone,
                address="深圳市压测路 1 号", expires_at=paid, paid_at=paid))
    Order.objects.bulk_create(orders, batch_size=2000, ignore_conflicts=True)
    EntryEvent.objects.bulk_create(entries, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return rep


def main(argv=None) -> int:
    args = parse_args(argv)
    env = environment(args)
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DEBUG",
                                           "SECRET_KEY", "ALLOWED_HOSTS", "LOG_LEVEL")})
    warnings.filterwarnings("ignore", message="No directory at")
    print(f"Preparing {redact(args.database_url)}: migrate, {args.customers:,} customers for one rep", flush=True)
    ensure_database(args.database_url)
    run_manage(env, "migrate", "--noinput")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.utils.module_loading import import_string

    from orders.models import Order

    if args.no_seed:
        from django.db.models import Count

        from reps.models import Rep

        rep = Rep.objects.filter(user__isnull=False).annotate(n=Count("customers")).order_by("-n").first()
        user = rep.user
        print(f"  --no-seed: rep {rep.key} ({user.username}) with {rep.n:,} customers", flush=True)
    else:
        rep = build_data(args.customers)
        user = User.objects.get(username=REP_USERNAME)
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    store[SESSION_KEY], store[BACKEND_SESSION_KEY] = str(user.pk), settings.AUTHENTICATION_BACKENDS[-1]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    from django.middleware.csrf import _get_new_csrf_string
    from django.test import Client

    from reps.feed import feed_token_make
    from reps.views import assistant_shell

    # A browser that has been here before carries its csrftoken cookie as well as the session.
    cookies = f"{settings.SESSION_COOKIE_NAME}={store.session_key}; {settings.CSRF_COOKIE_NAME}={_get_new_csrf_string()}"
    headers = {"Cookie": cookies, "X-Feed-Token": feed_token_make(rep)}
    latest = (Order.objects.filter(rep=rep, paid_at__isnull=False).order_by("-paid_at")
              .values_list("paid_at", flat=True).first())
    after = "?after=" + quote(latest.isoformat())
    endpoints = [("healthz (baseline)", "/healthz"),
                 ("assistant page /rep/ (shell)", "/rep/"),
                 ("  + API /me (who I am)", "/api/v1/rep/me"),
                 ("  + API summary", "/api/v1/rep/summary"),
                 ("  + API customers page 1", "/api/v1/rep/customers"),
                 ("  + API inbox", "/api/v1/rep/inbox"),
                 ("feed poll, first load", "/api/v1/rep/feed/poll"),
                 ("feed poll (nothing new)", "/api/v1/rep/feed/poll" + after),
                 ("feed API (session), first", "/api/v1/rep/feed"),
                 ("feed API (session), poll", "/api/v1/rep/feed" + after)]
    # What the page opens with: the shell, then /me (then the first poll), summary, customers, inbox.
    page_open = ["assistant page /rep/ (shell)", "  + API /me (who I am)", "  + API summary",
                 "  + API customers page 1", "  + API inbox", "feed poll, first load"]
    sql = queries_per_request([path for _, path in endpoints], headers=headers)
    for name, path in endpoints:
        status, _ = sql[path]
        if status != 200:
            print(f"bench: {name} answered HTTP {status} in-process", file=sys.stderr)
            return 1
    # The shell is the same bytes without any cookie, and a phone that has it gets a 304.
    shell = Client().get("/rep/")
    again = Client().get("/rep/", HTTP_IF_NONE_MATCH=shell["ETag"])
    if shell.content != assistant_shell().content or again.status_code != 304:
        print(f"bench: /rep/ is not one shell for everyone (revalidation: HTTP {again.status_code})", file=sys.stderr)
        return 1
    with GunicornServer(wsgi_app="seafood_b2b.wsgi:application", cwd=ROOT, env=env, workers=args.workers,
                        threads=args.threads) as server, LoadGenerator(clients=args.clients) as load:
        print(f"Server: {server.describe()}; {args.clients} keep-alive clients, {args.warmup:g} s warm-up + "
              f"{args.duration:g} s per endpoint, {args.repeat} round(s)", flush=True)
        rounds = measure_rounds(load, server, [(name, [path], headers) for name, path in endpoints],
                                repeat=args.repeat, duration=args.duration, warmup=args.warmup)
    failed = any(m.error_count for measured in rounds for m in measured.values())
    baseline_name = endpoints[0][0]
    figure = {0: lambda m: m.rps, 1: lambda m: m.percentile(50) * 1000, 2: lambda m: m.percentile(95) * 1000,
              3: lambda m: m.percentile(99) * 1000}

    def median(name: str, index: int) -> float:
        return median_over_rounds(rounds, name, figure[index])

    def ratio(name: str) -> float:
        return median_ratio(rounds, name, baseline_name)

    rows = [[name, sql[path][1], f"{median(name, 0):.1f}", f"{median(name, 1):.1f}", f"{median(name, 2):.1f}",
             f"{median(name, 3):.1f}", sum(measured[name].error_count for measured in rounds), f"{ratio(name):.2f}"]
            for name, path in endpoints]
    print()
    print("Median of %d rounds" % args.repeat if args.repeat > 1 else "One round")
    print(render_table(["endpoint", "SQL/req", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "vs baseline"],
                       rows))
    # Requests served one after another by the same server: the rates add as harmonic terms.
    opens = statistics.median(
        1 / sum(1 / measured[name].rps for name in page_open) / measured[baseline_name].rps for measured in rounds)
    print(f"\nOne whole page open (the shell, /me, summary, customers, inbox, the first poll): {opens:.2f} of "
          f"the baseline's rate; each poll after it: {ratio('feed poll (nothing new)'):.2f}.")
    print(f"One rep with {args.customers:,} customers. Targets: the shell and the feed poll (issue 4), summary, "
          "customers page 1 and inbox (issue 17) ≥ 0.50 of the baseline's rate.")
    if args.results:
        from bench._results import write_results

        rows = [{"row": name.strip(" +"), "ratio": ratio(name),
                 "figures": f"{median(name, 0):.1f} req/s, p50 {median(name, 1):.1f} ms, p99 {median(name, 3):.1f} ms, "
                            f"SQL {sql[path][1]}"}
                for name, path in endpoints[1:]]
        rows.append({"row": "whole page open (6 requests)", "ratio": opens,
                     "figures": "the shell, /me, summary, customers, inbox, first poll, one after another"})
        write_results(args.results, bench="rep assistant", baseline="GET /healthz (one SELECT 1)", rows=rows,
                      notes=[f"one rep with {args.customers:,} customers, --repeat {args.repeat}"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
