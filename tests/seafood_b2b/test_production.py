"""ENVIRONMENT=production fails closed: the rule (seafood_b2b/production.py) and the processes
that enforce it (manage.py's system checks, the WSGI module, the Celery worker and beat)."""

import os
import subprocess
import sys
import weakref
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings as django_settings

from seafood_b2b import production
from seafood_b2b.celery import _refuse_unsafe_production
from seafood_b2b.production import UnsafeProductionSettings, production_problems, refuse_unsafe_production

BASE_DIR = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(django_settings.WECHAT_SUBSCRIBE_TEMPLATES)  # every subscribe message's template


def _key_files(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    merchant = directory / "apiclient_key.pem"
    merchant.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    public = directory / "pub_key.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return merchant, public


def real_looking_env(directory: Path) -> dict[str, str]:
    """What an operator sets for production (README "Running it for real")."""
    merchant, public = _key_files(directory)
    return {
        "ENVIRONMENT": "production",
        "SECRET_KEY": "k3J9vQ2xP8mZ7rT4wY1uE6oI0aS5dF3gH9jK2lL8zX4cV7bN1mQ",
        "ALLOWED_HOSTS": "shop.example.cn",
        "SITE_URL": "https://shop.example.cn",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
        "DATABASE_URL": "postgres://seafood@db.internal:5432/seafood",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "WECHAT_BACKEND": "real",
        "WECHAT_APPID": "wx8f3a2b1c4d5e6f70",
        "WECHAT_SECRET": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "WECHATPAY_MCHID": "1612345678",
        "WECHATPAY_APIV3_KEY": "Q2w3E4r5T6y7U8i9O0p1A2s3D4f5G6h7",
        "WECHATPAY_MERCHANT_KEY_PATH": str(merchant),
        "WECHATPAY_MERCHANT_CERT_SERIAL": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "WECHATPAY_PUBLIC_KEY_PATH": str(public),
        "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0116123456782025010100000000",
        "WECOM_CORP_ID": "ww1a2b3c4d5e6f7a8b",
        "WECOM_SECRET": "wecom-app-secret-0123456789",
        "WECOM_AGENT_ID": "1000002",
        "WECOM_CALLBACK_TOKEN": "cbToken7Kq2",
        "WECOM_CALLBACK_AES_KEY": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ",
        **{f"WECHAT_TEMPLATE_{name.upper()}": f"tmpl-{name}-real" for name in TEMPLATES},
    }


def _settings_from(env: dict[str, str], **overrides) -> SimpleNamespace:
    """The attributes production_problems reads, as settings.py derives them from `env`."""
    values = dict(
        ENVIRONMENT=env["ENVIRONMENT"], DEBUG=False, SECRET_KEY=env["SECRET_KEY"],
        ALLOWED_HOSTS=env["ALLOWED_HOSTS"].split(","), SITE_URL=env["SITE_URL"],
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql"}}, REDIS_URL=env["REDIS_URL"],
        WECHAT_BACKEND=env["WECHAT_BACKEND"], WECHAT_APPID=env["WECHAT_APPID"], WECHAT_SECRET=env["WECHAT_SECRET"],
        WECHATPAY_MCHID=env["WECHATPAY_MCHID"], WECHATPAY_APIV3_KEY=env["WECHATPAY_APIV3_KEY"],
        WECHATPAY_MERCHANT_KEY_PATH=env["WECHATPAY_MERCHANT_KEY_PATH"],
        WECHATPAY_MERCHANT_CERT_SERIAL=env["WECHATPAY_MERCHANT_CERT_SERIAL"],
        WECHATPAY_PUBLIC_KEY_PATH=env["WECHATPAY_PUBLIC_KEY_PATH"], WECHATPAY_PUBLIC_KEY_ID=env["WECHATPAY_PUBLIC_KEY_ID"],
        WECOM_CORP_ID=env["WECOM_CORP_ID"], WECOM_SECRET=env["WECOM_SECRET"], WECOM_AGENT_ID=int(env["WECOM_AGENT_ID"]),
        WECOM_CALLBACK_TOKEN=env["WECOM_CALLBACK_TOKEN"], WECOM_CALLBACK_AES_KEY=env["WECOM_CALLBACK_AES_KEY"],
        WECHAT_SUBSCRIBE_TEMPLATES={name: env[f"WECHAT_TEMPLATE_{name.upper()}"] for name in TEMPLATES},
    )
    values.update(overrides)
    return SimpleNamespace(**values)


def _run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    # A clean environment: only what the test gives, never the test run's own settings module.
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "SYSTEMROOT") if key in os.environ}
    # The guard is for a process that must not hang: if it failed to stop one, this ends the test.
    return subprocess.run(args, cwd=BASE_DIR, env={**base, **env}, capture_output=True, text=True, timeout=timeout)


