"""What production refuses to run with: the one place the rule lives.

`production_problems(settings)` lists every reason the given settings are not fit for
ENVIRONMENT=production, one sentence each naming the environment variable to set. Two things
enforce it:

- a Django system check (`check_production_settings`, registered by core's AppConfig), so
  `manage.py check`, `runserver`, `migrate` and every command that runs the checks stop with one
  error per problem, all at once;
- `refuse_unsafe_production()`, called where the long-running processes start and no system
  check runs: the WSGI/ASGI modules (gunicorn, waitress) and the Celery worker and beat
  (seafood_b2b/celery.py). It raises ImproperlyConfigured listing every problem.

Outside production nothing here applies: the defaults are what make `make run` work.
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# The development defaults of settings.py that must never reach production. Kept beside the rule
# rather than imported from settings: a value that only settings.py knows could not be tested here.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
DEV_WECHAT_APPID = "wxdev0000000000000"
# The merchant number and APIv3 key of WeChat Pay's documentation samples, the dev defaults.
DEV_WECHATPAY_MCHID = "1900000109"
DEV_WECHATPAY_APIV3_KEY = "devapiv3key0000devapiv3key000032"
DEV_TEMPLATE_PREFIX = "dev-template-"
DEV_WECOM_CALLBACK_TOKEN = "devwecomtoken"
DEV_WECOM_CORP_ID = "wwdev0000000000000"
DEV_WECOM_CALLBACK_AES_KEY = "ZGV2d2Vjb21jYWxsYmFja2Flc2tleTAwMDAwMDAwMDA"
DEV_SITE_URL = "http://127.0.0.1:8000"
DEV_ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

# Settings that must be set (non-empty) in production; each is a secret or an identifier WeChat,
# WeChat Pay or WeCom issued to this business. What each one is: README "Running it for real".
REQUIRED = (
    "WECHAT_SECRET",
    "WECHATPAY_MERCHANT_CERT_SERIAL",
    "WECHATPAY_PUBLIC_KEY_ID",
    "WECOM_CORP_ID",
    "WECOM_SECRET",
    "WECOM_AGENT_ID",
)
KEY_FILES = ("WECHATPAY_MERCHANT_KEY_PATH", "WECHATPAY_PUBLIC_KEY_PATH")

SYSTEM_CHECK_ID = "seafood_b2b.E001"


class UnsafeProductionSettings(ImproperlyConfigured):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "ENVIRONMENT=production refuses to start:\n" + "\n".join(f"  - {p}" for p in problems)
            + "\n(README.md, 'Running it for real', lists every setting production requires.)"
        )


def _value(settings, name: str):
    return getattr(settings, name, None)


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def production_problems(settings) -> list[str]:
    """Every reason `settings` (django.conf.settings or any object with the same attributes) is
    unfit for production, in a fixed order; empty when it is fit or not in production."""
    if _value(settings, "ENVIRONMENT") != "production":
        return []
    problems = []
    backend = _value(settings, "WECHAT_BACKEND")
    if backend != "real":
        problems.append(
            f"WECHAT_BACKEND is {backend!r}: production needs WECHAT_BACKEND=real (the dev backend "
            "plays WeChat: anyone could confirm a payment or claim any phone through /wechat-dev/)"
        )
    if _value(settings, "DEBUG"):
        problems.append("DEBUG is on: unset DEBUG (or DEBUG=0)")
    secret_key = _value(settings, "SECRET_KEY")
    if _blank(secret_key) or secret_key == DEV_SECRET_KEY:
        problems.append("SECRET_KEY is the development default: set SECRET_KEY to a long random value")
    if _value(settings, "ALLOWED_HOSTS") in (None, [], DEV_ALLOWED_HOSTS):
        problems.append("ALLOWED_HOSTS is the development default: set the site's host names")
    site_url = _value(settings, "SITE_URL") or ""
    if site_url == DEV_SITE_URL or not site_url.startswith("https://"):
        problems.append(f"SITE_URL is {site_url!r}: set the public https address (printed on labels)")
    databases = _value(settings, "DATABASES") or {}
    if "postgresql" not in databases.get("default", {}).get("ENGINE", ""):
        problems.append("DATABASE_URL is not PostgreSQL: set DATABASE_URL=postgres://...")
    if _blank(_value(settings, "REDIS_URL")):
        problems.append("REDIS_URL is unset: production needs Redis (cache, sessions, Celery broker)")
    if _value(settings, "WECHAT_APPID") in (None, "", DEV_WECHAT_APPID):
        problems.append("WECHAT_APPID is the development default: set the mini program's AppID")
    if str(_value(settings, "WECHATPAY_MCHID") or "") in ("", DEV_WECHATPAY_MCHID):
        problems.append("WECHATPAY_MCHID is the development default: set the WeChat Pay merchant id")
    if _value(settings, "WECHATPAY_APIV3_KEY") in (None, "", DEV_WECHATPAY_APIV3_KEY):
        problems.append("WECHATPAY_APIV3_KEY is the development default: set the merchant's APIv3 key")
    if _value(settings, "WECOM_CALLBACK_TOKEN") in (None, "", DEV_WECOM_CALLBACK_TOKEN):
        problems.append("WECOM_CALLBACK_TOKEN is the development default: set the WeCom callback's Token")
    if _value(settings, "WECOM_CALLBACK_AES_KEY") in (None, "", DEV_WECOM_CALLBACK_AES_KEY):
        problems.append("WECOM_CALLBACK_AES_KEY is the development default: set the callback's EncodingAESKey")
    for name in REQUIRED:
        if _blank(_value(settings, name)):
            problems.append(f"{name} is unset")
        elif name == "WECOM_CORP_ID" and _value(settings, name) == DEV_WECOM_CORP_ID:
            problems.append(f"{name} is the development default: set the WeCom corp id")
    dev_key_dir = _value(settings, "WECHATPAY_DEV_KEY_DIR")
    for name in KEY_FILES:
        path = _value(settings, name)
        if _blank(path):
            problems.append(f"{name} is unset")
        elif not Path(str(path)).is_file():
            problems.append(f"{name} is {str(path)!r}, which is not a readable file")
        elif dev_key_dir and Path(str(path)).resolve().is_relative_to(Path(str(dev_key_dir)).resolve()):
            problems.append(f"{name} is a key the dev backend generated ({dev_key_dir}): set WeChat Pay's key file")
    templates = _value(settings, "WECHAT_SUBSCRIBE_TEMPLATES") or {}
    for name, template_id in sorted(templates.items()):
        if _blank(template_id) or str(template_id).startswith(DEV_TEMPLATE_PREFIX):
            problems.append(f"WECHAT_TEMPLATE_{name.upper()} is the development default: set the template id")
    return problems


def check_production_settings(app_configs=None, **kwargs):
    """System check: one error per problem, so `manage.py check` names each of them."""
    from django.conf import settings
    from django.core import checks

    return [
        checks.Error(problem, hint="README.md, 'Running it for real'", id=SYSTEM_CHECK_ID)
        for problem in production_problems(settings)
    ]


def refuse_unsafe_production() -> None:
    """Raise, naming every problem, if this process is about to serve production unsafely."""
    from django.conf import settings

    problems = production_problems(settings)
    if problems:
        raise UnsafeProductionSettings(problems)
