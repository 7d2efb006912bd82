"""Pure routing: coordinates and capacities in, routes out, no database.

`route_plan` tries OR-Tools (`route_ortools`) and falls back to nearest neighbour
(`route_nearest`); bench/dispatch.py measures exactly what `logistics.dispatch.runs_build` uses.
Every stop may be dropped at a high penalty, so an over-full day still yields routes (OR-Tools
#1397); time windows, when a job has one, are honoured or the stop is dropped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from customers.churn import distance_km

logger = logging.getLogger(__name__)

METHOD_ORTOOLS = "ortools"
METHOD_NEAREST = "nearest"

# Weight units given to the solver: it works in integers, so 0.1 kg.
WEIGHT_SCALE = 10
# Only used for time windows: average city speed and time spent at each stop.
SPEED_KMH = 25
SERVICE_MINUTES = 8
MAX_WAIT_MINUTES = 120
HORIZON_MINUTES = 24 * 60



@dataclass(frozen=True)
class Job:
    key: Hashable
    lat: float
    lng: float
    weight_kg: float = 0.0
    # (earliest, latest) arrival, in minutes after the vehicles leave; None: any time.
    time_window: tuple[int, int] | None = None


@dataclass(frozen=True)
class Vehicle:
    key: Hashable
    max_stops: int
    max_weight_kg: float
    # Where the vehicle is before these jobs: the last stop it already has; None: the depot.
    start: tuple[float, float] | None = None


@dataclass
class RoutePlan:
    method: str
    routes: dict = field(default_factory=dict)  # vehicle key → job keys in visiting order
    distance_km: dict = field(default_factory=dict)  # vehicle key → start, its jobs, back to the depot
    dropped: list = field(default_factory=list)  # job keys no vehicle could take

    @property
    def total_distance_km(self) -> float:
        return sum(self.distance_km.values())


def distance_matrix_m(points: Sequence[tuple[float, float]]) -> list[list[int]]:
    """Great-circle distances in whole metres (symmetric; roads are not modelled)."""
    n = len(points)
    matrix = [[0] * n for _ in range(n)]
    for i in range(n):
        lat1, lng1 = points[i]
        row = matrix[i]
        for j in range(i + 1, n):
            metres = round(distance_km(lat1, lng1, points[j][0], points[j][1]) * 1000)
            row[j] = metres
            matrix[j][i] = metres
    return matrix


class _Nodes:
    """Node numbering shared by both methods: 0 the depot, then vehicles' own starts, then jobs."""

    def __init__(self, depot, jobs: Sequence[Job], vehicles: Sequence[Vehicle]):
        points = [tuple(depot)]
        self.starts = []
        for vehicle in vehicles:
            if vehicle.start is None:
                self.starts.append(0)
            else:
                self.starts.append(len(points))
                points.append(tuple(vehicle.start))
        self.first_job = len(points)
        points.extend((job.lat, job.lng) for job in jobs)
        self.matrix = distance_matrix_m(points)

    def route_km(self, vehicle_index: int, job_indexes: Sequence[int]) -> float:
        path = [self.starts[vehicle_index], *(self.first_job + j for j in job_indexes), 0]
        return sum(self.matrix[a][b] for a, b in zip(path, path[1:])) / 1000


def _weight_units(kg: float, *, up: bool) -> int:
    value = kg * WEIGHT_SCALE
    return max(0, math.ceil(value - 1e-9) if up else math.floor(value + 1e-9))


def _plan_from(method, nodes: _Nodes, jobs, vehicles, assigned: list[list[int]]) -> RoutePlan:
    plan = RoutePlan(method=method)
    taken = set()
    for v, vehicle in enumerate(vehicles):
        if assigned[v]:
            plan.routes[vehicle.key] = [jobs[j].key for j in assigned[v]]
            plan.distance_km[vehicle.key] = nodes.route_km(v, assigned[v])
            taken.update(assigned[v])
    plan.dropped = [job.key for j, job in enumerate(jobs) if j not in taken]
    return plan


