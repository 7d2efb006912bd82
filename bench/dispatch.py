#!/usr/bin/env python
"""Routing benchmark: OR-Tools against the nearest-neighbour baseline on one day's stops.

    .venv/bin/python bench/dispatch.py [--stops 1000] [--drivers 10] [--capacity 120] [--time-limits 5,30]

Generates seeded random stops inside Shenzhen (GCJ-02, lat 22.45-22.85, lng 113.75-114.50) with
a weight each, and drivers with a stop and a weight capacity, then routes them from the
warehouse (settings.WAREHOUSE_LATITUDE/LONGITUDE) with the very functions `runs_build` uses
(logistics.routing.route_ortools / route_nearest), in memory: no database is touched. Prints, per
method, the total distance, the ratio to the baseline measured in the same run, stops dropped,
stops per driver and wall time. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

LAT_RANGE = (22.45, 22.85)
LNG_RANGE = (113.75, 114.50)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stops", type=int, default=1000, help="stops to route (default 1000)")
    parser.add_argument("--drivers", type=int, default=10, help="delivery drivers (default 10)")
    parser.add_argument("--capacity", type=int, default=120, help="max stops per driver (default 120)")
    parser.add_argument("--max-weight-kg", type=float, default=3000.0, help="max load per driver (default 3000)")
    parser.add_argument("--weight-kg", default="5,25", help="stop weights drawn uniformly from MIN,MAX kg (default 5,25)")
    parser.add_argument("--time-limits", default="5,30",
                        help="OR-Tools search limits in seconds, comma separated (default 5,30; runs_build uses 5)")
    parser.add_argument("--seed", type=int, default=20261124, help="random seed of the stops (default 20261124)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; medians of times reported (default 1)")
    return parser.parse_args(argv)


def make_problem(args):
    from logistics.routing import Job, Vehicle

    rng = random.Random(args.seed)
    low, high = (float(x) for x in args.weight_kg.split(","))
    jobs = [Job(key=k, lat=rng.uniform(*LAT_RANGE), lng=rng.uniform(*LNG_RANGE), weight_kg=rng.uniform(low, high))
            for k in range(args.stops)]
    vehicles = [Vehicle(key=f"driver{v + 1}", max_stops=args.capacity, max_weight_kg=args.max_weight_kg)
                for v in range(args.drivers)]
    return jobs, vehicles


def check_plan(plan, jobs, vehicles) -> None:
    """The benchmark refuses a plan that breaks a capacity or loses or repeats a stop."""
    weight = {job.key: job.weight_kg for job in jobs}
    served = [key for route in plan.routes.values() for key in route]
    assert len(served) == len(set(served)), "a stop is on two routes"
    assert sorted(served + list(plan.dropped)) == sorted(weight), "a stop was lost"
    for vehicle in vehicles:
        route = plan.routes.get(vehicle.key, [])
        assert len(route) <= vehicle.max_stops, f"{vehicle.key} over its stop capacity"
        assert sum(weight[k] for k in route) <= vehicle.max_weight_kg + 0.1, f"{vehicle.key} over its weight"


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seafood_b2b.settings")
    import django

    django.setup()
    from logistics.routing import _Nodes, route_nearest, route_ortools, warehouse_location

    limits = [float(x) for x in args.time_limits.split(",") if x.strip()]
    depot = warehouse_location()
    jobs, vehicles = make_problem(args)
    print(f"dispatch benchmark: {args.stops} stops, {args.drivers} drivers x {args.capacity} stops / "
          f"{args.max_weight_kg:g} kg, seed {args.seed}, depot {depot[0]:.4f},{depot[1]:.4f}")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, ortools "
          f"{__import__('ortools').__version__}, rounds {args.repeat}")

    rows: dict[str, dict] = {}
    matrix_times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        nodes = _Nodes(depot, jobs, vehicles)
        matrix_times.append(time.perf_counter() - started)

        started = time.perf_counter()
        baseline = route_nearest(depot=depot, jobs=jobs, vehicles=vehicles, nodes=nodes)
        elapsed = time.perf_counter() - started
        check_plan(baseline, jobs, vehicles)
        rows.setdefault("nearest neighbour (baseline)", {"plans": [], "times": []})
        rows["nearest neighbour (baseline)"]["plans"].append(baseline)
        rows["nearest neighbour (baseline)"]["times"].append(elapsed)

        for limit in limits:
            started = time.perf_counter()
            plan = route_ortools(depot=depot, jobs=jobs, vehicles=vehicles, time_limit_s=limit, nodes=nodes)
            elapsed = time.perf_counter() - started
            name = f"OR-Tools, limit {limit:g} s"
            rows.setdefault(name, {"plans": [], "times": []})
            if plan is None:
                print(f"{name}: no solution within the limit (runs_build would fall back to nearest neighbour)")
                continue
            check_plan(plan, jobs, vehicles)
            rows[name]["plans"].append(plan)
            rows[name]["times"].append(elapsed)

    print(f"distance matrix ({len(nodes.matrix)}^2 haversine, pure Python): "
          f"{statistics.median(matrix_times):.2f} s")
    base_km = statistics.median(p.total_distance_km for p in rows["nearest neighbour (baseline)"]["plans"])
    header = (f"{'method':<30} {'total km':>10} {'vs NN':>7} {'dropped':>8} {'drivers used':>13} "
              f"{'stops/driver':>13} {'time s':>8}")
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        if not row["plans"]:
            print(f"{name:<30} {'-':>10} {'-':>7} {'-':>8} {'-':>13} {'-':>13} {'-':>8}")
            continue
        km = statistics.median(p.total_distance_km for p in row["plans"])
        last = row["plans"][-1]
        per_driver = [len(last.routes.get(v.key, [])) for v in vehicles]
        used = sum(1 for n in per_driver if n)
        print(f"{name:<30} {km:>10.1f} {km / base_km:>7.3f} {len(last.dropped):>8} {used:>13} "
              f"{f'{min(per_driver)}-{max(per_driver)}':>13} {statistics.median(row['times']):>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
