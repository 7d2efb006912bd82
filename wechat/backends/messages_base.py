from core.errors import ApplicationError


class MessageRefused(ApplicationError):
    """WeChat will not deliver this message, and retrying will not change that
    (43101: the user has no subscription left; 47003: a field breaks the rules)."""

    code = "message_refused"
    status_code = 409
    default_message = "消息未能发送"


class MessagesMixin:
    def send_subscribe_message(self, *, openid: str, template_id: str, page: str, data: dict) -> None:
        """A subscribe message (订阅消息) to a WeChat user; `data` as built by wechat.messages.subscribe_data."""
        raise NotImplementedError

    def send_staff_message(self, *, user_id: str, text: str) -> None:
        """A text message to a member of staff through the WeCom app."""
        raise NotImplementedError

    def send_welcome_msg(self, *, welcome_code: str, external_userid: str, text: str) -> str:
        """WeCom's welcome to a new customer (externalcontact/send_welcome_msg), within 20 s of the
        add_external_contact event that carried `welcome_code`; "sent", or "already" when WeCom says
        41051 (the welcome was sent or the chat has started: a success, not a retry)."""
        raise NotImplementedError
