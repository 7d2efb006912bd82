"""The rep assistant's pages (shells over /api/v1/rep/…) and the rep's printable code."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render

from core.errors import PermissionDenied as NotARep

from . import selectors
from .qr import SHARE_SCENE, rep_entry_path, rep_qr_png


class RepLoginView(LoginView):
    template_name = "rep/login.html"
    redirect_authenticated_user = True


def _rep_or_403(request):
    try:
        return selectors.rep_for_user(request.user)
    except NotARep:
        raise PermissionDenied("仅限在职业务员使用")


@login_required(login_url="rep:login")
def assistant(request):
    rep = _rep_or_403(request)
    return render(request, "rep/assistant.html", {"rep": rep})


@login_required(login_url="rep:login")
def customer_page(request, customer_id: int):
    rep = _rep_or_403(request)
    return render(request, "rep/customer.html", {"rep": rep, "customer_id": customer_id})


@login_required(login_url="rep:login")
def qr_png(request):
    rep = _rep_or_403(request)
    response = HttpResponse(rep_qr_png(rep, base_url=request.build_absolute_uri("/")), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required(login_url="rep:login")
def card(request):
    rep = _rep_or_403(request)
    return render(request, "rep/card.html", {
        "rep": rep,
        "entry_url": request.build_absolute_uri(rep_entry_path(rep)),
        "share_url": request.build_absolute_uri(rep_entry_path(rep, launch_scene=SHARE_SCENE)),
    })
