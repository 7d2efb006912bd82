from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@ensure_csrf_cookie
def coupons(request):
    """我的优惠券: a shell; the wallet comes from /api/v1/coupons."""
    return render(request, "shop/coupons.html", {})
