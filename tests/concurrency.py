"""Run one function in several threads at once, each on its own database connection."""

import threading

from django.db import connections


def run_in_threads(count: int, target, *, timeout: float = 60) -> list:
    """Start `count` threads together (a barrier), call target(index) in each, return the results in
    index order. An exception raised in a thread is returned in its place, so the test sees it."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def worker(index):
        try:
            barrier.wait()
            results[index] = target(index)
        except Exception as error:  # reported to the test, not swallowed by the thread
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results
