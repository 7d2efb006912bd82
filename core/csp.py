"""The Content-Security-Policy header (django-csp), with 'unsafe-eval' only where Alpine.js runs.

The standard Alpine.js build evaluates every x-data / @click / x-text expression with
`new Function(...)`, which a policy without 'unsafe-eval' blocks (the page renders but nothing
reacts). Alpine's CSP build (@alpinejs/csp) avoids that, but only accepts expressions that name a
registered component property, which the mini-site's, rep's and ops pages' templates are not
written for. So 'unsafe-eval' is granted to those pages only; the admin, the API docs, the trace
page and everything else keep script-src without it. No page anywhere may run an inline script
without the request's nonce.

The map tiles of the rep's nearby map come from MAP_TILE_URL's host, read on each response so
that changing the setting needs nothing else.
"""

from urllib.parse import urlsplit

from csp.constants import UNSAFE_EVAL
from csp.middleware import CSPMiddleware
from django.conf import settings

# The pages that load alpinejs/cdn.min.js: base_mobile.html (/shop/), rep/base.html, ops/base.html.
ALPINE_URL_PREFIXES = ("/shop/", "/rep/", "/ops/")


def tile_source(tile_url: str) -> str | None:
    """The CSP source that admits MAP_TILE_URL's images; a Leaflet `{s}` in the host becomes a
    wildcard first label (webrd0{s}.is.autonavi.com → *.is.autonavi.com)."""
    parts = urlsplit(tile_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc
    if "{" in host:
        host = "*." + host.split(".", 1)[1] if "." in host else None
    return f"{parts.scheme}://{host}" if host else None


class SeafoodCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        update = dict(parts.update or {})
        if request.path_info.startswith(ALPINE_URL_PREFIXES):
            update["script-src"] = [*update.get("script-src", []), UNSAFE_EVAL]
        tiles = tile_source(settings.MAP_TILE_URL) if settings.MAP_TILE_URL else None
        if tiles:
            update["img-src"] = [*update.get("img-src", []), tiles]
        parts.update = update or None
        return parts
