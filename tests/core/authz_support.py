"""The machinery of the authorisation table (test_authorisation.py): outcomes, rows, finding
every URL and API operation, and judging a response."""

import functools
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.views import APIView

from .authz_world import ANON, ROLES, SECRETS, VISITOR_ROLES

OK, REDIRECT, LOGIN, FORM, BAD = "ok", "redirect", "login", "form", "bad"
U401, F403, N404 = "401", "403", "404"
ALLOWED = {OK, REDIRECT}
LOGIN_PATHS = {"/admin/login/", "/rep/login/", "/ops/login/"}
V = VISITOR_ROLES
NOT_SIGNED_IN = (ANON, *V)  # no session: a staff page sends them to its login


def E(default, overrides=None) -> dict:
    """{role: outcome} for every role: `default`, except `overrides` ({role or tuple of roles: outcome})."""
    outcome = dict.fromkeys(ROLES, default)
    for roles, value in (overrides or {}).items():
        for role in (roles,) if isinstance(roles, str) else roles:
            outcome[role] = value
    return outcome


@dataclass
class Row:
    expect: dict
    kwargs: object = None        # world → URL kwargs
    query: str = ""
    body: object = None          # (world, role) → form/JSON data
    json: bool = False
    headers: object = None       # (world, role) → extra headers
    login: bool = False          # a login form: the role posts its own credentials, from no session
    optional: bool = False       # the URL exists only in some configurations (the dev WeChat backend)
    extra: dict = field(default_factory=dict)


# --- Discovery: the resolver and the schema --------------------------------------------------

def walk_urls(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk_urls(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            yield (f"{namespace}{pattern.name}" if pattern.name else route), route, pattern.callback


@functools.cache
def discovered_routes() -> dict:
    """{key: (route, callback)} for every URL: its name, or its pattern when it has none."""
    routes = {}
    for key, route, callback in walk_urls(get_resolver().url_patterns):
        if route.startswith(settings.STATIC_URL.lstrip("/")):  # static files, under DEBUG only
            continue
        routes.setdefault(key, (route, callback))
    return routes


def drf_methods(callback) -> set:
    view = getattr(callback, "cls", None)
    if view is None or not issubclass(view, APIView):
        return set()
    return {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)}


def schema_operations() -> set:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(method.upper(), path) for path, item in schema["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")}


def openapi_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def rows_written() -> int:
    """Rows inserted, updated or deleted so far in this transaction (rolled-back savepoints
    included): a refused request must not move it. Sessions and login-attempt logs aside."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables"
                       " WHERE relname <> 'django_session' AND relname NOT LIKE 'axes%%'")
        return cursor.fetchone()[0]


def url_for(key, row, world) -> str:
    kwargs = row.kwargs(world) if row.kwargs else {}
    if "path" in row.extra:
        return row.extra["path"]
    if "/" in key or key == "":  # an unnamed pattern: fill its parameters in
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs[m.group(1)]), key)
    url = reverse(key, kwargs=kwargs or None)
    return f"{url}?{row.query}" if row.query else url


def classify(response, row) -> str:
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        return LOGIN if urlsplit(response["Location"]).path in LOGIN_PATHS else REDIRECT
    if 200 <= status < 300 or status == 304:
        return FORM if row.login else OK
    return {401: U401, 403: F403, 404: N404}.get(status, BAD if 400 <= status < 500 else str(status))


def response_text(response) -> str:
    kind = response.get("Content-Type", "")
    if not (kind.startswith("text/") or "json" in kind or "javascript" in kind):
        return ""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode("utf-8", errors="replace")


def leaks(text: str, role: str) -> list:
    return [secret for secret, entitled in SECRETS.items()
            if role not in entitled and (secret in text or json.dumps(secret)[1:-1] in text)]
