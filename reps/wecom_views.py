"""`/wecom/callback`: WeCom's callback URL (URL verification by GET, events by POST).

Authenticated by WeCom's signature and encryption, never by who sends it. A request that fails
any check (signature, timestamp window, padding, receive id, ToUserName, XML) is answered 400
with the plain body `error`, logged with the reason, and changes nothing; WeCom retries on its own.
"""

import logging

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.views import APIView

from core.schema import PUBLIC, documented_by, error_response
from core.tasks import enqueue_on_commit
from wechat.wecom_callback import CallbackRejected, parse_event, verify_url

from . import wecom
from .tasks import wecom_contact_profile_task

logger = logging.getLogger("reps")

_QUERY = [
    OpenApiParameter("msg_signature", str, OpenApiParameter.QUERY, required=True,
                     description="sha1(sort(Token, timestamp, nonce, 密文)) 的十六进制"),
    OpenApiParameter("timestamp", str, OpenApiParameter.QUERY, required=True,
                     description="秒级时间戳；与服务器时间相差超过 WECOM_CALLBACK_MAX_AGE_SECONDS 即拒绝"),
    OpenApiParameter("nonce", str, OpenApiParameter.QUERY, required=True),
]
_TEXT = "text/plain"
_JSON = "application/json"
# A URL with a control character is refused before any view runs (core.middleware), in the error shape.
_URL_REFUSED = error_response(400, "URL 中含控制字符，在到达回调前即被拒绝（错误格式）")


def _refuse(reason: str) -> HttpResponse:
    return HttpResponse("error", status=400, content_type="text/plain; charset=utf-8")


class WeComCallbackSchema(APIView):
    """Documents wecom_callback (below), which serves the requests without DRF."""

    authentication_classes = []
    api_auth = PUBLIC

    @extend_schema(
        operation_id="wecom_callback_verify", summary="企业微信回调 URL 验证（由企业微信调用）",
        parameters=[*_QUERY, OpenApiParameter("echostr", str, OpenApiParameter.QUERY, required=True,
                                              description="加密的随机串")],
        responses={
            (200, _TEXT): OpenApiResponse(OpenApiTypes.STR, description="解密后的 echostr 明文"),
            (400, _TEXT): OpenApiResponse(OpenApiTypes.STR, description="签名、时间戳或解密校验失败，正文为 error"),
            (400, _JSON): _URL_REFUSED,
        },
    )
    def get(self, request):  # pragma: no cover - documentation only
        raise NotImplementedError

    @extend_schema(
        operation_id="wecom_callback_event", summary="企业微信客户变更事件（由企业微信调用）",
        description="XML `<xml><ToUserName>corpid</ToUserName><AgentID/><Encrypt>密文</Encrypt></xml>`；"
                    "处理 change_external_contact 的 add_external_contact、del_external_contact、"
                    "del_follow_user、transfer_fail。重复事件同样 200 且不改变任何数据。",
        parameters=_QUERY,
        request={"application/xml": OpenApiTypes.STR, "text/xml": OpenApiTypes.STR},
        responses={
            (200, _TEXT): OpenApiResponse(OpenApiTypes.STR, description="已受理（空正文）"),
            (400, _TEXT): OpenApiResponse(OpenApiTypes.STR, description="签名、时间戳、解密、接收方或 XML 校验失败，正文为 error"),
            (400, _JSON): _URL_REFUSED,
        },
    )
    def post(self, request):  # pragma: no cover - documentation only
        raise NotImplementedError


@documented_by(WeComCallbackSchema)
@csrf_exempt
@require_http_methods(["GET", "POST"])
def wecom_callback(request):
    if request.method == "GET":
        try:
            echo = verify_url(request.GET)
        except CallbackRejected as error:
            logger.warning("WeCom callback URL verification refused: %s", error.reason)
            return _refuse(error.reason)
        return HttpResponse(echo, content_type="text/plain; charset=utf-8")
    try:
        event = parse_event(request.GET, request.body)
    except CallbackRejected as error:
        logger.warning("WeCom callback refused: %s", error.reason)
        return _refuse(error.reason)
    outcome, contact = wecom.wecom_event_record(event)
    logger.info("WeCom callback %s/%s: %s", event.event, event.change_type, outcome)
    if (outcome == wecom.RECORDED and event.change_type == "add_external_contact" and event.welcome_code
            and contact is not None):
        # Committed above; WeCom accepts the welcome only within 20 s of the event, so it goes now.
        wecom.welcome_send(event, contact)
    if outcome == wecom.RECORDED and event.change_type == "add_external_contact" and contact is not None:
        # Who the customer is, to link the restaurant: a task, so this answer stays within WeCom's 5 s.
        enqueue_on_commit(wecom_contact_profile_task, contact.pk)
    return HttpResponse("", content_type="text/plain; charset=utf-8")
