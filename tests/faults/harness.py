"""Real processes for the fault tests: a Redis of their own, the web server (gunicorn, as the
Procfile runs it) and a Celery worker, all against the test database.

The shared Redis and PostgreSQL are never stopped: other suites may be using them. Redis faults
use a private redis-server on a free port; database faults terminate this test's own connections
(`pg_terminate_backend`), which is what a restart does to every client.
"""

from http.cookiejar import CookieJar
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, *, timeout: float = 60.0, interval: float = 0.1, what: str = "condition",
               log: "Service | None" = None):
    """Poll until predicate() is truthy; generous timeouts, because the machine may be busy. On a
    timeout the end of the named service's log is in the failure."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = f"\n--- {log.name} log ---\n{log.log()[-4000:]}" if log else ""
            raise AssertionError(f"timed out waiting for {what}{tail}")
        time.sleep(interval)


class RedisServer:
    """A redis-server of this test's own, stopped and started again on the same port."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log = log_dir / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.answers, timeout=30, what="redis-server to answer")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class Service:
    """A child process with its output in a log file, stopped (and its group killed) at the end."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(argv, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def service_env(*, redis_url: str, **extra) -> dict:
    """The environment of a production-like process against this test's database and Redis."""
    settings_dict = connection.settings_dict
    database = f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:" \
               f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "seafood_b2b.settings_test",
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


def start_web(env: dict, log_dir: Path) -> tuple[Service, str]:
    """gunicorn as the Procfile runs it (gthread), one worker so connection faults are deterministic."""
    port = free_port()
    web = Service("web", [str(VENV_BIN / "gunicorn"), "seafood_b2b.wsgi:application", "--worker-class", "gthread",
                          "--workers", "1", "--threads", "4", "--bind", f"127.0.0.1:{port}", "--timeout", "120",
                          "--graceful-timeout", "5"], env, log_dir)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _status(f"{base}/healthz") == 200, timeout=90, what=f"web to start ({web.log_path})")
    return web, base


def start_worker(env: dict, log_dir: Path, name: str = "worker") -> Service:
    """A Celery worker as the Procfile runs it (acks late), one process so a kill hits the task."""
    return Service(name, [str(VENV_BIN / "celery"), "-A", "seafood_b2b", "worker", "--loglevel=INFO", "--pool=prefork",
                          "--concurrency=1", "--without-gossip", "--without-mingle", "-n", f"{name}-{free_port()}@%h"],
                   env, log_dir)


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


_COOKIES = CookieJar()
_OPENER = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(_COOKIES))


def http(method: str, url: str, body: dict | None = None, *, headers: dict | None = None, timeout: float = 120):
    """(status, parsed JSON or text) — an HTTP error is an answer, not an exception. Cookies are
    kept, and a POST carries the CSRF cookie back as the pages' scripts do."""
    data = json.dumps(body).encode() if body is not None else None
    csrf = next((cookie.value for cookie in _COOKIES if cookie.name == "csrftoken"), "")
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", "X-CSRFToken": csrf,
                                              **(headers or {})})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def backends_of(application_name: str | None = None, *, waiting_on_lock: bool = False) -> list[int]:
    """PostgreSQL backend pids of other processes on the test database (not this test's own)."""
    query = ["SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
             " AND backend_type = 'client backend'"]
    if waiting_on_lock:
        query.append("AND wait_event_type = 'Lock'")
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL keeps showing the first snapshot of pg_stat_activity.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(" ".join(query))
        return [row[0] for row in cursor.fetchall()]


def terminate(pids: list[int]) -> None:
    """pg_terminate_backend each pid and wait until the backends have gone (the signal is async)."""
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    def gone():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)])
            return cursor.fetchone()[0] == 0

    wait_until(gone, timeout=60, what="terminated backends to exit")
