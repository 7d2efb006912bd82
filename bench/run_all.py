#!/usr/bin/env python
"""`make bench`: every benchmark in BENCHES, one after another, into one table (bench/RESULTS.md).

    .venv/bin/python bench/run_all.py [--quick] [--only NAME ...] [--output bench/RESULTS.md]

To add a benchmark, add one `Bench` to BENCHES. A script that accepts `--results PATH` (see
bench/_results.py) gives one table row per figure, each with its ratio against the baseline the
script measured in the same run; any other script gets one row with its exit status and the last
lines of its output under the table. A failing benchmark is reported and the others still run.

`--quick` (make bench BENCH_QUICK=1) runs each with its `quick` arguments instead: a smaller data
set and shorter windows, for a benchmark that needs a big database (the churn sweep's 10M orders)
or a first look. `--x100 URL` (make bench BENCH_X100=postgres://…/bench_x100) runs the three big-data
benchmarks (churn sweep, CRM segments, lost items) on the 100× demo database of `seed_demo --bulk
--scale 100` with `--no-seed`, instead of each generating its own 10M orders. BENCH_ARGS_<NAME> (the name in capitals, spaces as _) adds arguments to one of
them, e.g. BENCH_ARGS_CATALOG="--scale 3".
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    args: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    results: bool = False  # accepts --results PATH (bench/_results.py)
    what: str = ""
    big: bool = False  # takes --no-seed --database-url: measured on the 100× demo database with --x100


BENCHES = [
    Bench("catalog", "bench/catalog.py", ("--repeat", "3"),
          ("--scale", "1", "--repeat", "1", "--duration", "4", "--warmup", "1"), results=True,
          what="category pages, search, the first screen, against /healthz"),
    Bench("rep assistant", "bench/rep_dashboard.py", ("--repeat", "3"),
          ("--customers", "500", "--repeat", "1", "--duration", "3", "--warmup", "1"), results=True,
          what="the assistant's shell, its API reads and the feed poll, against /healthz"),
    Bench("checkout", "bench/checkout.py", (),
          ("--scale", "0.2", "--history-months", "1", "--duration", "5", "--warmup", "1", "--skip-hot"),
          what="orders over HTTP against the raw SQL transaction"),
    Bench("checkout, price list", "bench/checkout.py", ("--price-list", "--skip-hot"),
          ("--price-list", "--scale", "0.2", "--history-months", "1", "--duration", "5", "--warmup", "1",
           "--skip-hot"),
          what="the same with a price list"),
    Bench("churn sweep", "bench/churn_sweep.py", ("--reuse",),
          ("--reuse", "--customers", "50000", "--orders-per-customer", "10", "--repeat", "1"),
          big=True, what="the nightly sweep against the one aggregate"),
    Bench("crm segments", "bench/crm_segments.py", ("--reuse",),
          ("--reuse", "--customers", "50000", "--orders-per-customer", "10"),
          big=True, what="the nightly automatic tags against the raw SQL of their rules; segment counts"),
    Bench("dispatch", "bench/dispatch.py", (), ("--time-limits", "5"),
          what="route planning against nearest neighbour"),
    Bench("usual list", "bench/usual_list.py", ("--repeat", "3"),
          ("--others", "200", "--repeat", "1", "--duration", "3", "--warmup", "1"),
          what="我的常购 (GET /api/v1/usuals, 50 lines, a price list) against /healthz"),
    Bench("lost items", "bench/lost_items.py", ("--reuse",), ("--reuse", "--customers", "5000", "--repeat", "1"),
          big=True, what="the nightly lost-item sweep against a raw SQL aggregate of its rule"),
    Bench("company dashboard", "bench/company_dashboard.py", ("--reuse",),
          ("--reuse", "--customers", "3000", "--repeat", "1"),
          what="every figure of admin's 公司经营看板 for 30 and 366 days against one raw per-day count and sum"),
    Bench("campaign send", "bench/campaign_send.py", ("--repeat", "3"), ("--customers", "5000", "--repeat", "1"),
          what="a rep-task campaign with a coupon to 50,000 customers against the raw SQL of its writes; its results"),
    # Last: the whole product for 10 minutes (make load), its report also in bench/LOAD.md.
    Bench("load", "bench/load.py", ("--report", "bench/LOAD.md"), ("--quick",),
          what="a day's peak at 10x for 10 minutes: two web processes, two workers, beat; invariants checked after"),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark's quick arguments (small data, short)")
    parser.add_argument("--only", action="append", metavar="NAME", help="only benchmarks whose name contains NAME")
    parser.add_argument("--x100", metavar="URL", default=os.environ.get("BENCH_X100") or None,
                        help="the 100× demo database for the big-data benchmarks (--no-seed)")
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    return parser.parse_args(argv)


def _env_args(bench: Bench) -> list[str]:
    return shlex.split(os.environ.get("BENCH_ARGS_" + bench.name.upper().replace(" ", "_").replace(",", ""), ""))


def arguments(bench: Bench, quick: bool, x100: str | None) -> list[str]:
    if x100 and bench.big:
        return ["--no-seed", "--database-url", x100, *_env_args(bench)]
    return [*(bench.quick if quick else bench.args), *_env_args(bench)]


def run(bench: Bench, quick: bool, workdir: Path, x100: str | None = None) -> dict:
    results = workdir / f"{bench.name.replace(' ', '_')}.json"
    command = [sys.executable, str(ROOT / bench.script), *arguments(bench, quick, x100)]
    if bench.results:
        command += ["--results", str(results)]
    print(f"\n=== {bench.name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:  # shown as it comes, kept for the report
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
    status = process.wait()
    outcome = {"bench": bench, "status": status, "seconds": time.monotonic() - started, "tail": lines[-25:],
               "load": (load_before, os.getloadavg()[0]), "command": " ".join(command[1:])}
    if bench.results and results.exists():
        outcome["results"] = json.loads(results.read_text())
    return outcome


def _ratio(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def render(outcomes: list[dict], quick: bool) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench{' BENCH_QUICK=1' if quick else ''}` (bench/run_all.py) at {stamp}, "
        f"on {os.cpu_count()} cores. Each ratio is the row against its benchmark's own baseline, "
        "measured in the same run (see bench/README.md for what each measures); raw rates on a shared "
        "machine say little, ratios are what to compare between runs. Load average = 1-minute load "
        "before and after each benchmark.",
        "",
        "| benchmark | row | figures | vs baseline |",
        "| --- | --- | --- | --- |",
    ]
    for outcome in outcomes:
        bench = outcome["bench"]
        results = outcome.get("results")
        head = (f"**{bench.name}** (exit {outcome['status']}, {outcome['seconds']:.0f} s, "
                f"load {outcome['load'][0]:.1f}→{outcome['load'][1]:.1f})")
        if results:
            lines.append(f"| {head} | baseline | {results['baseline']} | 1.00 |")
            for row in results["rows"]:
                lines.append(f"| {bench.name} | {row['row']} | {row['figures']} | {_ratio(row['ratio'])} |")
        else:
            state = "ok" if outcome["status"] == 0 else "FAILED"
            lines.append(f"| {head} | {bench.what} | {state}: its own figures are below | – |")
    lines += ["", "## Output of the benchmarks without a results file, and of any that failed", ""]
    for outcome in outcomes:
        if outcome.get("results") and outcome["status"] == 0:
            continue
        lines += [f"### {outcome['bench'].name}", "", f"`{outcome['command']}`", "", "```",
                  *outcome["tail"], "```", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or any(o.lower() in b.name.lower() for o in args.only)]
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        for bench in chosen:
            outcomes.append(run(bench, args.quick, Path(workdir), args.x100))
    Path(args.output).write_text(render(outcomes, args.quick))
    print(f"\nWrote {args.output}")
    return 1 if any(o["status"] for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
