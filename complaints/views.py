from django.shortcuts import render


# Shells only: the API decides what this visitor may see and file.
def complaint_list(request):
    return render(request, "shop/complaints.html", {})


def complaint_new(request):
    return render(request, "shop/complaint_new.html", {"order_id": request.GET.get("order", "")[:36]})


def complaint_detail(request, complaint_id):
    return render(request, "shop/complaint.html", {"complaint_id": complaint_id})
