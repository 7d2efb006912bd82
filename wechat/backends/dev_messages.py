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
