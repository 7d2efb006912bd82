"""Test settings: the base settings, with the real PostgreSQL and Redis unless told otherwise."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/seafood")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from .settings import *  # noqa: E402,F401,F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = BASE_DIR / "test-artifacts" / "media"  # noqa: F405
PRIVATE_MEDIA_ROOT = BASE_DIR / "test-artifacts" / "private-media"  # noqa: F405
SERVE_MEDIA = True  # the browser tests show product pictures
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# The test client's login() authenticates without a request, which axes' backend refuses (tests/auth.py).
AUTHENTICATION_BACKENDS = [  # noqa: F405
    "tests.auth.AxesStandaloneBackendForTests" if backend == "axes.backends.AxesStandaloneBackend" else backend
    for backend in AUTHENTICATION_BACKENDS  # noqa: F405
]
