"""The welcome message: once per new customer, at the first phone authorisation that creates it.

customers.services.customer_bind_phone calls `welcome_send` inside its transaction when (and only
when) that call created the restaurant; the outbox row's event key `welcome:<customer id>` is
unique per customer, so the welcome goes out once even if it were asked twice, and only if the
restaurant's creation commits. Text, title and link are edited in admin (欢迎消息)."""

from notifications.services import notify

from .models import WelcomeSettings

NO_REP_NAME = "我们"


def welcome_coupon(*, customer) -> dict:
    """Hook for the new-customer coupon (coupons are another part of the issue): what to add to
    the welcome's data, e.g. {"coupon_id": …}. Nothing yet."""
    return {}


def welcome_send(*, customer, visitor):
    """Write the welcome to the outbox (subscribe message, template `welcome`) in the caller's
    transaction. Returns the notification, or None when switched off or already written."""
    config = WelcomeSettings.current()
    if not config.is_active:
        return None
    rep_name = customer.rep.name if customer.rep_id else NO_REP_NAME
    text = config.text.format(rep_name=rep_name, customer_name=customer.name)
    return notify(
        event_key=f"welcome:{customer.pk}", recipient_kind="customer", recipient_id=customer.pk,
        channel="subscribe", template="welcome", title=config.title, body=text, link=config.link,
        address=visitor.openid,
        data={"thing1": config.title, "thing2": text, "name3": rep_name, **welcome_coupon(customer=customer)})
