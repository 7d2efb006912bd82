"""The OpenAPI schema's shared parts: the error shape, the auth schemes, the errors every operation
can answer, and a way to document the few views that answer without DRF.

`manage.py spectacular --validate --fail-on-warn` must pass and schemathesis checks every answer
against this schema (tests/core/test_schemathesis.py), so what is written here is what is served.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="稳定的错误码，供程序判断：invalid、not_found、insufficient_stock……")
    message = serializers.CharField(help_text="给用户看的中文说明")
    details = serializers.JSONField(help_text="结构化细节：字段校验错误为 {字段: [说明]}，其余多为 {}")


class ErrorResponseSerializer(serializers.Serializer):
    """Every refusal of the API: `{"error": {"code", "message", "details"}}`."""

    error = ErrorSerializer()


_ERROR_DESCRIPTIONS = {
    400: "输入有误（code: invalid / invalid_parameter / parse_error 等，details 指明字段）",
    401: "缺少或无效的凭证（not_authenticated / authentication_failed）",
    403: "没有权限（permission_denied / forbidden / not_a_rep 等）",
    404: "找不到该对象（not_found 等）",
    409: "与当前状态冲突（conflict / insufficient_stock / product_unavailable 等）",
    415: "不支持的请求格式（请以 JSON 提交）",
    429: "请求过于频繁（throttled）",
    502: "微信服务暂时不可用（external_service），可稍后重试",
}


def error_response(status: int, description: str | None = None) -> OpenApiResponse:
    return OpenApiResponse(ErrorResponseSerializer, description=description or _ERROR_DESCRIPTIONS[status])


def errors(*statuses: int) -> dict:
    """`responses={200: X, **errors(409)}`: the error shape for statuses the default rules below
    do not already add."""
    return {status: error_response(status) for status in statuses}


def paginated(name: str, item) -> serializers.Serializer:
    """DRF's page envelope around `item` (a serializer instance with many=True)."""
    return inline_serializer(name, {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": item,
    })


# Who may call an operation, set on a view as `api_auth` (the security of the operation).
VISITOR = "visitor"  # the mini program's visitor token is required
VISITOR_OPTIONAL = "visitor_optional"  # anonymous works; a visitor token gives the customer's prices
REP_SESSION = "rep_session"  # a logged-in rep's session cookie (and X-CSRFToken on writes)
STAFF_SESSION = "staff_session"  # a staff member's admin session cookie, with the permission named
REP_SESSION_OR_FEED_TOKEN = "rep_session_or_feed_token"  # the session, or /rep/me's feed_token (X-Feed-Token)
PUBLIC = "public"  # nothing

_SECURITY = {
    VISITOR: [{"visitorToken": []}],
    VISITOR_OPTIONAL: [{"visitorToken": []}, {}],
    REP_SESSION: [{"cookieAuth": []}],
    STAFF_SESSION: [{"cookieAuth": []}],
    REP_SESSION_OR_FEED_TOKEN: [{"cookieAuth": []}, {"feedToken": []}],
    PUBLIC: [{}],
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's inspector with the house rules:

    - the security is the view's `api_auth` (see above), not every authenticator DRF would try;
    - every DRF operation documents the errors it can answer in the one error shape: 400 when it takes
      input (a body, a query or a path parameter), 401 when it authenticates (a stale or malformed
      token is refused on any of them), 404 when its path names an object, 415 when it takes a
      body, 429 when it is throttled; any other (403, 409, 502…) is listed on the view with
      `errors(...)`.
    """

    def get_auth(self):
        auths = super().get_auth()  # registers the schemes' components
        kind = getattr(self.view, "api_auth", None)
        return auths if kind is None else [dict(requirement) for requirement in _SECURITY[kind]]

    def _default_error_statuses(self) -> list[int]:
        if getattr(self.view, "documents_plain_view", False):
            return []  # a view without DRF lists what it answers itself
        statuses = []
        has_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        has_query = any(p.get("in") == "query" for p in self._get_parameters())
        # A path parameter is input too: a control character in any URL is refused with a 400
        # (core.middleware) before the path is even resolved.
        if has_body or has_query or "{" in self.path:
            statuses.append(400)
        if self.view.get_authenticators():
            statuses.append(401)
        if "{" in self.path:
            statuses.append(404)
        if has_body:
            statuses.append(415)
        if self.view.get_throttles():
            statuses.append(429)
        return statuses

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in self._default_error_statuses():
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(error_response(status), str(status),
                                                                     direction=direction)
        return dict(sorted(responses.items()))


def documented_by(schema_view, *, falls_back: bool = False):
    """Let the schema describe a plain Django view through `schema_view`, an APIView whose methods
    carry the @extend_schema documentation (and are never called): the view itself keeps serving
    the requests without DRF. drf-spectacular finds views by their `cls`, as DRF's as_view() sets it.

    `falls_back`: the plain view serves only the ordinary requests and hands everything else to
    `schema_view` itself (which then answers its usual errors, so they are documented as for any
    DRF view); the schema is then exactly the DRF view's."""

    schema_view.documents_plain_view = not falls_back

    def decorate(view):
        view.cls = schema_view
        view.initkwargs = {}
        return view

    return decorate
