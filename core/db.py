"""Small database helpers every app may need."""

import select

from django.db import IntegrityError


def violated_constraint(error: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError broke, as PostgreSQL reports it (None elsewhere).

    Catch a race by the constraint's name, never by the message's wording: the name is ours and
    stable; the text belongs to the server, its version and its locale.
    """
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def drop_dead_connections(**_) -> None:
    """Close each idle PostgreSQL connection the server has already hung up on.

    Connections persist between requests (CONN_MAX_AGE). When PostgreSQL restarts, fails over or
    terminates a backend, the client only learns it on the next query, which then fails: the first
    request after a restart would answer an error on every stale connection. The server announces
    the end (a FATAL message, then end of file) on the socket, so an idle connection whose socket is
    readable is dead: one non-blocking poll of the socket, no round trip (Django's
    CONN_HEALTH_CHECKS costs a SELECT 1 per request). Closing it lets Django open a fresh one on
    the next query. Connected to the start of each request and each Celery task (core/apps.py).
    """
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        raw = conn.connection
        if raw is None or conn.vendor != "postgresql" or conn.in_atomic_block:
            continue
        try:
            hung_up = bool(raw.closed) or bool(select.select([raw.fileno()], [], [], 0)[0])
        except (OSError, ValueError):
            hung_up = True
        if hung_up:
            conn.close()
