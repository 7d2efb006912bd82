from dataclasses import dataclass

from django.utils import timezone

from wechat.backends import get_backend

from .models import Visitor
from .tokens import visitor_token_make


@dataclass(frozen=True)
class LoginResult:
    visitor: Visitor
    token: str
    created: bool


def visitor_login(*, code: str) -> LoginResult:
    """`wx.login` code → the visitor for that OpenID (created on first sight) and an API token.

    No WeChat call happens inside a transaction; `get_or_create` copes with two first logins
    of the same OpenID racing each other (the unique OpenID decides, the loser re-reads).
    """
    session = get_backend().code_to_session(code)
    visitor, created = Visitor.objects.get_or_create(
        openid=session.openid, defaults={"unionid": session.unionid, "last_seen_at": timezone.now()}
    )
    if not created:
        Visitor.objects.filter(pk=visitor.pk).update(last_seen_at=timezone.now())
    return LoginResult(visitor=visitor, token=visitor_token_make(visitor.pk), created=created)