# -- the rule ------------------------------------------------------------------------------------

def test_real_looking_settings_have_no_problem(tmp_path):
    assert production_problems(_settings_from(real_looking_env(tmp_path))) == []


def test_outside_production_the_development_defaults_are_fine():
    # The test run itself: ENVIRONMENT unset, the dev backend, the dev keys.
    assert django_settings.ENVIRONMENT == "development"
    assert django_settings.WECHAT_BACKEND == "dev"
    assert production_problems(django_settings) == []


def test_every_development_default_is_named_at_once():
    """The development defaults of settings.py, read as production: one problem per setting."""
    dev = SimpleNamespace(**{name: getattr(django_settings, name) for name in dir(django_settings) if name.isupper()})
    dev.ENVIRONMENT = "production"
    dev.DEBUG = True
    dev.DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3"}}
    dev.REDIS_URL = ""
    dev.SECRET_KEY = production.DEV_SECRET_KEY
    dev.ALLOWED_HOSTS = list(production.DEV_ALLOWED_HOSTS)
    dev.SITE_URL = production.DEV_SITE_URL
    dev.WECHAT_SECRET = dev.WECHATPAY_MERCHANT_KEY_PATH = dev.WECHATPAY_PUBLIC_KEY_PATH = ""
    dev.WECHATPAY_MERCHANT_CERT_SERIAL = dev.WECHATPAY_PUBLIC_KEY_ID = dev.WECOM_CORP_ID = dev.WECOM_SECRET = ""
    dev.WECOM_AGENT_ID = None

    problems = production_problems(dev)

    named = ["WECHAT_BACKEND", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL", "DATABASE_URL", "REDIS_URL",
             "WECHAT_APPID", "WECHATPAY_MCHID", "WECHATPAY_APIV3_KEY", "WECOM_CALLBACK_TOKEN",
             "WECOM_CALLBACK_AES_KEY", "WECHAT_SECRET", "WECHATPAY_MERCHANT_CERT_SERIAL", "WECHATPAY_PUBLIC_KEY_ID",
             "WECOM_CORP_ID", "WECOM_SECRET",
             "WECOM_AGENT_ID", "WECHATPAY_MERCHANT_KEY_PATH", "WECHATPAY_PUBLIC_KEY_PATH",
             *[f"WECHAT_TEMPLATE_{name.upper()}" for name in TEMPLATES]]
    assert len(TEMPLATES) >= 4
    assert [p.split(" ", 1)[0] for p in problems] == named
    assert problems[0] == (
        "WECHAT_BACKEND is 'dev': production needs WECHAT_BACKEND=real (the dev backend plays WeChat: "
        "anyone could confirm a payment or claim any phone through /wechat-dev/)"
    )


