"""The production processes as a fresh clone starts them: `honcho -f Procfile start` brings up web
(gunicorn), worker and beat; /readyz answers 200; Redis stopping turns /readyz to 503 while
/healthz stays 200, and /readyz is 200 again once Redis is back."""

import signal

import pytest

from .harness import VENV_BIN, Service, free_port, service_env, wait_until, _status

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timeout(900)]


def test_honcho_starts_web_worker_and_beat_and_readyz_follows_redis(world, redis_server, log_dir):
    port = free_port()
    env = service_env(redis_url=redis_server.url(), WEB_BIND=f"127.0.0.1:{port}", WEB_WORKERS=1, WEB_THREADS=2,
                      CELERY_CONCURRENCY=1, WECHATPAY_DEV_KEY_DIR=world["key_dir"])
    honcho = Service("honcho", [str(VENV_BIN / "honcho"), "-f", "Procfile", "start"], env, log_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _status(f"{base}/readyz") == 200, timeout=180, what="/readyz to answer 200", log=honcho)
        wait_until(lambda: "ready." in honcho.log() and "beat: Starting" in honcho.log(), timeout=180,
                   what="the worker and beat to start", log=honcho)

        redis_server.stop()
        assert _status(f"{base}/readyz") == 503
        assert _status(f"{base}/healthz") == 200

        redis_server.start()
        wait_until(lambda: _status(f"{base}/readyz") == 200, timeout=60, what="/readyz to recover", log=honcho)
    finally:
        honcho.kill(signal.SIGTERM)
    log = honcho.log()
    assert "web.1" in log and "worker.1" in log and "beat.1" in log
