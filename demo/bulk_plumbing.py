"""The bulk path's plumbing (demo/bulk.py): statements, the progress bar, and a queue of tasks on `jobs`
threads, each thread with its own database connection, a task waiting for the tasks it comes `after`."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, connections

from .base import DemoPlan

# The load's scratch tables (unlogged planning tables, dropped at the end).
META_TABLE = "demo_bulk_meta"
PLAN_TABLE = "demo_bulk_plan"
TIMES_TABLE = "demo_bulk_times"
ORDERS_TABLE = "demo_bulk_orders"
PRODUCTS_TABLE = "demo_bulk_products"
SCRATCH_TABLES = (PLAN_TABLE, TIMES_TABLE, ORDERS_TABLE, PRODUCTS_TABLE, "demo_bulk_areas", "demo_bulk_reps",
                  "demo_bulk_firsts", "demo_bulk_shipped")



def sql(statement: str, params=None, *, fetch: bool = False):
    t0 = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        result = cursor.fetchall() if fetch else cursor.rowcount
    if os.environ.get("BULK_TRACE"):
        print(f"[{time.monotonic() - t0:6.2f}s] {' '.join(statement.split())[:90]}", file=sys.stderr)
    return result


def session_for_load() -> None:
    """A loading session: big sorts in memory, foreign keys not checked row by row, commits not waited for,
    no JIT (the planner's row estimates for the scratch tables are far too high: it compiled each statement
    for seconds, more than the statement then ran)."""
    sql("SET jit = off")
    sql("SET work_mem = '256MB'")
    sql("SET maintenance_work_mem = '512MB'")
    sql("SET session_replication_role = replica")
    sql("SET synchronous_commit = off")


@dataclass
class Progress:
    """One bar for the whole run, in estimated seconds of work, so its ETA is the run's."""

    plan: DemoPlan
    total: float
    bar: object = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self):
        self.bar = self.plan.progress_bar(total=round(self.total), desc="100× 数据")
        self.bar.unit = "份"
        return self

    def __exit__(self, *exc):
        self.bar.close()
        return False

    def advance(self, amount: float, label: str = "") -> None:
        with self.lock:
            if label:
                self.bar.set_postfix_str(label, refresh=False)
            self.bar.update(amount)


@dataclass(frozen=True)
class Task:
    name: str
    run: Callable[[], None]
    after: tuple[str, ...] = ()  # names of tasks that must have finished first (unknown names are ignored)


def run_parallel(jobs: int, tasks: list[Callable[[], None]]) -> None:
    """Run the tasks on `jobs` threads in list order, each thread with its own connection."""
    run_graph(jobs, [Task(f"task {i}", task) for i, task in enumerate(tasks)])


def run_graph(jobs: int, tasks: list[Task]) -> None:
    """Run the tasks on `jobs` threads, each with its own database connection: a free thread takes the first
    task (in list order) whose `after` tasks are done. Re-raises the first error; no new task starts after one."""
    names = {task.name for task in tasks}
    pending = list(tasks)
    done: set[str] = set()
    errors: list[BaseException] = []
    running = [0]
    cond = threading.Condition()

    def ready(task: Task) -> bool:
        return all(name in done or name not in names for name in task.after)

    def take() -> Task | None:
        with cond:
            while True:
                if errors or not pending:
                    return None
                task = next((t for t in pending if ready(t)), None)
                if task is not None:
                    pending.remove(task)
                    running[0] += 1
                    return task
                if running[0] == 0:
                    raise RuntimeError(f"tasks wait for each other: {[t.name for t in pending]}")
                cond.wait()

    def worker(close: bool) -> None:
        try:
            while (task := take()) is not None:
                failed = None
                try:
                    task.run()
                except BaseException as error:  # noqa: BLE001 - handed to the caller
                    failed = error
                with cond:
                    running[0] -= 1
                    if failed is None:
                        done.add(task.name)
                    else:
                        errors.append(failed)
                    cond.notify_all()
        except BaseException as error:  # noqa: BLE001 - a deadlock found by take()
            with cond:
                errors.append(error)
                cond.notify_all()
        finally:
            if close:
                connections.close_all()

    if jobs <= 1:
        worker(close=False)
    else:
        threads = [threading.Thread(target=worker, args=(True,)) for _ in range(jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
