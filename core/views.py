from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """One trivial query: the baseline every benchmark compares against."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (value,) = cursor.fetchone()
    return JsonResponse({"ok": value == 1})
