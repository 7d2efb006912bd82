#!/usr/bin/env python
"""Catalogue benchmark: category pages and search under gunicorn, against a trivial baseline.

    .venv/bin/python bench/catalog.py [--scale 10] [--duration 10] [--clients 8] [--repeat 1]

Seeds PostgreSQL with `seed_demo --scale N --if-empty` (3,000 x N SKUs), starts gunicorn on a
free loopback port with production-like settings, and measures, one endpoint after another with
the same keep-alive clients: GET /healthz (one SELECT 1, the baseline), a top-level category's
first and fifth page, one of its shelves, the /shop/ HTML shell, and search over realistic
queries. Prints requests/s,
p50/p95/p99, errors, SQL queries per request and each endpoint's rate as a fraction of the
baseline's rate measured in the same run. Exits 1 if any request failed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, unquote

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/catalog.py`, Python puts bench/ first on sys.path, where this file would
# shadow the `catalog` app. Put the project root there instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench._http_load import (  # noqa: E402
    GunicornServer,
    LoadGenerator,
    Measurement,
    measure_rounds,
    median,
    median_ratio,
    queries_per_request,
    render_table,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/seafood_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
PRODUCTS_PER_SCALE = 3000
# What buyers type: characters, pinyin initials, a shelf name, a fish; a SKU code is added at run time.
SEARCH_QUERIES = ["虾", "xr", "虾仁", "带鱼", "dy", None, "鱿鱼"]
BASELINE = "healthz (baseline)"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=10, help="seed_demo scale: 3,000 x N SKUs (default 10)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per endpoint (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each (default 2)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients (default 8)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all endpoints; medians reported")
    parser.add_argument("--client-mode", choices=["thread", "process"], default="thread",
                        help="clients as threads of this process (default: cheaper per request here, see "
                             "bench/README.md) or as processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2, one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class (default gthread)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--no-seed", action="store_true", help="use the database as it is: no migrate/seed/ANALYZE")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="measure only endpoints whose name contains NAME (repeatable; baseline always runs)")
    parser.add_argument("--open-loop", type=float, default=0.5, metavar="FRACTION",
                        help="then measure each endpoint's latency at this fraction of its own closed-loop rate, "
                             "offered at a fixed rate (default 0.5; 0 skips it)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--results", metavar="PATH", help="also write the rows for bench/RESULTS.md (make bench)")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.clients < 1 or args.repeat < 1:
        parser.error("--duration, --clients and --repeat must be positive")
    if not 0 <= args.open_loop < 1:
        parser.error("--open-loop is a fraction of the closed-loop rate: 0 (off) up to, not including, 1")
    return args


def server_environment(args) -> dict[str, str]:
    """Production-like: DEBUG off, PostgreSQL, Redis cache, persistent connections (the default)."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="seafood_b2b.settings",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        DEBUG="0",
        SECRET_KEY="bench-only-secret-not-for-production-0123456789",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
        # No collectstatic is run for the benchmark; WhiteNoise's warning about it is noise in the log.
        PYTHONWARNINGS="ignore:No directory at",
    )
    return env