@pytest.mark.parametrize(
    "override, named",
    [
        ({"WECHAT_BACKEND": "dev"}, "WECHAT_BACKEND is 'dev'"),
        ({"WECHAT_BACKEND": None}, "WECHAT_BACKEND is None"),
        ({"WECHAT_BACKEND": "Real"}, "WECHAT_BACKEND is 'Real'"),
        ({"DEBUG": True}, "DEBUG is on"),
        ({"SECRET_KEY": production.DEV_SECRET_KEY}, "SECRET_KEY is the development default"),
        ({"SECRET_KEY": " "}, "SECRET_KEY is the development default"),
        ({"ALLOWED_HOSTS": list(production.DEV_ALLOWED_HOSTS)}, "ALLOWED_HOSTS is the development default"),
        ({"ALLOWED_HOSTS": []}, "ALLOWED_HOSTS is the development default"),
        ({"SITE_URL": production.DEV_SITE_URL}, "SITE_URL is 'http://127.0.0.1:8000'"),
        ({"SITE_URL": "http://shop.example.cn"}, "SITE_URL is 'http://shop.example.cn'"),
        ({"DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3"}}}, "DATABASE_URL is not PostgreSQL"),
        ({"REDIS_URL": ""}, "REDIS_URL is unset"),
        ({"WECHAT_APPID": production.DEV_WECHAT_APPID}, "WECHAT_APPID is the development default"),
        ({"WECHATPAY_MCHID": production.DEV_WECHATPAY_MCHID}, "WECHATPAY_MCHID is the development default"),
        ({"WECHATPAY_APIV3_KEY": production.DEV_WECHATPAY_APIV3_KEY}, "WECHATPAY_APIV3_KEY is the development default"),
        ({"WECOM_CALLBACK_TOKEN": production.DEV_WECOM_CALLBACK_TOKEN}, "WECOM_CALLBACK_TOKEN is the development default"),
        ({"WECOM_CALLBACK_AES_KEY": production.DEV_WECOM_CALLBACK_AES_KEY},
         "WECOM_CALLBACK_AES_KEY is the development default"),
        ({"WECHAT_SECRET": ""}, "WECHAT_SECRET is unset"),
        ({"WECHATPAY_MERCHANT_CERT_SERIAL": ""}, "WECHATPAY_MERCHANT_CERT_SERIAL is unset"),
        ({"WECHATPAY_PUBLIC_KEY_ID": ""}, "WECHATPAY_PUBLIC_KEY_ID is unset"),
        ({"WECOM_CORP_ID": ""}, "WECOM_CORP_ID is unset"),
        ({"WECOM_SECRET": ""}, "WECOM_SECRET is unset"),
        ({"WECOM_AGENT_ID": None}, "WECOM_AGENT_ID is unset"),
        ({"WECHATPAY_MERCHANT_KEY_PATH": ""}, "WECHATPAY_MERCHANT_KEY_PATH is unset"),
        ({"WECHATPAY_PUBLIC_KEY_PATH": "/nowhere/pub_key.pem"},
         "WECHATPAY_PUBLIC_KEY_PATH is '/nowhere/pub_key.pem', which is not a readable file"),
        ({"WECHATPAY_DEV_KEY_DIR": "{keys}"}, "WECHATPAY_MERCHANT_KEY_PATH is a key the dev backend generated"),
        ({"WECHAT_SUBSCRIBE_TEMPLATES": {"order_paid": "dev-template-order_paid"}},
         "WECHAT_TEMPLATE_ORDER_PAID is the development default"),
    ],
)
def test_each_problem_alone_is_named(tmp_path, override, named):
    keys = tmp_path / "keys"
    keys.mkdir()
    env = real_looking_env(keys)
    env["WECHATPAY_PUBLIC_KEY_PATH"] = str(tmp_path / "pub_key.pem")  # outside `keys`
    Path(env["WECHATPAY_PUBLIC_KEY_PATH"]).write_bytes(Path(keys / "pub_key.pem").read_bytes())
    override = {name: str(keys) if value == "{keys}" else value for name, value in override.items()}

    problems = production_problems(_settings_from(env, **override))

    assert len(problems) == 1
    assert problems[0].startswith(named)


def test_the_refusal_names_every_problem(settings):
    settings.ENVIRONMENT = "production"
    settings.DEBUG = True

    with pytest.raises(UnsafeProductionSettings) as refused:
        refuse_unsafe_production()

    message = str(refused.value)
    assert refused.value.problems == production_problems(settings)
    assert all(problem in message for problem in refused.value.problems)
    assert "WECHAT_BACKEND is 'dev'" in message and "DEBUG is on" in message


