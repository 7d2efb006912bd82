from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from .models import Visitor
from .tokens import visitor_token_read

KEYWORD = "Visitor"


class VisitorTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Visitor <token>`: a WeChat visitor. request.auth is the Visitor.

    request.user stays anonymous: visitors are not staff accounts.
    """

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] != KEYWORD:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("登录已失效，请重新进入")
        visitor_id = visitor_token_read(header[1])
        if visitor_id is None:
            raise exceptions.AuthenticationFailed("登录已失效，请重新进入")
        # With its restaurant (one join): pricing reads the customer's price list on most visitor requests.
        visitor = Visitor.objects.filter(pk=visitor_id).select_related("customer").first()
        if visitor is None:
            raise exceptions.AuthenticationFailed("登录已失效，请重新进入")
        return AnonymousUser(), visitor

    def authenticate_header(self, request):
        return KEYWORD
