"""demo/bulk_plumbing.run_graph: the bulk path's work on several connections keeps its order where it must."""

import threading
import time

import pytest

from demo.bulk_plumbing import Task, run_graph


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_a_task_starts_only_after_the_tasks_it_comes_after(jobs):
    finished, started = {}, {}
    lock = threading.Lock()

    def work(name, seconds):
        def run():
            with lock:
                started[name] = time.monotonic()
            time.sleep(seconds)
            with lock:
                finished[name] = time.monotonic()
        return run

    run_graph(jobs, [
        Task("writer", work("writer", 0.05)),
        Task("big build", work("big build", 0.02)),
        Task("build after writer", work("build after writer", 0.01), after=("writer",)),
        Task("attach", work("attach", 0), after=("writer", "big build", "build after writer")),
        Task("free", work("free", 0), after=("not a task",)),  # unknown names do not hold anything up
    ])

    assert set(finished) == {"writer", "big build", "build after writer", "attach", "free"}
    assert started["build after writer"] >= finished["writer"]
    assert started["attach"] >= max(finished["writer"], finished["big build"], finished["build after writer"])


def test_an_error_is_raised_and_nothing_waiting_for_it_runs():
    ran = []

    def fail():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_graph(2, [Task("fails", fail), Task("after it", lambda: ran.append("after it"), after=("fails",))])
    assert ran == []
