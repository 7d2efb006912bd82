"""Settings for the seafood ordering platform.

Everything that differs between a laptop and production comes from the environment, with
defaults that make `make run` work on a fresh machine (SQLite, Celery eager, dev WeChat backend).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from seafood_b2b import production

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


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
                "description": "GET /api/v1/rep/me 返回的 feed_token（有效期 feed_token_max_age 秒）",
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
# The one place the periodic schedule is defined; django-celery-beat copies it into the
# database, where admins can change it.
CELERY_BEAT_SCHEDULE = {
    "orders-expire-unpaid": {
        "task": "orders.tasks.orders_expire_unpaid",
        "schedule": float(env_int("ORDERS_EXPIRY_SWEEP_SECONDS", 60)),
    },
    "notifications-send-due": {
        "task": "notifications.tasks.notifications_send_due",
        "schedule": 60.0,
    },
    "refunds-retry-unfinished": {
        "task": "orders.tasks.refunds_retry_unfinished",
        "schedule": 300.0,
    },
    # WeCom customers moved at a handover: resend what is pending, read how the waiting ones went.
    "wecom-transfers-poll": {
        "task": "reps.tasks.wecom_transfers_poll_task",
        "schedule": 600.0,
    },
    # The company's customer tags mirrored to WeCom corp tags (only changes are sent).
    "wecom-tags-sync": {
        "task": "reps.tasks.wecom_tags_sync_task",
        "schedule": 900.0,
    },
    "churn-sweep": {
        "task": "customers.tasks.churn_sweep_task",
        "schedule": crontab(hour=2, minute=0),
    },
    # After the churn sweep: the automatic tags (category shares, RFM) from the paid orders.
    "crm-auto-tags": {
        "task": "crm.tasks.auto_tags_task",
        "schedule": crontab(hour=2, minute=30),
    },
    # Lost items: after the churn sweep (usuals.lost).
    "usuals-lost-items": {
        "task": "usuals.tasks.lost_items_sweep_task",
        "schedule": crontab(hour=2, minute=20),
    },
    # Reminders before the cut-off: the task sends only in its window (usuals.reminders).
    "usuals-cutoff-reminders": {
        "task": "usuals.tasks.cutoff_reminders_task",
        "schedule": crontab(minute="*/10"),
    },
    "customer-stats-check": {
        "task": "customers.tasks.customer_stats_check",
        "schedule": crontab(hour=3, minute=45),
    },
    "inventory-value-snapshot": {
        "task": "logistics.tasks.inventory_value_snapshot_task",
        "schedule": crontab(hour=23, minute=55),
    },
    "stock-ledger-check": {
        "task": "logistics.tasks.stock_check_ledger",
        "schedule": crontab(hour=3, minute=30),
    },
    # A campaign left half sent (its task lost with the broker or a worker) is finished.
    "campaigns-resume": {
        "task": "campaigns.tasks.campaigns_resume_task",
        "schedule": 300.0,
    },
    # Overdue complaints to the managers; each complaint's own repeat interval is in 投诉规则.
    "complaints-escalate-overdue": {
        "task": "complaints.tasks.complaints_escalate_overdue",
        "schedule": 300.0,
    },
    # A few minutes after the order cut-off (下单规则, default 23:00): tomorrow's purchase tasks.
    "purchase-tasks-build": {
        "task": "logistics.tasks_purchasing.purchase_tasks_build_for_tomorrow",
        "schedule": crontab(hour=23, minute=5),
    },
}
# Task modules that autodiscovery (which imports each app's `tasks.py` only) would not find.
CELERY_IMPORTS = ["logistics.tasks_purchasing"]

# WeChat: `dev` plays WeChat locally (default); `real` talks to the documented HTTP APIs.
WECHAT_BACKEND = os.environ.get("WECHAT_BACKEND", "dev")
WECHAT_APPID = os.environ.get("WECHAT_APPID", production.DEV_WECHAT_APPID)
WECHAT_SECRET = os.environ.get("WECHAT_SECRET", "")
WECHAT_API_BASE = os.environ.get("WECHAT_API_BASE", "https://api.weixin.qq.com")
WECHAT_HTTP_TIMEOUT = float(os.environ.get("WECHAT_HTTP_TIMEOUT", "5"))

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

# Where WeCom serves contact-me code images (add_contact_way's qr_code); allowed as images on our pages.
WECOM_QR_IMAGE_HOSTS = [h for h in os.environ.get("WECOM_QR_IMAGE_HOSTS", "https://wework.qpic.cn").split(",") if h]

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

# WeChat Pay API v3. Amounts cross this boundary in fen; everything inside is Decimal yuan.
WECHATPAY_MCHID = os.environ.get("WECHATPAY_MCHID", production.DEV_WECHATPAY_MCHID)
WECHATPAY_APIV3_KEY = os.environ.get("WECHATPAY_APIV3_KEY", production.DEV_WECHATPAY_APIV3_KEY)
WECHATPAY_MERCHANT_KEY_PATH = os.environ.get("WECHATPAY_MERCHANT_KEY_PATH", "")
WECHATPAY_MERCHANT_CERT_SERIAL = os.environ.get("WECHATPAY_MERCHANT_CERT_SERIAL", "")
WECHATPAY_PUBLIC_KEY_PATH = os.environ.get("WECHATPAY_PUBLIC_KEY_PATH", "")
WECHATPAY_PUBLIC_KEY_ID = os.environ.get("WECHATPAY_PUBLIC_KEY_ID", "")
WECHATPAY_API_BASE = os.environ.get("WECHATPAY_API_BASE", "https://api.mch.weixin.qq.com")
# Where WeChat Pay posts notifications: https, no query string. Unset: built from the request's host.
WECHATPAY_NOTIFY_URL = os.environ.get("WECHATPAY_NOTIFY_URL", "")
WECHATPAY_DEV_KEY_DIR = Path(os.environ.get("WECHATPAY_DEV_KEY_DIR", BASE_DIR / "var" / "wechatpay-dev"))
# The dev WeChat Pay sends every notification twice, as the real one may.
WECHATPAY_DEV_DUPLICATE_NOTIFY = env_bool("WECHATPAY_DEV_DUPLICATE_NOTIFY", True)
if len(WECHATPAY_APIV3_KEY) != 32:
    raise ImproperlyConfigured("WECHATPAY_APIV3_KEY must be 32 characters")

# Subscribe-message templates: our name → the template id chosen in the mini program's console.
# With the dev backend any id works; set the real ids with WECHAT_TEMPLATE_<NAME>. Each is sent
# only against the customer's acceptance of it (README "Customer messages and consent"):
# order_paid (payment settled), delivery_done (signed by / left at), weight_refund (catch-weight
# difference refunded at packing), refund_done (a refund reached the customer), aftersales_result
# (a staff decision), complaint_reply (a reply to a complaint), welcome (crm: a new restaurant's
# first phone authorisation; sent only if that user accepted it).
WECHAT_SUBSCRIBE_TEMPLATES = {
    name: os.environ.get(f"WECHAT_TEMPLATE_{name.upper()}", f"{production.DEV_TEMPLATE_PREFIX}{name}")
    for name in ("order_paid", "delivery_done", "weight_refund", "refund_done", "aftersales_result",
                 "complaint_reply", "welcome", "cutoff_reminder", "promotion")
}

# Where this site is reached from outside (a phone's camera): dev mini-program codes point here.
SITE_URL = os.environ.get("SITE_URL", production.DEV_SITE_URL)

# WeCom (企业微信) customer contact: the corp id and the secret of the app holding 客户联系 rights.
# With the dev backend a made-up corp id, so the dev WeCom's callbacks (wechat.views) are addressed and checked.
WECOM_CORP_ID = os.environ.get("WECOM_CORP_ID", production.DEV_WECOM_CORP_ID if WECHAT_BACKEND == "dev" else "")
WECOM_SECRET = os.environ.get("WECOM_SECRET", "")
WECOM_API_BASE = os.environ.get("WECOM_API_BASE", "https://qyapi.weixin.qq.com")
# The callback URL's Token and EncodingAESKey (应用管理 → 接收消息 → 设置API接收), /wecom/callback.
WECOM_CALLBACK_TOKEN = os.environ.get("WECOM_CALLBACK_TOKEN", production.DEV_WECOM_CALLBACK_TOKEN)
WECOM_CALLBACK_AES_KEY = os.environ.get("WECOM_CALLBACK_AES_KEY", production.DEV_WECOM_CALLBACK_AES_KEY)
if len(WECOM_CALLBACK_AES_KEY) != 43:
    raise ImproperlyConfigured("WECOM_CALLBACK_AES_KEY must be the 43-character EncodingAESKey")
# Sent through WeCom (send_welcome_msg) when a customer adds a rep; {rep_name} is the rep's name.
WECOM_WELCOME_TEXT = os.environ.get("WECOM_WELCOME_TEXT", "您好，我是{rep_name}，以后订货、配送和售后有任何问题随时找我。")
# A callback whose timestamp is further than this from now is refused (replay defence).
WECOM_CALLBACK_MAX_AGE_SECONDS = int(os.environ.get("WECOM_CALLBACK_MAX_AGE_SECONDS", "300"))
# WeCom app messages to staff (send_staff_message): the agentid of the self-built app whose secret
# is WECOM_SECRET (message/send wants that app's token; give the same app 客户联系 rights).
_wecom_agent_id = os.environ.get("WECOM_AGENT_ID", "").strip()
if _wecom_agent_id and not _wecom_agent_id.isdigit():
    raise ImproperlyConfigured("WECOM_AGENT_ID must be the WeCom app's numeric agentid")
WECOM_AGENT_ID = int(_wecom_agent_id) if _wecom_agent_id else None

# The rep's mini-program code (getwxacodeunlimit, WECHAT_BACKEND=real): the page it opens, whether
# WeChat checks that page exists in the released version, which version opens, and its width in px.
# Changing any of them makes each rep's stored code be generated again on its next view.
WXACODE_PAGE = os.environ.get("WXACODE_PAGE", "pages/index/index")
WXACODE_CHECK_PATH = env_bool("WXACODE_CHECK_PATH", True)
WXACODE_ENV_VERSION = os.environ.get("WXACODE_ENV_VERSION", "release")
if WXACODE_ENV_VERSION not in ("release", "trial", "develop"):
    raise ImproperlyConfigured("WXACODE_ENV_VERSION must be release, trial or develop")
WXACODE_WIDTH = int(os.environ.get("WXACODE_WIDTH", "430"))
# The message the customer sees when a rep's WeCom customers are transferred at a handover (≤200 chars).
WECOM_TRANSFER_MESSAGE = os.environ.get("WECOM_TRANSFER_MESSAGE", "您好，您的客户经理已变更，后续由新的客户经理为您服务。")

# Which version of the mini program a subscribe message opens: formal (released), trial, developer.
WECHAT_MINIPROGRAM_STATE = os.environ.get("WECHAT_MINIPROGRAM_STATE", "formal")
if WECHAT_MINIPROGRAM_STATE not in ("formal", "trial", "developer"):
    raise ImproperlyConfigured("WECHAT_MINIPROGRAM_STATE must be formal, trial or developer")
# The language of a subscribe message's card: zh_CN, en_US, zh_HK or zh_TW.
WECHAT_MESSAGE_LANG = os.environ.get("WECHAT_MESSAGE_LANG", "zh_CN")

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