def route_ortools(*, depot: tuple[float, float], jobs: Sequence[Job], vehicles: Sequence[Vehicle],
                  time_limit_s: float, nodes: _Nodes | None = None) -> RoutePlan | None:
    """Google OR-Tools' vehicle routing: least total distance within stop and weight capacities.

    Every job may be dropped at a penalty far above any detour, so the solver serves all it can
    and drops only what does not fit. None if no solution was found within the time limit.
    """
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    if not jobs or not vehicles:
        return _plan_from(METHOD_ORTOOLS, nodes or _Nodes(depot, jobs, vehicles), jobs, vehicles,
                          [[] for _ in vehicles])
    nodes = nodes or _Nodes(depot, jobs, vehicles)
    node_count = nodes.first_job + len(jobs)
    manager = pywrapcp.RoutingIndexManager(node_count, len(vehicles), nodes.starts, [0] * len(vehicles))
    routing = pywrapcp.RoutingModel(manager)

    # Matrices and vectors registered as data are evaluated in C++: no Python callback per arc.
    arc_cost = routing.RegisterTransitMatrix(nodes.matrix)
    routing.SetArcCostEvaluatorOfAllVehicles(arc_cost)

    is_job = [0] * nodes.first_job + [1] * len(jobs)
    stops = routing.RegisterUnaryTransitVector(is_job)
    routing.AddDimensionWithVehicleCapacity(stops, 0, [max(0, v.max_stops) for v in vehicles], True, "stops")
    weights = [0] * nodes.first_job + [_weight_units(job.weight_kg, up=True) for job in jobs]
    load = routing.RegisterUnaryTransitVector(weights)
    routing.AddDimensionWithVehicleCapacity(
        load, 0, [_weight_units(v.max_weight_kg, up=False) for v in vehicles], True, "weight")

    if any(job.time_window for job in jobs):
        _add_time_windows(routing, manager, nodes, jobs)

    # Serving a job costs at most a round trip to its farthest point: the penalty is higher, so
    # dropping is only ever chosen when the job cannot be served.
    penalty = 2 * max(max(row) for row in nodes.matrix) + 1_000_000
    for j in range(len(jobs)):
        routing.AddDisjunction([manager.NodeToIndex(nodes.first_job + j)], penalty)

    params = pywrapcp.DefaultRoutingSearchParameters()
    # Christofides' first solution measured better than cheapest-arc under a short limit
    # (bench/dispatch.py: about 5% less distance after 5 s on 1,000 stops); guided local search
    # then improves it until the limit.
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.CHRISTOFIDES
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(0, int(time_limit_s * 1000)))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        logger.warning("routing solver found no solution in %.1fs (status %s)", time_limit_s, routing.status())
        return None

    assigned: list[list[int]] = []
    for v in range(len(vehicles)):
        route = []
        index = solution.Value(routing.NextVar(routing.Start(v)))
        while not routing.IsEnd(index):
            route.append(manager.IndexToNode(index) - nodes.first_job)
            index = solution.Value(routing.NextVar(index))
        assigned.append(route)
    return _plan_from(METHOD_ORTOOLS, nodes, jobs, vehicles, assigned)


def _add_time_windows(routing, manager, nodes: _Nodes, jobs: Sequence[Job]) -> None:
    metres_per_minute = SPEED_KMH * 1000 / 60
    is_job = [False] * nodes.first_job + [True] * len(jobs)
    minutes = [
        [math.ceil(metres / metres_per_minute) + (SERVICE_MINUTES if is_job[a] else 0) for metres in row]
        for a, row in enumerate(nodes.matrix)
    ]
    transit = routing.RegisterTransitMatrix(minutes)
    routing.AddDimension(transit, MAX_WAIT_MINUTES, HORIZON_MINUTES, True, "time")
    time_dimension = routing.GetDimensionOrDie("time")
    for j, job in enumerate(jobs):
        if job.time_window:
            earliest, latest = job.time_window
            time_dimension.CumulVar(manager.NodeToIndex(nodes.first_job + j)).SetRange(int(earliest), int(latest))


def route_nearest(*, depot: tuple[float, float], jobs: Sequence[Job], vehicles: Sequence[Vehicle],
                  nodes: _Nodes | None = None) -> RoutePlan:
    """The fallback (and the benchmark's baseline): each driver in turn drives to the nearest job
    that still fits, taking an even share of the jobs; a second pass fills what capacity is left.
    Time windows are not considered."""
    nodes = nodes or _Nodes(depot, jobs, vehicles)
    matrix = nodes.matrix
    weights = [_weight_units(job.weight_kg, up=True) for job in jobs]
    free = set(range(len(jobs)))
    assigned: list[list[int]] = [[] for _ in vehicles]
    load = [0] * len(vehicles)
    position = list(nodes.starts)
    for even_share in (True, False):
        for v, vehicle in enumerate(vehicles):
            capacity = _weight_units(vehicle.max_weight_kg, up=False)
            limit = max(0, vehicle.max_stops)
            if even_share:
                limit = min(limit, math.ceil(len(free) / (len(vehicles) - v)) if free else 0)
            while free and len(assigned[v]) < limit:
                row = matrix[position[v]]
                fitting = [j for j in free if load[v] + weights[j] <= capacity]
                if not fitting:
                    break
                nearest = min(fitting, key=lambda j: row[nodes.first_job + j])
                free.discard(nearest)
                assigned[v].append(nearest)
                load[v] += weights[nearest]
                position[v] = nodes.first_job + nearest
    return _plan_from(METHOD_NEAREST, nodes, jobs, vehicles, assigned)


def route_plan(*, depot: tuple[float, float], jobs: Sequence[Job], vehicles: Sequence[Vehicle],
               time_limit_s: float = 5) -> RoutePlan:
    """OR-Tools first; nearest-neighbour routes if it finds nothing in time."""
    nodes = _Nodes(depot, jobs, vehicles)
    plan = route_ortools(depot=depot, jobs=jobs, vehicles=vehicles, time_limit_s=time_limit_s, nodes=nodes)
    if plan is None:
        plan = route_nearest(depot=depot, jobs=jobs, vehicles=vehicles, nodes=nodes)
    return plan


def warehouse_location() -> tuple[float, float]:
    return float(settings.WAREHOUSE_LATITUDE), float(settings.WAREHOUSE_LONGITUDE)
