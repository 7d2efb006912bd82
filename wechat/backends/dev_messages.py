from ..models import DevMessage
from .messages_base import MessagesMixin, MessageRefused


class DevMessagesMixin(MessagesMixin):
    """Delivers into `wechat.DevMessage`; the mini-site shows a customer's own messages."""

    def send_subscribe_message(self, *, openid, template_id, page, data):
        if not openid:
            raise MessageRefused("用户未订阅该消息", code="43101")
        DevMessage.objects.create(kind=DevMessage.Kind.SUBSCRIBE, to=openid, template_id=template_id, page=page,
                                  data=data)

    def send_staff_message(self, *, user_id, text):
        if not user_id:
            raise MessageRefused("没有企业微信账号", code="60111")
        DevMessage.objects.create(kind=DevMessage.Kind.WECOM, to=user_id, text=text)

    def send_welcome_msg(self, *, welcome_code, external_userid, text):
        if not welcome_code:
            raise MessageRefused("缺少欢迎语 code", code="41050")
        # A welcome code works once, like WeCom's (41051 on a second use).
        if DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_WELCOME, data__welcome_code=welcome_code).exists():
            return "already"
        DevMessage.objects.create(kind=DevMessage.Kind.WECOM_WELCOME, to=external_userid[:64], text=text,
                                  data={"welcome_code": welcome_code})
        return "sent"
