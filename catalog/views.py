"""The mini-site's pages. They are shells: data and every cart change go through /api/v1/.

`ensure_csrf_cookie` gives the page the token that the dev `wx.login` (a plain Django POST) needs.
"""

from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@ensure_csrf_cookie
def shop(request):
    # 首页 and 分类 are the same category browser; the tab only decides which one is lit.
    active_tab = "category" if request.GET.get("tab") == "category" else "home"
    return render(request, "shop/shop.html", {"active_tab": active_tab})


@ensure_csrf_cookie
def product_detail(request, code: str):
    return render(request, "shop/product.html", {"code": code})


@ensure_csrf_cookie
def cart(request):
    return render(request, "shop/cart.html", {})
