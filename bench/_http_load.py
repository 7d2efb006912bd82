"""A small HTTP load generator and WSGI-server runner shared by the benchmarks in bench/.

Standard library only on the client side, so a client process costs little to start and little
CPU per request: on this 2-core machine the load generator competes with the server it measures.

The pieces:
- `GunicornServer`: the project under gunicorn in a subprocess on a free loopback port,
  waited for on /healthz, stopped on exit.
- `LoadGenerator`: N keep-alive clients (processes by default, threads optionally) that each loop
  over a list of paths for a fixed time; warm-up requests are discarded.
- `Measurement` / `summarise`: requests/s, latency percentiles, errors, CPU used by server and clients.
- `queries_per_request`: the SQL query count of each path, measured in-process with Django's
  test client (call after django.setup()).
- `render_table`: a plain-text table.
"""

from __future__ import annotations

import http.client
import math
import multiprocessing
import os
import queue
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
# Django's "2026-01-01 12:00:00,123 " and gunicorn's "[2026-01-01 12:00:00 +0800] [123] " prefixes.
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ |\[\d{4}-\d\d-\d\d [^]]*\] \[\d+\] )")


# --------------------------------------------------------------------------------------------
# CPU accounting (Linux /proc), so a reader can see who used the 2 cores during a measurement.

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is fields[0]; utime and stime are fields 11 and 12.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def process_tree_cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of a process and its live descendants (gunicorn master + workers)."""
    total = _proc_cpu_seconds(pid)
    for child in _children(pid):
        total += process_tree_cpu_seconds(child)
    return total


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle on the whole machine, all cores together."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / _CLOCK_TICKS


# --------------------------------------------------------------------------------------------
# The server under test.


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class GunicornServer:
    """`gunicorn <wsgi_app>` on 127.0.0.1:<free port>, as a context manager.

    gthread workers are the default because they keep connections alive (sync workers close
    every connection after one response, so each request would also pay a TCP handshake).
    """

    def __init__(
        self,
        *,
        wsgi_app: str,
        cwd: Path,
        env: dict[str, str],
        workers: int = 2,
        threads: int = 4,
        worker_class: str = "gthread",
        health_path: str = "/healthz",
        start_timeout: float = 60.0,
    ):
        self.wsgi_app = wsgi_app
        self.cwd = Path(cwd)
        self.env = env
        self.workers = workers
        self.threads = threads
        self.worker_class = worker_class
        self.health_path = health_path
        self.start_timeout = start_timeout
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)

    @property
    def version(self) -> str:
        try:
            from importlib.metadata import version

            return version("gunicorn")
        except Exception:  # noqa: BLE001 - only used for a label
            return "?"

    def describe(self) -> str:
        threads = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return (
            f"gunicorn {self.version} on {HOST}:{self.port}, worker class {self.worker_class}, "
            f"{self.workers} workers{threads}"
        )

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", self.wsgi_app,
            "--bind", f"{HOST}:{self.port}",
            "--workers", str(self.workers),
            "--worker-class", self.worker_class,
            "--threads", str(self.threads),
            "--keep-alive", "5",
            # A benchmark must not lose a measurement to a worker being recycled mid-run.
            "--max-requests", "0",
            "--timeout", "60",
            "--log-level", "warning",
            "--error-logfile", self._log.name,
        ]

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, repeated lines (same text but the time stamp) folded into one."""
        try:
            text = Path(self._log.name).read_text(errors="replace")
        except OSError:
            return ""
        folded: list[list] = []
        for line in text.splitlines():
            key = _TIMESTAMP.sub("", line)
            if folded and folded[-1][0] == key:
                folded[-1][1] += 1
            else:
                folded.append([key, 1])
        return "\n".join(key if n == 1 else f"{key}  (x{n})" for key, n in folded[-lines:])

    def __enter__(self) -> GunicornServer:
        self.process = subprocess.Popen(
            self.command(), cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.start_timeout
        last_error = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                status, body = http_get(self.port, self.health_path, timeout=2)
                if status == 200:
                    return self
                last_error = f"HTTP {status}: {body[:200]!r}"
            except OSError as exc:
                last_error = repr(exc)
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer {self.health_path} in time ({last_error}):\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __exit__(self, *exc_info) -> None:
        self.stop()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass

    def cpu_seconds(self) -> float:
        return process_tree_cpu_seconds(self.process.pid) if self.process else 0.0


# --------------------------------------------------------------------------------------------
# The clients.


@dataclass
class ClientJob:
    port: int
    paths: list[str]
    start_at: float  # time.monotonic() (system-wide on Linux, so valid across processes)
    measure_from: float
    stop_at: float
    offset: int = 0  # where in `paths` this client starts, so clients don't move in lockstep
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    # Open loop: 0 = back to back (closed loop). Otherwise this client's k-th request is due at
    # start_at + phase + k * interval, and its latency is counted from when it was due, not from
    # when it was sent: a server that falls behind pays for the wait (no coordinated omission).
    interval: float = 0.0
    phase: float = 0.0


@dataclass
class ClientResult:
    latencies: list[list[float]]  # per path index, seconds, requests completed inside the window
    errors: Counter  # "path -> HTTP 500" / "path -> ConnectionResetError(...)" -> count, warm-up included
    warmup_requests: int
    late: bool  # got its job after the measured window had begun: the figures would be short


def run_client(job: ClientJob) -> ClientResult:
    """One client: a keep-alive connection, requests back to back until `stop_at` (or, with
    `interval`, each at its due time)."""
    latencies: list[list[float]] = [[] for _ in job.paths]
    errors: Counter = Counter()
    warmup = 0
    headers = {"Host": f"{HOST}:{job.port}", "Connection": "keep-alive", **job.headers}
    conn = http.client.HTTPConnection(HOST, job.port, timeout=job.timeout)
    clock = time.monotonic
    perf = time.perf_counter
    delay = job.start_at - clock()
    late = clock() > job.measure_from
    if delay > 0:
        time.sleep(delay)
    i = job.offset
    n = len(job.paths)
    sent = 0
    while True:
        now = clock()
        due = None
        if job.interval:
            due = job.start_at + job.phase + sent * job.interval
            sent += 1
            if due > now:
                time.sleep(due - now)
                now = clock()
        if now >= job.stop_at:
            break
        index = i % n
        i += 1
        path = job.paths[index]
        began = perf() if due is None else perf() - (clock() - due)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
            if response.will_close:
                conn.close()  # http.client reconnects on the next request
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            status = None
            error = f"{type(exc).__name__}: {exc}"
        elapsed = perf() - began
        done = clock()
        if status != 200:
            # Counted during warm-up too: a failure is a failure whenever it happens.
            errors[f"{path} -> {'HTTP %d' % status if status is not None else error}"] += 1
            continue
        if done < job.measure_from:
            warmup += 1
        elif done <= job.stop_at:  # one finishing after the window is neither counted nor timed
            latencies[index].append(elapsed)
    conn.close()
    return ClientResult(latencies, errors, warmup, late)


def _client_process_main(jobs: multiprocessing.Queue, results: multiprocessing.Queue) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    results.put("ready")
    while True:
        job = jobs.get()
        if job is None:
            return
        try:
            results.put(run_client(job))
        except BaseException as exc:  # noqa: BLE001 - reported by the parent
            results.put(exc)


@dataclass
class Measurement:
    name: str
    paths: list[str]
    duration: float
    latencies: list[list[float]]
    errors: Counter
    client_cpu: float
    server_cpu: float
    machine_cpu: float
    offered: float | None = None  # open loop: the rate offered (requests/s)

    @property
    def all_latencies(self) -> list[float]:
        return [x for per_path in self.latencies for x in per_path]

    @property
    def ok(self) -> int:
        return sum(len(x) for x in self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def rps(self) -> float:
        return self.ok / self.duration

    def percentile(self, q: float, index: int | None = None) -> float:
        values = self.all_latencies if index is None else self.latencies[index]
        return percentile(values, q)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class LoadGenerator:
    """`clients` keep-alive HTTP clients, as threads of this process (default) or as processes.

    Threads measured cheaper here: about half the CPU per request of processes (fewer, lighter
    context switches), and the GIL is far from saturated at the rates a 2-core machine serves.
    Processes are started once and reused for every measurement. See bench/README.md.
    """

    def __init__(self, *, clients: int = 8, mode: str = "thread"):
        if mode not in {"process", "thread"}:
            raise ValueError(f"unknown client mode {mode!r}")
        self.clients = clients
        self.mode = mode
        self._processes: list[multiprocessing.Process] = []
        self._jobs = self._results = None

    def __enter__(self) -> LoadGenerator:
        if self.mode == "process":
            # spawn, not fork: the parent has Django, database connections and threads loaded.
            context = multiprocessing.get_context("spawn")
            self._jobs, self._results = context.Queue(), context.Queue()
            self._processes = [
                context.Process(target=_client_process_main, args=(self._jobs, self._results), daemon=True)
                for _ in range(self.clients)
            ]
            for process in self._processes:
                process.start()
            # Starting a Python process takes a while on a busy machine; measure only once all are up.
            for _ in self._processes:
                ready = self._results.get(timeout=120)
                if ready != "ready":
                    raise RuntimeError(f"a load-generator process failed to start: {ready!r}")
        return self

    def __exit__(self, *exc_info) -> None:
        for _ in self._processes:
            self._jobs.put(None)
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        self._processes = []

    def measure(
        self,
        *,
        name: str,
        port: int,
        paths: list[str],
        duration: float,
        warmup: float,
        server: GunicornServer | None = None,
        headers: dict[str, str] | None = None,
        rate: float | None = None,
    ) -> Measurement:
        """Closed loop (each client sends its next request when the last one is answered), or with
        `rate` open loop: `rate` requests/s offered in all, spread evenly over the clients, each
        request's latency counted from its due time."""
        # A short lead time lets every client be waiting before the clock starts.
        start_at = time.monotonic() + 0.3
        measure_from = start_at + warmup
        stop_at = measure_from + duration
        step = max(1, len(paths) // self.clients)
        interval = self.clients / rate if rate else 0.0
        jobs = [
            ClientJob(port=port, paths=paths, start_at=start_at, measure_from=measure_from, stop_at=stop_at,
                      offset=(k * step) % len(paths), headers=headers or {},
                      interval=interval, phase=k * interval / self.clients)
            for k in range(self.clients)
        ]
        # Whole processes, read from /proc: with threads that is this process, GIL hand-offs included.
        client_pids = [p.pid for p in self._processes] if self.mode == "process" else [os.getpid()]
        window = _CpuWindow(server, client_pids, measure_from, stop_at)
        window.start()
        if self.mode == "process":
            for job in jobs:
                self._jobs.put(job)
            results = []
            for _ in jobs:
                try:
                    result = self._results.get(timeout=duration + warmup + 120)
                except queue.Empty:
                    raise RuntimeError("a load-generator process did not report back") from None
                if isinstance(result, BaseException):
                    raise RuntimeError("a load-generator process failed") from result
                results.append(result)
        else:
            results = [None] * len(jobs)

            def target(k):
                results[k] = run_client(jobs[k])

            threads = [threading.Thread(target=target, args=(k,), daemon=True) for k in range(len(jobs))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        window.join()
        if any(result.late for result in results):
            raise RuntimeError("a client started after the measured window had begun; the machine is too busy")
        latencies = [[] for _ in paths]
        errors: Counter = Counter()
        for result in results:
            for k, values in enumerate(result.latencies):
                latencies[k].extend(values)
            errors.update(result.errors)
        if not errors and not any(latencies):
            raise RuntimeError(f"{name}: no request completed inside the {duration:g} s window; "
                               "lengthen the warm-up or the duration")
        return Measurement(
            name=name, paths=paths, duration=duration, latencies=latencies, errors=errors,
            client_cpu=window.client_cpu, server_cpu=window.server_cpu, machine_cpu=window.machine_cpu,
            offered=rate,
        )


class _CpuWindow(threading.Thread):
    """Samples server, client and machine CPU counters at the start and end of the measured window."""

    def __init__(self, server, client_pids: list[int], start: float, stop: float):
        super().__init__(daemon=True)
        self.server, self.client_pids, self.start_at, self.stop_at = server, client_pids, start, stop
        self.server_cpu = self.client_cpu = self.machine_cpu = math.nan

    def _sample(self) -> tuple[float, float, float]:
        return (
            self.server.cpu_seconds() if self.server else math.nan,
            sum(_proc_cpu_seconds(pid) for pid in self.client_pids),
            machine_busy_seconds(),
        )

    def run(self):
        time.sleep(max(0.0, self.start_at - time.monotonic()))
        before = self._sample()
        time.sleep(max(0.0, self.stop_at - time.monotonic()))
        after = self._sample()
        self.server_cpu, self.client_cpu, self.machine_cpu = (b - a for a, b in zip(before, after))


# --------------------------------------------------------------------------------------------
# Rounds: every endpoint measured in turn, `repeat` times.


def measure_rounds(load: LoadGenerator, server: GunicornServer, endpoints, *, repeat: int, duration: float,
                   warmup: float) -> list[dict[str, Measurement]]:
    """`repeat` rounds; in each, every endpoint (name, paths, headers or None) measured one after
    another with the same clients, one progress line each. Per round {name: Measurement}: read a
    ratio within its round (`median_ratio`), since the load of others moves between rounds."""
    rounds: list[dict[str, Measurement]] = []
    for round_number in range(1, repeat + 1):
        measured = {}
        for name, paths, headers in endpoints:
            m = load.measure(name=name, port=server.port, paths=list(paths), duration=duration, warmup=warmup,
                             server=server, headers=headers)
            measured[name] = m
            print(f"  round {round_number}/{repeat}  {name:<28} {m.rps:8.1f} req/s  "
                  f"p50 {m.percentile(50) * 1000:.1f} ms  p95 {m.percentile(95) * 1000:.1f} ms  "
                  f"errors {m.error_count}", flush=True)
        rounds.append(measured)
    return rounds


def median_over_rounds(rounds: list[dict[str, Measurement]], name: str, figure) -> float:
    """The median over the rounds of `figure(measurement)` for one endpoint."""
    return median([figure(measured[name]) for measured in rounds])


def median_ratio(rounds: list[dict[str, Measurement]], name: str, baseline: str, *, unit: int = 1) -> float:
    """The median over the rounds of this endpoint's rate (per `unit` requests) divided by the
    baseline's rate in the same round."""
    return median([measured[name].rps / unit / measured[baseline].rps if measured[baseline].rps else math.nan
                   for measured in rounds])


# --------------------------------------------------------------------------------------------
# Queries per request, in-process.


def queries_per_request(paths: list[str], *, headers: dict[str, str] | None = None) -> dict[str, tuple[int, int]]:
    """{path: (HTTP status, SQL queries)} of the third call of each path with Django's test client.

    The third call, so one-off work (opening the connection, first-use caches, a statement prepared
    on its first use, which may be the second call's) isn't counted.
    Needs django.setup() first.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(**{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()})
    counts = {}
    for path in paths:
        client.get(path)
        client.get(path)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        counts[path] = (response.status_code, len(captured))
    return counts


# --------------------------------------------------------------------------------------------
# Reporting.


def median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def render_table(headers: list[str], rows: list[list[object]], *, align: str | None = None) -> str:
    """Plain-text table; `align` is one character per column, 'l' or 'r' (default: first l, rest r)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(_display_width(row[k]) for row in cells) for k in range(len(headers))]

    def line(row):
        out = []
        for k, cell in enumerate(row):
            pad = " " * (widths[k] - _display_width(cell))
            out.append(cell + pad if align[k] == "l" else pad + cell)
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def _display_width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if ord(ch) >= 0x1100 and _is_wide(ch) else 1 for ch in text)


def _is_wide(ch: str) -> bool:
    import unicodedata

    return unicodedata.east_asian_width(ch) in {"W", "F"}
