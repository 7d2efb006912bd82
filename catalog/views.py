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


# Shenzhen's districts, for the checkout's district picker (what the warehouse delivers to).
SHENZHEN_DISTRICTS = ["福田区", "罗湖区", "南山区", "盐田区", "宝安区", "龙岗区", "龙华区", "坪山区", "光明区", "大鹏新区"]


@ensure_csrf_cookie
def checkout(request):
    # The phone sheet's dev stand-in and the pay sheet post to /wechat-dev/ with the CSRF token.
    return render(request, "shop/checkout.html", {"districts": SHENZHEN_DISTRICTS})


@ensure_csrf_cookie
def orders(request):
    return render(request, "shop/orders.html", {})


@ensure_csrf_cookie
def order_detail(request, order_id):
    # Only a shell: the API decides whether this visitor may see the order.
    return render(request, "shop/order.html", {"order_id": order_id})
