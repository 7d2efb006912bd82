"""Ending a user's sessions at once (a suspended driver, for instance).

Django keeps no index from a user to their sessions: the live ones are read and decoded (staff
only have sessions; customers use visitor tokens, so there are few), and each of the user's is
deleted through its own SessionStore, which with `cached_db` clears the cached copy too.
"""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.utils import timezone


def user_sessions_end(*, user_id: int) -> int:
    """Delete every live session of this user; returns how many there were."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    decoder = Session.get_session_store_class()()
    ended = 0
    for key, data in Session.objects.filter(expire_date__gt=timezone.now()).values_list(
            "session_key", "session_data").iterator(chunk_size=2000):
        if str(decoder.decode(data).get(SESSION_KEY)) == str(user_id):
            store(session_key=key).delete()
            ended += 1
    return ended