def test_celery_worker_and_beat_refuse_at_start(settings):
    from celery import signals

    def receivers(signal):
        return [ref() if isinstance(ref, weakref.ReferenceType) else ref for _, ref in signal.receivers]

    assert _refuse_unsafe_production in receivers(signals.worker_init)
    assert _refuse_unsafe_production in receivers(signals.beat_init)

    _refuse_unsafe_production()  # development: nothing to refuse
    settings.ENVIRONMENT = "production"
    # SystemExit, not an Exception: Celery swallows what a signal handler raises, but not this.
    with pytest.raises(SystemExit) as refused:
        _refuse_unsafe_production()
    assert "WECHAT_BACKEND is 'dev'" in str(refused.value.code)


# -- the processes -------------------------------------------------------------------------------

def test_manage_py_check_refuses_the_dev_backend_in_production():
    result = _run([sys.executable, "manage.py", "check"], {"ENVIRONMENT": "production", "SECRET_KEY": "x"})

    assert result.returncode != 0
    assert "(seafood_b2b.E001) WECHAT_BACKEND is 'dev': production needs WECHAT_BACKEND=real" in result.stderr
    assert "(seafood_b2b.E001) WECHATPAY_APIV3_KEY is the development default" in result.stderr
    assert "SECRET_KEY" not in result.stderr  # "x" is not the default: only the defaults are named
    assert f"System check identified {18 + len(TEMPLATES)} issues" in result.stderr


def test_manage_py_check_deploy_is_clean_with_real_looking_settings(tmp_path):
    result = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                  real_looking_env(tmp_path))

    assert result.returncode == 0, result.stderr
    # The one silenced check is axes.W006 (lockout by username without the address), for the
    # reason written beside it in settings.py.
    assert result.stdout.strip() == "System check identified no issues (1 silenced)."
    assert result.stderr == ""


def test_the_web_process_refuses_to_start(tmp_path):
    result = _run([sys.executable, "-c", "import seafood_b2b.wsgi"], {"ENVIRONMENT": "production", "SECRET_KEY": "x"})

    assert result.returncode != 0
    assert "UnsafeProductionSettings: ENVIRONMENT=production refuses to start:" in result.stderr
    assert "WECHAT_BACKEND is 'dev'" in result.stderr

    started = _run([sys.executable, "-c", "import seafood_b2b.wsgi, seafood_b2b.asgi; print('serving')"],
                   real_looking_env(tmp_path))
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "serving"


def test_the_celery_worker_refuses_to_start():
    result = _run([sys.executable, "-m", "celery", "-A", "seafood_b2b", "worker", "--pool=solo", "--without-mingle",
                   "--without-gossip", "-l", "warning"], {"ENVIRONMENT": "production", "SECRET_KEY": "x"})

    assert result.returncode == 1
    assert "ENVIRONMENT=production refuses to start:" in result.stderr
    assert "WECHAT_BACKEND is 'dev'" in result.stderr


def test_production_turns_on_https_behind_the_proxy(tmp_path):
    probe = (
        "import django; django.setup()\n"
        "from django.conf import settings as s\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "print(s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE)\n"
        "plain = c.get('/shop/', HTTP_HOST='shop.example.cn')\n"
        "print(plain.status_code, plain.headers['Location'])\n"
        "secure = c.get('/api/v1/nowhere', HTTP_HOST='shop.example.cn', HTTP_X_FORWARDED_PROTO='https')\n"
        "print(secure.status_code, secure.headers['Strict-Transport-Security'])\n"
        "print(s.SECURE_REDIRECT_EXEMPT)\n"
    )
    result = _run([sys.executable, "-c", probe],
                  {**real_looking_env(tmp_path), "DJANGO_SETTINGS_MODULE": "seafood_b2b.settings"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "('HTTP_X_FORWARDED_PROTO', 'https') True 31536000 True True",
        "301 https://shop.example.cn/shop/",
        "404 max-age=31536000; includeSubDomains; preload",
        "['^healthz$', '^readyz$']",
    ]
