"""The rep assistant's pages (shells over /api/v1/rep/…) and the rep's printable code.

The home page is one shell for every rep, rendered once per process: who the rep is and all it
shows come from the API (/api/v1/rep/me, summary, customers, inbox, the feed poll). The other
pages render only the rep's own name and code (the customer page reads that customer's status);
everything else (customers, orders, the nearby list, visit notes) is read and written through the
JSON API, so a page costs a fixed handful of queries however many customers the rep has.
"""

import functools
import hashlib
import uuid
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.http import parse_etags
from django.views.decorators.csrf import ensure_csrf_cookie

from core.errors import ApplicationError
from core.errors import PermissionDenied as NotARep

from . import selectors
from .models import Scene
from .codes import rep_code_png, rep_contact_way_ensure
from .qr import SHARE_SCENE, rep_entry_path, rep_link_png

DEFAULT_COMPANY_NAME = "海鲜批发订货"
FEED_POLL_SECONDS = 3
NEARBY_RADIUS_CHOICES = [1, 3, 5, 10]  # km: a street, a neighbourhood, a district, a morning's drive
NEARBY_DEFAULT_RADIUS = 3


def company_name() -> str:
    return getattr(settings, "COMPANY_NAME", "") or DEFAULT_COMPANY_NAME


def _active_rep(user):
    try:
        return selectors.rep_for_user(user)
    except NotARep:
        return None


class RepAuthenticationForm(AuthenticationForm):
    """Only an active rep gets in: a clerk's or a driver's account is told so at the door."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "账号或密码不正确",
        "not_a_rep": "此账号不是在职业务员，无法登录业务员助手",
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if _active_rep(user) is None:
            raise forms.ValidationError(self.error_messages["not_a_rep"], code="not_a_rep")


class RepLoginView(LoginView):
    template_name = "rep/login.html"
    authentication_form = RepAuthenticationForm
    next_page = "rep:assistant"

    def dispatch(self, request, *args, **kwargs):
        # A rep already signed in goes straight to the assistant; anyone else (an admin on the
        # same browser) sees the form, so they can switch to a rep's account.
        self.redirect_authenticated_user = _active_rep(request.user) is not None
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "company_name": company_name()}


def _forbidden(request):
    return render(request, "rep/forbidden.html", {"company_name": company_name()}, status=403)


def rep_required(view):
    """Signed in (else to the rep login) and an active rep (else a 403 page with a way out)."""

    @login_required(login_url="rep:login")
    def wrapped(request, *args, **kwargs):
        rep = _active_rep(request.user)
        if rep is None:
            return _forbidden(request)
        return view(request, rep, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


# A returning phone reuses the shell this long, then revalidates it with its ETag (a 304).
ASSISTANT_SHELL_MAX_AGE = 300


@dataclass(frozen=True)
class Shell:
    content: bytes
    etag: str


@functools.cache
def assistant_shell() -> Shell:
    """The assistant's home page, the same bytes for every rep: rendered once per process (the
    static files' URLs resolved then), with nothing that depends on the visitor."""
    content = render_to_string("rep/assistant.html", {
        "company_name": company_name(), "poll_seconds": FEED_POLL_SECONDS, "scene_choices": Scene.CHOICES,
    }).encode()
    return Shell(content=content, etag=f'"{hashlib.sha256(content).hexdigest()[:32]}"')


@receiver(setting_changed)
def _forget_the_shell(*, setting, **kwargs):
    if setting in {"COMPANY_NAME", "STATIC_URL", "STORAGES", "TEMPLATES", "INSTALLED_APPS"}:
        assistant_shell.cache_clear()


def assistant(request):
    """The assistant's home: a shell, identical for everyone, with no session, user, database or
    cache work. Who the rep is and everything on the page (name, code, share link, figures,
    customers, the feed's token) comes from /api/v1/rep/…; an API's 401/403 sends the browser to
    the rep login (static/js/rep.js)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    shell = assistant_shell()
    if_none_match = request.META.get("HTTP_IF_NONE_MATCH")
    if if_none_match and (if_none_match.strip() == "*" or shell.etag in parse_etags(if_none_match)):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(shell.content)
    response["ETag"] = shell.etag
    response["Cache-Control"] = f"private, max-age={ASSISTANT_SHELL_MAX_AGE}"
    return response


@ensure_csrf_cookie
@rep_required
def customer_page(request, rep, customer_id: int):
    # One cheap query up front, so another rep's customer is a plain 404 rather than an empty
    # shell; it also gives the churn status the page shows beside the name.
    status = selectors.rep_customers(rep=rep).filter(pk=customer_id).values_list("status", flat=True).first()
    if status is None:
        return render(request, "rep/not_found.html", {"company_name": company_name()}, status=404)
    # A churn alert links here with ?order=<the last order's id>; the page marks that order.
    try:
        highlight = str(uuid.UUID(request.GET.get("order", "")))
    except ValueError:
        highlight = ""
    return render(request, "rep/customer.html", {
        "rep": rep, "customer_id": customer_id, "company_name": company_name(), "customer_status": status,
        "highlight_order": highlight,
    })


@ensure_csrf_cookie
@rep_required
def nearby(request, rep):
    """Churned and at-risk customers nearest first. The list comes from /api/v1/rep/nearby with
    the phone's position; the map is there only when tiles are configured (settings.MAP_TILE_URL)."""
    map_config = None
    if settings.MAP_TILE_URL:
        map_config = {"tileUrl": settings.MAP_TILE_URL, "attribution": settings.MAP_TILE_ATTRIBUTION}
    return render(request, "rep/nearby.html", {
        "rep": rep, "company_name": company_name(), "radius_choices": NEARBY_RADIUS_CHOICES,
        "default_radius": NEARBY_DEFAULT_RADIUS, "map_config": map_config,
    })


def code_png_response(rep, request) -> HttpResponse:
    """The rep's code as a PNG (reps.codes); WeChat's refusal as a short Chinese text, never a 500."""
    try:
        png = rep_code_png(rep, base_url=request.build_absolute_uri("/"))
    except ApplicationError as error:
        return HttpResponse(f"小程序码暂时无法生成：{error.message}", status=error.status_code if
                            400 <= error.status_code < 600 else 502, content_type="text/plain; charset=utf-8")
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@rep_required
def qr_png(request, rep):
    return code_png_response(rep, request)


@rep_required
def contact_qr(request, rep):
    """The rep's WeCom contact-me code: WeCom's image (real) or a QR of the dev WeCom's add page."""
    if not rep.wecom_qr_code:
        return HttpResponse("尚未生成企业微信联系我二维码", status=404, content_type="text/plain; charset=utf-8")
    if settings.WECHAT_BACKEND == "real":
        return redirect(rep.wecom_qr_code)
    response = HttpResponse(rep_link_png(rep.wecom_qr_code), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@rep_required
def card(request, rep):
    code_error = contact_error = ""
    if settings.WECHAT_BACKEND == "real":
        try:
            rep_code_png(rep, base_url=request.build_absolute_uri("/"))  # made (and stored) now, served by qr_png
        except ApplicationError as error:
            code_error = error.message
    try:
        rep_contact_way_ensure(rep)
    except ApplicationError as error:
        contact_error = error.message
    return render(request, "rep/card.html", {
        "rep": rep,
        "company_name": company_name(),
        "entry_url": request.build_absolute_uri(rep_entry_path(rep)),
        "share_url": request.build_absolute_uri(rep_entry_path(rep, launch_scene=SHARE_SCENE)),
        "code_error": code_error,
        "contact_error": contact_error,
        "code_is_wxacode": settings.WECHAT_BACKEND == "real",
    })
