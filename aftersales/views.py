from django.shortcuts import render


def aftersales_new(request, order_id):
    # Only a shell: the API decides whether this visitor may claim on the order.
    return render(request, "shop/aftersales_new.html", {"order_id": order_id})


def aftersales_detail(request, request_id):
    return render(request, "shop/aftersales.html", {"request_id": request_id})


def aftersales_list(request):
    """我的售后: a shell; the list comes from /api/v1/aftersales."""
    return render(request, "shop/aftersales_list.html", {})
