"""Staff logins lock out after repeated failures (django-axes; settings in one block of
seafood_b2b/settings.py): the page a locked-out login gets, and clearing a lock.

Every staff login goes through django.contrib.auth's authenticate() with the request (the admin,
/rep/login/, /ops/login/), so axes' backend and middleware see them all: no login path counts
its own failures.
"""

from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.shortcuts import render

LOCKED_MESSAGE = "登录失败次数过多，账号已被锁定"


def lockout_minutes() -> int | None:
    """How long a lock lasts, in minutes; None: until an admin clears it."""
    cool_off = settings.AXES_COOLOFF_TIME
    return int(cool_off.total_seconds() // 60) if cool_off else None


def lockout_response(request, original_response=None, credentials=None):
    """What axes answers instead of the login page once the account is locked (429)."""
    return render(request, "login_locked.html", {
        "message": LOCKED_MESSAGE, "failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": lockout_minutes(),
        "login_url": request.path,
    }, status=settings.AXES_HTTP_RESPONSE_CODE)


def login_locks_clear(*, usernames: list[str]) -> int:
    """Forget the failed logins of these usernames, so their right password works again at once.
    Returns how many usernames were cleared."""
    cleared = 0
    for username in sorted(set(usernames)):
        if reset(username=username):
            cleared += 1
    return cleared


def locked_usernames() -> list[str]:
    return sorted(set(
        AccessAttempt.objects.filter(failures_since_start__gte=settings.AXES_FAILURE_LIMIT)
        .values_list("username", flat=True)
    ))
