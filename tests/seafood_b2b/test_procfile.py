"""The production processes (Procfile): honcho accepts the file, each command's program and module
load, the worker acknowledges late, and production's static files build (whitenoise's compressed
manifest storage) with `collectstatic`."""

import importlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from honcho.environ import parse_procfile

from tests.seafood_b2b.test_production import _run, real_looking_env

BASE_DIR = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _processes() -> dict[str, list[str]]:
    procfile = parse_procfile((BASE_DIR / "Procfile").read_text())
    # The defaults the shell would fill in when the variables are unset.
    return {name: shlex.split(cmd.replace("${WEB_WORKERS:-2}", "2").replace("${WEB_THREADS:-4}", "4"))
            for name, cmd in procfile.processes.items()}


def test_honcho_accepts_the_procfile():
    result = subprocess.run([str(VENV_BIN / "honcho"), "-f", "Procfile", "check"], cwd=BASE_DIR,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "Valid procfile detected (web, worker, beat)" in result.stderr + result.stdout


def test_web_is_gunicorn_gthread_two_by_four_and_its_application_loads():
    web = _processes()["web"]

    assert web[0] == "gunicorn" and (VENV_BIN / "gunicorn").exists()
    assert web[web.index("--worker-class") + 1] == "gthread"
    assert (web[web.index("--workers") + 1], web[web.index("--threads") + 1]) == ("2", "4")
    module, _, attribute = web[1].partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))


def test_worker_and_beat_load_the_celery_app_and_the_database_scheduler():
    processes = _processes()
    worker, beat = processes["worker"], processes["beat"]

    assert worker[:4] == ["celery", "-A", "seafood_b2b", "worker"] and (VENV_BIN / "celery").exists()
    assert beat[:4] == ["celery", "-A", "seafood_b2b", "beat"]
    assert importlib.import_module("seafood_b2b").celery_app.main == "seafood_b2b"  # what -A finds
    module, _, cls = beat[beat.index("--scheduler") + 1].partition(":")
    assert getattr(importlib.import_module(module), cls).__name__ == "DatabaseScheduler"
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"


def test_the_worker_acknowledges_late_and_redis_does_not_redeliver_a_counted_down_task():
    from seafood_b2b.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    # Redis re-delivers an unacknowledged message after visibility_timeout, and a task with a
    # countdown or eta sits unacknowledged until it runs (kombu #337, Celery #7924): the timeout
    # must outlast the longest countdown (orders' refund retry, capped at an hour).
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > 3600


@pytest.mark.timeout(1200)
def test_collectstatic_builds_compressed_hashed_files_in_production(tmp_path):
    static_root = tmp_path / "static"
    env = {**real_looking_env(tmp_path), "STATIC_ROOT": str(static_root)}

    # Compressing every file is CPU work: on a machine busy with other suites it took over 180 s.
    result = _run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], env, timeout=900)

    assert result.returncode == 0, result.stderr
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["img/favicon.ico"]
    assert hashed != "img/favicon.ico" and (static_root / hashed).exists()
    css = next(name for name in manifest["paths"].values() if name.endswith(".css"))
    assert (static_root / f"{css}.gz").exists()  # compressed beside the original
    storage = _run([sys.executable, "manage.py", "shell", "--no-imports", "-c",
                    "from django.conf import settings; print(settings.STORAGES['staticfiles']['BACKEND'])"], env)
    assert storage.stdout.strip() == "whitenoise.storage.CompressedManifestStaticFilesStorage", storage.stderr
