"""The tracked link a campaign's customer opens: `/go/<token>`."""

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .services import link_open

FALLBACK = "/shop/"


@never_cache
@require_GET
def campaign_link(request, token: str):
    """Record the open, then go to the campaign's page of this site. A forged, cut or unknown
    token records nothing and shows a Chinese page with a way into the shop (400); the target is
    only ever a path of this site (rules.link_problem, checked again here)."""
    target = link_open(token=token)
    if target is None:
        return render(request, "campaigns/link_invalid.html", status=400)
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = FALLBACK
    return HttpResponseRedirect(target)