def run_manage(env, *command: str, stream: bool = False) -> None:
    cmd = [sys.executable, str(ROOT / "manage.py"), *command]
    result = subprocess.run(cmd, cwd=ROOT, env=env, text=True,
                            stdout=None if stream else subprocess.PIPE, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        output = result.stdout or ""
        if "Unknown command" in output:
            sys.exit(f"bench: `manage.py {command[0]}` does not exist yet; seed the database yourself and "
                     f"pass --no-seed.\n{output}")
        sys.exit(f"bench: `manage.py {' '.join(command)}` failed ({result.returncode}):\n{output}")


def ensure_database(url: str) -> None:
    """CREATE DATABASE if it doesn't exist yet, so `make bench-catalog` works on a fresh machine."""
    import dj_database_url
    import psycopg2
    from psycopg2 import sql

    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        return
    params = {"host": config["HOST"] or None, "port": config["PORT"] or None, "user": config["USER"] or None,
              "password": config["PASSWORD"] or None, "dbname": "postgres"}
    conn = psycopg2.connect(**{k: v for k, v in params.items() if v is not None})
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
            if cursor.fetchone() is None:
                print(f"  creating database {config['NAME']}", flush=True)
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
    finally:
        conn.close()


def prepare_database(args, env) -> None:
    started = time.monotonic()
    print(f"Preparing {redact(args.database_url)}: migrate, seed_demo --scale {args.scale} --if-empty, ANALYZE",
          flush=True)
    ensure_database(args.database_url)
    run_manage(env, "migrate", "--noinput")
    # The catalogue needs no order history (which takes ~20 min at scale 10).
    run_manage(env, "seed_demo", "--scale", str(args.scale), "--if-empty", "--history-months", "0", stream=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"  ready in {time.monotonic() - started:.0f} s", flush=True)


def redact(url: str) -> str:
    # A password in DATABASE_URL never reaches the output.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return url


def describe_data(args) -> dict:
    """The figures a reader needs to trust the run, and the ids/codes the endpoints use."""
    from catalog.models import Category, Product
    from django.db import connection

    total = Product.objects.count()
    active = Product.objects.active()
    active_count = active.count()
    if active_count == 0:
        sys.exit("bench: the database has no active products; seed it (drop --no-seed) first")
    top_levels = [
        (active.in_category(category).count(), category)
        for category in Category.objects.filter(parent__isnull=True, is_active=True)
    ]
    category_count, category = max(top_levels, key=lambda pair: (pair[0], -pair[1].pk))
    shelves = [(active.in_category(shelf).count(), shelf)
               for shelf in Category.objects.filter(parent=category, is_active=True)]
    shelf_count, shelf = max(shelves, key=lambda pair: (pair[0], -pair[1].pk)) if shelves else (0, None)
    code = active.order_by("id").values_list("code", flat=True)[active_count // 2]
    plain_token, list_token = bench_visitors(category)
    expected = args.scale * PRODUCTS_PER_SCALE
    warning = ""
    if total < expected:
        warning = (f"WARNING: {total:,} products but --scale {args.scale} means {expected:,}; "
                   f"seed_demo --if-empty keeps an older, smaller seed: use a fresh database for this scale")
    return {
        "products": total,
        "active_products": active_count,
        "category": category,
        "category_products": category_count,
        "shelf": shelf,
        "shelf_products": shelf_count,
        "sku_code": code,
        "visitor_token": plain_token,
        "price_list_token": list_token,
        "postgresql": _pg_version(connection),
        "warning": warning,
    }


def bench_visitors(category) -> tuple[str, str]:
    """Two WeChat visitors of the bench's own (created once): a restaurant at catalogue prices
    with three lines in its cart (the first screen's cart badge), and one with a price list
    (10 % off the aisle, a fixed price for one product), whose pages are built for it."""
    from catalog.models import Cart, CartLine, PriceList, PriceListEntry, Product
    from customers.models import Customer, Visitor
    from customers.tokens import visitor_token_make

    tokens = []
    for suffix, with_list in (("plain", False), ("list", True)):
        customer, _ = Customer.objects.get_or_create(phone=f"1990000000{int(with_list)}",
                                                     defaults={"name": f"压测餐厅（{suffix}）"})
        visitor, _ = Visitor.objects.get_or_create(openid=f"obench-catalog-{suffix}", defaults={"customer": customer})
        if with_list and customer.price_list_id is None:
            price_list, _ = PriceList.objects.get_or_create(name="压测价目表")
            PriceListEntry.objects.get_or_create(price_list=price_list, category=category,
                                                 defaults={"percent_off": Decimal("10")})
            first = Product.objects.active().in_category(category).order_by("id").first()
            PriceListEntry.objects.get_or_create(price_list=price_list, product=first,
                                                 defaults={"price": Decimal("1.00")})
            customer.own_price_list = customer.price_list = price_list
            customer.save(update_fields=["own_price_list", "price_list"])
        if not with_list:
            cart, _ = Cart.objects.get_or_create(visitor=visitor)
            for product in Product.objects.active().in_category(category).order_by("id")[:3]:
                CartLine.objects.get_or_create(cart=cart, product=product, defaults={"quantity": product.min_quantity})
        tokens.append(visitor_token_make(visitor.pk))
    return tokens[0], tokens[1]


def _pg_version(connection) -> str:
    if connection.vendor != "postgresql":
        return connection.vendor
    number = connection.pg_version  # e.g. 150020 for 15.20
    return f"PostgreSQL {number // 10000}.{number % 10000}"


FIRST_SCREEN = "first screen (4 requests)"
# Requests that make one unit of a row: the first screen is measured as a whole (its rate is
# units/s, its ratio units/s against the baseline's requests/s).
UNITS = {FIRST_SCREEN: 4}


def endpoints(data: dict) -> list[tuple[str, list[str], dict | None]]:
    """(row, paths rotated over the clients, request headers or None)."""
    products = "/api/v1/catalog/products"
    aisle = f"{products}?category={data['category'].pk}"
    queries = [q if q is not None else data["sku_code"] for q in SEARCH_QUERIES]
    selected = [
        (BASELINE, ["/healthz"], None),
        ("category page 1 (API)", [aisle], None),
        ("category page 5 (API)", [aisle + "&page=5"], None),
    ]
    if data["shelf"]:
        # A second-level category: what a buyer sees after tapping a shelf; compare with the aisle.
        selected.append(("shelf page 1 (API)", [f"{products}?category={data['shelf'].pk}"], None))
    selected += [
        ("shop shell /shop/ (HTML)", ["/shop/"], None),
        ("search (API, 7 queries)", [f"{products}?q={quote(q)}" for q in queries], None),
        # A restaurant with a price list: its page is built for it on every request.
        ("category page 1, price list", [aisle], {"Authorization": f"Visitor {data['price_list_token']}"}),
        # What the mini-site's first screen asks for, in order: the shell, the category tree, the
        # first category page and the cart (its badge), as one returning restaurant.
        (FIRST_SCREEN, ["/shop/", "/api/v1/catalog/categories", aisle, "/api/v1/cart"],
         {"Authorization": f"Visitor {data['visitor_token']}"}),
    ]
    return selected


def preflight(selected: list[tuple[str, list[str], dict | None]]) -> tuple[dict, dict, list[str]]:
    """Each path once in-process: its status, SQL query count and hit count (for list endpoints)."""
    from django.db import connections
    from django.test import Client

    counts, hits, problems = {}, {}, []
    for name, group, headers in selected:
        found = queries_per_request(group, headers=headers)
        counts.update({(name, path): value for path, value in found.items()})
        client = Client(**{f"HTTP_{k.upper()}": v for k, v in (headers or {}).items()})
        for path in group:
            status, _ = found[path]
            if status != 200:
                problems.append(f"{path} -> HTTP {status} in-process")
            elif path.startswith("/api/v1/catalog/products") and headers is None:
                hits[path] = client.get(path).json().get("count")
    connections.close_all()  # nothing of ours holds a connection while the server is measured
    return counts, hits, problems


def _label(path: str) -> str:
    """`q=虾` for `/api/...?q=%E8%99%BE`: the part that differs between the rows of one endpoint."""
    return unquote(path.split("?", 1)[1]) if "?" in path else path


def fmt_ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def summarise(rounds: list[dict[str, Measurement]], names: list[str]) -> list[dict]:
    """Per endpoint, the median over rounds of each figure; the ratio is taken within a round."""
    rows = []
    for name in names:
        runs = [r[name] for r in rounds]
        unit = UNITS.get(name, 1)
        duration = runs[0].duration
        rows.append({
            "name": name,
            "paths": runs[0].paths,
            "rps": median([m.rps / unit for m in runs]),
            "unit": unit,
            "p50": median([m.percentile(50) for m in runs]),
            "p95": median([m.percentile(95) for m in runs]),
            "p99": median([m.percentile(99) for m in runs]),
            "errors": sum(m.error_count for m in runs),  # a sum: every failure counts
            "ratio": median_ratio(rounds, name, BASELINE, unit=unit),
            "server_cores": median([m.server_cpu / duration for m in runs]),
            "client_cores": median([m.client_cpu / duration for m in runs]),
            "machine_cores": median([m.machine_cpu / duration for m in runs]),
            "per_path": [
                {
                    "path": path,
                    "requests": sum(len(m.latencies[k]) for m in runs),
                    "p50": median([m.percentile(50, k) for m in runs]),
                    "p95": median([m.percentile(95, k) for m in runs]),
                }
                for k, path in enumerate(runs[0].paths)
            ],
        })
    return rows


def print_report(*, rows, counts, hits, errors, server_log, repeat, cpu_count) -> None:
    title = "Median of %d rounds" % repeat if repeat > 1 else "One round"
    print(f"\n{title}; ratio = endpoint req/s / baseline req/s in the same round; CPU in cores "
          f"(of {cpu_count}) used by gunicorn / the clients / the whole machine\n")
    table = []
    for row in rows:
        table.append([
            row["name"], _sql_text(counts, row), f"{row['rps']:.1f}", fmt_ms(row["p50"]), fmt_ms(row["p95"]),
            fmt_ms(row["p99"]), row["errors"], f"{row['ratio']:.2f}",
            f"{row['server_cores']:.2f}", f"{row['client_cores']:.2f}", f"{row['machine_cores']:.2f}",
        ])
        if len(row["paths"]) > 1:
            for per_path in row["per_path"]:
                table.append([
                    "  " + _label(per_path["path"]), counts[(row["name"], per_path["path"])][1],
                    f"({per_path['requests']} req)", fmt_ms(per_path["p50"]), fmt_ms(per_path["p95"]),
                    "", "", "", "", "", "",
                ])
    print(render_table(
        ["endpoint", "SQL/req", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "vs baseline",
         "server cpu", "client cpu", "all cpu"],
        table,
    ))
    print("\nThe first screen's req/s is screens/s (each of its 4 requests once), its ratio screens/s against "
          "the baseline's requests/s; its SQL/req is the sum over the 4 requests.")
    hit_lines = [f"{_label(path)}: {n:,}" for path, n in hits.items()]
    if hit_lines:
        print("\nHits (count in the response): " + "; ".join(hit_lines))
    if errors:
        print("\nERRORS (any non-200 response or failed request, warm-up included):")
        for message, n in sorted(errors.items(), key=lambda pair: -pair[1]):
            print(f"  {n:6d}  {message}")
        if server_log.strip():
            print("\nLast lines of the gunicorn log:\n" + server_log)


def measure_open_loop(load, server, selected, rounds, args) -> list[dict[str, Measurement]]:
    """Latency at a fixed offered rate: each endpoint at `--open-loop` of its own closed-loop median
    rate, `--repeat` rounds. Closed-loop clients keep both cores busy, so their p99 is mostly the
    run queue; this is the tail a request sees when the server has headroom."""
    print(f"\nOpen loop: each endpoint offered {args.open_loop:.0%} of its closed-loop rate\n", flush=True)
    capacity = {name: median([r[name].rps for r in rounds]) for name, _, _ in selected}
    open_rounds = []
    for round_number in range(1, args.repeat + 1):
        measured = {}
        for name, paths, headers in selected:
            rate = max(1.0, args.open_loop * capacity[name])
            m = load.measure(name=name, port=server.port, paths=list(paths), duration=args.duration,
                             warmup=args.warmup, server=server, headers=headers, rate=rate)
            measured[name] = m
            print(f"  round {round_number}/{args.repeat}  {name:<28} offered {rate:7.1f}  got {m.rps:7.1f} req/s  "
                  f"p50 {m.percentile(50) * 1000:.1f} ms  p99 {m.percentile(99) * 1000:.1f} ms", flush=True)
        open_rounds.append(measured)
    return open_rounds


def summarise_open_loop(open_rounds: list[dict[str, Measurement]], names: list[str]) -> dict[str, dict]:
    if not open_rounds:
        return {}
    return {name: {
        "offered": median([r[name].offered for r in open_rounds]),
        "rps": median([r[name].rps for r in open_rounds]),
        "p50": median([r[name].percentile(50) for r in open_rounds]),
        "p95": median([r[name].percentile(95) for r in open_rounds]),
        "p99": median([r[name].percentile(99) for r in open_rounds]),
        "errors": sum(r[name].error_count for r in open_rounds),
    } for name in names}


def print_open_loop(open_rows: dict[str, dict], fraction: float) -> None:
    print(f"\nLatency at a fixed offered rate ({fraction:.0%} of each endpoint's own closed-loop rate; each "
          "request timed from when it was due; medians over the rounds)\n")
    print(render_table(
        ["endpoint", "offered req/s", "served req/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
        [[name, f"{row['offered']:.1f}", f"{row['rps']:.1f}", fmt_ms(row["p50"]), fmt_ms(row["p95"]), fmt_ms(row["p99"]), row["errors"]]
         for name, row in open_rows.items()],
    ))


def _sql_text(counts, row) -> str:
    """SQL statements per request ("1", or "1/2" when the rotated paths differ); a unit's sum."""
    found = [counts[(row["name"], path)][1] for path in row["paths"]]
    return str(sum(found)) if row["unit"] > 1 else "/".join(map(str, sorted(set(found))))


def main(argv=None) -> int:
    args = parse_args(argv)
    env = server_environment(args)
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DEBUG",
                                           "SECRET_KEY", "ALLOWED_HOSTS", "LOG_LEVEL")})
    # No collectstatic has been run for the benchmark; WhiteNoise's warning about it is noise here.
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        print("WARNING: not PostgreSQL; the figures say little about production", flush=True)
    if not args.no_seed:
        prepare_database(args, env)
    data = describe_data(args)
    selected = endpoints(data)
    if args.only:
        selected = [e for e in selected if e[0] == BASELINE or any(o.lower() in e[0].lower() for o in args.only)]
    names = [name for name, _, _ in selected]
    counts, hits, problems = preflight(selected)

    cpu_count = os.cpu_count() or 1
    print()
    shelf = f", its shelf #{data['shelf'].pk} {data['shelf'].name} {data['shelf_products']:,}" if data["shelf"] else ""
    print(f"Data: {data['products']:,} products ({data['active_products']:,} active); category "
          f"#{data['category'].pk} {data['category'].name} has {data['category_products']:,}{shelf}; "
          f"SKU searched: {data['sku_code']}; {data['postgresql']}")
    if data["warning"]:
        print(data["warning"])
    print(f"Machine: {cpu_count} cores, Python {platform.python_version()}, {platform.platform(terse=True)}")

    if problems:
        print("\nFailed before any load:\n  " + "\n  ".join(problems))
        return 1

    with GunicornServer(wsgi_app="seafood_b2b.wsgi:application", cwd=ROOT, env=env, workers=args.workers,
                        threads=args.threads, worker_class=args.worker_class) as server, \
            LoadGenerator(clients=args.clients, mode=args.client_mode) as load:
        print(f"Server: {server.describe()}; DEBUG off, persistent DB connections")
        print(f"Load: {args.clients} keep-alive clients ({args.client_mode}s), {args.warmup:g} s warm-up + "
              f"{args.duration:g} s measured per endpoint, {args.repeat} round(s)")
        print(f"Note: the clients run on the same {cpu_count} cores as gunicorn and PostgreSQL; "
              f"see the CPU columns.\n", flush=True)
        rounds = measure_rounds(load, server, selected, repeat=args.repeat, duration=args.duration,
                                warmup=args.warmup)
        open_rounds = measure_open_loop(load, server, selected, rounds, args) if args.open_loop else []
        server_log = server.log_tail(60)  # read before the server's log file goes away

    rows = summarise(rounds, names)
    open_rows = summarise_open_loop(open_rounds, names)
    errors: dict[str, int] = {}
    for measured in rounds + open_rounds:
        for m in measured.values():
            for message, n in m.errors.items():
                errors[message] = errors.get(message, 0) + n
    print_report(rows=rows, counts=counts, hits=hits, errors=errors, server_log=server_log,
                 repeat=args.repeat, cpu_count=cpu_count)
    if open_rows:
        print_open_loop(open_rows, args.open_loop)

    if args.json:
        Path(args.json).write_text(json.dumps({
            "args": {k: v for k, v in vars(args).items() if k != "database_url"},
            "data": {k: (str(v) if k in {"category", "shelf"} else v) for k, v in data.items() if "token" not in k},
            "queries": {f"{name} {p}": c[1] for (name, p), c in counts.items()},
            "hits": hits,
            "endpoints": rows,
            "open_loop": open_rows,
            "errors": errors,
        }, ensure_ascii=False, indent=2, default=str))
    if args.results:
        from bench._results import write_results

        write_results(args.results, bench="catalog", baseline="GET /healthz (one SELECT 1)", rows=[
            {"row": row["name"], "ratio": row["ratio"],
             "figures": (f"{row['rps']:.1f} {'screens' if row['unit'] > 1 else 'req'}/s, p50 {fmt_ms(row['p50'])} ms, "
                         f"p99 {fmt_ms(row['p99'])} ms, SQL "
                         + _sql_text(counts, row)
                         + (f"; at {args.open_loop:.0%} of its rate (open loop, {open_rows[row['name']]['offered']:.0f}"
                            f" req/s offered): p50 {fmt_ms(open_rows[row['name']]['p50'])} ms, "
                            f"p99 {fmt_ms(open_rows[row['name']]['p99'])} ms" if row["name"] in open_rows else ""))}
            for row in rows if row["name"] != BASELINE],
            notes=[f"{data['products']:,} products, --repeat {args.repeat}, {args.clients} clients"])
    return 1 if errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:  # the server or the load generator failed: say why, no traceback
        sys.exit(f"bench: {exc}")
