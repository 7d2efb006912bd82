"""The token a mini program keeps after login: a signed visitor id, never the session_key."""

from django.conf import settings
from django.core import signing

SALT = "customers.visitor-token"


def visitor_token_make(visitor_id: int) -> str:
    return signing.TimestampSigner(salt=SALT).sign(str(visitor_id))


def visitor_token_read(token: str) -> int | None:
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(
            token, max_age=settings.VISITOR_TOKEN_MAX_AGE.total_seconds()
        )
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None
