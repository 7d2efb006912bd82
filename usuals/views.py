from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@ensure_csrf_cookie
def usuals(request):
    """我的常购: a shell; the list, marks and adding go through /api/v1/usuals."""
    return render(request, "shop/usuals.html", {})
