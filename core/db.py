"""Small database helpers every app may need."""

from django.db import IntegrityError


def violated_constraint(error: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError broke, as PostgreSQL reports it (None elsewhere).

    Catch a race by the constraint's name, never by the message's wording: the name is ours and
    stable; the text belongs to the server, its version and its locale.
    """
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)
