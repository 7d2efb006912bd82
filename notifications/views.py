from django.shortcuts import render


def messages_page(request):
    """消息: a shell; the list comes from /api/v1/messages (the visitor's own)."""
    return render(request, "shop/messages.html", {})
