"""Settings for the seafood ordering platform.

Everything that differs between a laptop and production comes from the environment, with
defaults that make `make run` work on a fresh machine (SQLite, Celery eager, dev WeChat backend).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from seafood_b2b import production
from seafood_b2b.env import BASE_DIR, env_bool, env_int


# ENVIRONMENT=production: the process refuses to start while any setting is still a development
# default (the rule and its enforcement: seafood_b2b/production.py; README "Running it for real").
ENVIRONMENT = os.environ.get("ENVIRONMENT", "development")
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", production.DEV_SECRET_KEY)

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", ",".join(production.DEV_ALLOWED_HOSTS)).split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# Under /api/ a refused CSRF check answers in the API's error shape (core.views); elsewhere Django's page.
CSRF_FAILURE_VIEW = "core.views.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "csp",
    "core",
    "wechat",
    "catalog",
    "customers",
    "reps",
    "orders",
    "logistics",
    "notifications",
    "aftersales",
    "complaints",
    "usuals",
    "crm",
    "coupons",
    "campaigns",
    "dashboard",  # the company dashboard: reads every domain app, nothing imports it
    "demo",  # the demo data seeder: at the top of the layers, it may import every app
]

MIDDLEWARE = [
    "core.logs.RequestIdMiddleware",  # first: the request id covers everything below
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ControlCharactersMiddleware",
    "core.middleware.DatabaseUnavailableMiddleware",  # a lost database connection: 503, not 500
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.csp.SeafoodCSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "seafood_b2b.urls"
WSGI_APPLICATION = "seafood_b2b.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.wechat",
                "notifications.context_processors.subscribe_templates",
            ],
        },
    },
]

# Database: SQLite by default so `make run` needs nothing; PostgreSQL through DATABASE_URL.
# Persistent connections: opening a new PostgreSQL connection per request is ~12x slower here.
# No health check by default: it is one more round trip (SELECT 1) on every request; after a
# database restart the first request on each stale connection fails once and the connection is
# replaced. DB_HEALTH_CHECKS=1 trades that round trip for never seeing that error.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("CONN_MAX_AGE", 600),
        conn_health_checks=env_bool("DB_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default is for one person trying the product, but `make run` has three processes
    # on the file (web, Celery worker, beat): writers wait for each other instead of failing fast
    # (timeout; IMMEDIATE takes the write lock at BEGIN, so a transaction never fails upgrading its
    # read lock), and readers never wait for a writer (WAL, a property of the file, kept once set).
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;",
    })
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = ["core.auth.UserWithRoleBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "core.auth.DemoPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
# One language: the staff and the customers read Chinese, whatever their browser says.
LANGUAGES = [("zh-hans", "简体中文")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "/static/"
# Where `collectstatic` puts the files whitenoise serves in production (compressed, hashed names).
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# Front-end packages come from npm (package.json); they are served straight from node_modules
# under their own prefix, never copied into the repository.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/weui", BASE_DIR / "node_modules" / "weui" / "dist" / "style"),
    ("vendor/alpinejs", BASE_DIR / "node_modules" / "alpinejs" / "dist"),
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
    ("vendor/leaflet", BASE_DIR / "node_modules" / "leaflet" / "dist"),
    ("vendor/html5-qrcode", BASE_DIR / "node_modules" / "html5-qrcode"),
    ("vendor/swagger-ui", BASE_DIR / "node_modules" / "swagger-ui-dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
# Files nobody may fetch by address (delivery proof photos): never under MEDIA_ROOT, never served by
# the web server; admin hands them out to staff (logistics.storage).
PRIVATE_MEDIA_ROOT = Path(os.environ.get("PRIVATE_MEDIA_ROOT", BASE_DIR / "private-media"))
# Django serves /media/ itself only for `make run` (DEBUG) and the browser tests; in production the
# web server in front does.
SERVE_MEDIA = DEBUG

LOGIN_URL = "/admin/login/"

# Cache: Redis when configured (shared by every process), local memory otherwise. Redis going away
# turns the cache into misses and no-ops, never errors (core/cache.py): orders are still taken.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "core.cache.ResilientRedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Staff sessions (reps, drivers, admins) read from Redis, written through to the database: one
# query less on every request of the rep assistant's polling.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "customers.authentication.VisitorTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.inputs.JSONParser"],
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "海鲜批发订货 API",
    "DESCRIPTION": "The API the WeChat mini program calls: catalogue, cart, session.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Operation ids stay "v1_…" although the WeChat Pay notification (outside /api/) is documented too.
    "SCHEMA_PATH_PREFIX": r"/api/",
    # Two different "status" choice sets: name them, rather than a hash-suffixed guess.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.Order.Status",
        "RefundStatusEnum": "orders.models.Refund.Status",
        "CustomerStatusEnum": "customers.models.Customer.Status",
    },
    # The rep feed poll answers without DRF (reps/feed.py); its token's scheme is declared here.
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "feedToken": {
                "type": "apiKey", "in": "header", "name": "X-Feed-Token",
                "description": ("GET /api/v1/rep/me 返回的 feed_token（有效期 feed_token_max_age 秒）：订单动态轮询，"
                                "以及助手首页的 summary、customers、inbox（无需会话；过期为 401 feed_token_invalid）"),
            },
        },
    },
    # The docs page's Swagger UI comes from npm (swagger-ui-dist) through our static files, not a CDN.
    "SWAGGER_UI_DIST": "/static/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/vendor/swagger-ui/favicon-32x32.png",
}

# Celery. The broker is CELERY_BROKER_URL, else REDIS_URL; a broker means a worker runs the tasks.
# With neither, tasks run eagerly in the calling process (a shell, a script). `make run` sets
# CELERY_BROKER_URL=filesystem:// — kombu's filesystem transport, messages as files under
# CELERY_FILESYSTEM_DIR, no server — and starts a worker and beat beside the web server (Procfile.dev).
_broker = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_BROKER_URL = _broker or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not _broker)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The worker and beat log through LOGGING above (LOG_FORMAT, the request id), not Celery's own handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Longer than the longest task and than any countdown we use, or Redis re-delivers (kombu #337).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_FILESYSTEM_DIR = Path(os.environ.get("CELERY_FILESYSTEM_DIR", BASE_DIR / "var" / "celery"))
    for _folder in ("queue", "processed", "control"):
        (CELERY_FILESYSTEM_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder both ways: web, worker and beat all send to it, the worker reads from it.
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "processed_folder": str(CELERY_FILESYSTEM_DIR / "processed"),
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "polling_interval": 0.5,  # how long a queued task may wait for the worker to look
    }
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False  # no broadcast mailboxes on a folder
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The one place the periodic schedule is defined (seafood_b2b/settings_beat.py).
from seafood_b2b.settings_beat import CELERY_BEAT_SCHEDULE  # noqa: E402,F401
# Task modules that autodiscovery (which imports each app's `tasks.py` only) would not find.
CELERY_IMPORTS = ["logistics.tasks_purchasing"]

# WeChat, WeChat Pay and WeCom: backends, ids, keys, templates (seafood_b2b/settings_wechat.py).
from seafood_b2b.settings_wechat import *  # noqa: E402,F401,F403  (WECOM_QR_IMAGE_HOSTS: the CSP below)

# Visitor tokens (what a mini program keeps after wx.login) live this long before a silent re-login.
VISITOR_TOKEN_MAX_AGE = timedelta(days=env_int("VISITOR_TOKEN_MAX_AGE_DAYS", 30))
CART_MAX_QUANTITY = env_int("CART_MAX_QUANTITY", 9999)
CART_MAX_LINES = env_int("CART_MAX_LINES", 200)

# LOG_FORMAT=json: one JSON object per line (core/logs.py), for production's log collector; plain
# for people. Every record carries the request id (X-Request-ID), in requests and in the tasks they send.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "core.logs.JsonFormatter"},
    },
    "filters": {"request_id": {"()": "core.logs.RequestIdFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# HTTPS. Behind a proxy that terminates TLS, SECURE_PROXY_SSL_HEADER names the header it sets
# (HTTP_X_FORWARDED_PROTO, or "HTTP_X_FORWARDED_PROTO,https" to give the value): without it every
# request looks like plain http and SECURE_SSL_REDIRECT would redirect forever. Only set it when the
# proxy overwrites that header on every request, or a client could claim https.
_proxy_ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_ssl_header:
    _header, _, _value = _proxy_ssl_header.partition(",")
    if not _header.strip().startswith("HTTP_"):
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must name a request.META key, e.g. HTTP_X_FORWARDED_PROTO")
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip() or "https")
if ENVIRONMENT == "production":
    STORAGES["staticfiles"]["BACKEND"] = "whitenoise.storage.CompressedManifestStaticFilesStorage"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Off only when the proxy in front already redirects http to https itself.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # A load balancer's health probe may speak plain http inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)


# Content-Security-Policy on every page (core/csp.py adds 'unsafe-eval' on the Alpine.js pages and
# the map tiles' host). Inline <script> runs only with the request's nonce
# (`nonce="{{ request.csp_nonce }}"`); inline styles are allowed: the templates and Leaflet use them.
# CSP_REPORT_URI: where browsers post violation reports (optional).
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        # data:/blob: for Leaflet's and WeUI's inline icons and the scanner's camera frames.
        "img-src": [SELF, "data:", "blob:", *WECOM_QR_IMAGE_HOSTS],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "media-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        **({"report-uri": [os.environ["CSP_REPORT_URI"]]} if os.environ.get("CSP_REPORT_URI") else {}),
    },
}


# The warehouse: where every delivery run starts and ends (GCJ-02, as the map pins are).
# Default: a cold store near the Buji wholesale market, Longgang, Shenzhen.
WAREHOUSE_LATITUDE = float(os.environ.get("WAREHOUSE_LATITUDE", "22.608900"))
WAREHOUSE_LONGITUDE = float(os.environ.get("WAREHOUSE_LONGITUDE", "114.113600"))

# Map tiles for the rep's "nearby churned customers" map (Leaflet). Empty: no map, the list alone
# (it needs no tiles and no network). Tiles must be GCJ-02, like our coordinates (docs/wechat.md, Location):
# AutoNavi's, e.g. "https://webrd01.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
# or Tencent's; never plain OpenStreetMap tiles, which are WGS-84 and put every marker a few
# hundred metres off in China.
MAP_TILE_URL = os.environ.get("MAP_TILE_URL", "")
MAP_TILE_ATTRIBUTION = os.environ.get("MAP_TILE_ATTRIBUTION", "")

# Packing (logistics/packing.py): when what was packed costs less than what was paid (catch weight
# under nominal, short-packed lines), the difference is refunded through WeChat Pay — unless it is
# smaller than this many yuan: a refund of a few fen is noise to the customer. Overweight is never
# charged extra. Decimal yuan, 0 refunds every fen.
from decimal import Decimal as _Decimal, InvalidOperation as _InvalidOperation  # noqa: E402

try:
    CATCH_WEIGHT_REFUND_TOLERANCE = _Decimal(os.environ.get("CATCH_WEIGHT_REFUND_TOLERANCE", "0.10"))
except _InvalidOperation:
    raise ImproperlyConfigured("CATCH_WEIGHT_REFUND_TOLERANCE must be a number of yuan, e.g. 0.10")
if not CATCH_WEIGHT_REFUND_TOLERANCE.is_finite() or CATCH_WEIGHT_REFUND_TOLERANCE < 0:
    raise ImproperlyConfigured("CATCH_WEIGHT_REFUND_TOLERANCE must be 0 or more yuan")


# --- Logins lock out; phone authorisation and session creation are rate-limited --------------
# (Kept together in one block: core/lockouts.py and core/throttling.py read it.)
# Behind a reverse proxy, how many proxies append to X-Forwarded-For: the client's address is the
# one that many entries from the right. 0 (default): REMOTE_ADDR, and X-Forwarded-For is ignored,
# since a client can write anything there.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Staff, rep, clerk and driver logins (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for
# one username (from any address) the account is locked for LOGIN_LOCKOUT_MINUTES (0: until an
# admin clears it under 登录锁定); each failure during the lockout starts the wait again, and a
# successful login clears the count.
INSTALLED_APPS += ["axes"]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", *AUTHENTICATION_BACKENDS]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes requires
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
_lockout_minutes = env_int("LOGIN_LOCKOUT_MINUTES", 30)
AXES_COOLOFF_TIME = timedelta(minutes=_lockout_minutes) if _lockout_minutes > 0 else None
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "core.lockouts.lockout_response"
AXES_CLIENT_IP_CALLABLE = "core.net.client_ip"
AXES_ENABLE_ADMIN = False  # core/admin.py registers the attempts with a 解除锁定 action
AXES_SENSITIVE_PARAMETERS = ["password", "csrfmiddlewaretoken"]
# axes.W006 warns that locking without the address lets User-Agent or cookie rotation dodge the
# count; counting by username, neither changes anything. Per address, a warehouse's or a carrier's
# shared address would lock every colleague out after one person's typos.
SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "axes.W006"]
LOGGING["loggers"]["axes.apps"] = {"level": "WARNING"}  # not axes' banner at every process start
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT must be 1 or more")

# The mini program's identity endpoints (core/throttling.py): "<requests>/<second|minute|hour|day>".
# Per address the limits are generous: a mobile carrier puts many phones behind one address.
API_RATE_LIMITS = {
    "auth_session_ip": os.environ.get("RATE_LIMIT_AUTH_SESSION_IP", "60/minute"),
    "auth_phone_ip": os.environ.get("RATE_LIMIT_AUTH_PHONE_IP", "30/minute"),
    "auth_phone_visitor": os.environ.get("RATE_LIMIT_AUTH_PHONE_VISITOR", "10/hour"),
}
