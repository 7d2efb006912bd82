"""The welcome message: once per new restaurant, and only to a WeChat user who accepted it.

A subscribe message reaches a user only against their acceptance of its template
(notifications.consent), and the first phone authorisation, where the restaurant is created,
comes before the user could be asked. So the welcome is first owed, then released into the outbox:

1. **Owed.** customers.services.customer_bind_phone calls `welcome_owe` in its transaction when
   that call created the restaurant: one WelcomeDue row (the customer is its primary key, so two
   first authorisations racing owe one), and the new-customer coupon if admin configured one
   (WelcomeSettings.coupon_template, issued now so that the first checkout already suggests it).
2. **Released on consent.** The checkout page asks WeChat for the `welcome` template in the tap that
   pays while the checkout preview says `welcome_pending` (static/js/subscribe.js). Recording an
   acceptance of it (notifications.consent.consent_record → `welcome_on_consent`) writes the
   welcome to the outbox, addressed to that WeChat user; the outbox spends the acceptance and sends.
3. **Released at the first payment.** Otherwise the settlement of the restaurant's first paid order
   (orders.services.payments.payment_settle → `welcome_on_first_payment`) writes it, addressed to
   the payer: sent if that user holds an acceptance, else recorded `no_consent`, final. That closes
   the welcome: an acceptance given after it sends nothing (a "welcome" weeks after the first order
   would be a surprise, and the acceptance stays unspent for nothing else is of that template).

Once, never twice: the release is one conditional UPDATE (`released_at IS NULL`), and the outbox
row's event key `welcome:<customer id>` is unique as well. Nothing is written if the restaurant's
creation rolls back. Text, title, link and coupon are edited in admin (欢迎消息); the text is made
at release, with the restaurant's rep and name at that time.
"""

import logging

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from notifications.services import notify

from .models import WelcomeDue, WelcomeSettings

logger = logging.getLogger(__name__)
NO_REP_NAME = "我们"
COUPON_AUDIENCE = "新客欢迎券"


def _welcome_coupon(*, config: WelcomeSettings, customer):
    """The new-customer coupon for this restaurant, or None (none configured, switched off,
    expired: the restaurant is still created and owed its welcome)."""
    template = config.coupon_template
    if template is None or not template.is_active or template.valid_to < timezone.localdate():
        return None
    from coupons.models import Coupon
    from coupons.services import coupons_issue

    try:
        issue = coupons_issue(template_id=template.pk, customer_ids=[customer.pk], audience=COUPON_AUDIENCE,
                              issued_by="欢迎消息")
    except ApplicationError as error:  # changed between the check and the lock: no coupon, still welcomed
        logger.warning("new-customer coupon not issued to %s: %s", customer.pk, error.message)
        return None
    return Coupon.objects.filter(issue=issue, customer=customer).first()


def welcome_owe(*, customer, visitor) -> WelcomeDue | None:
    """A new restaurant is owed its welcome (and gets the new-customer coupon), in the caller's
    transaction. None when the welcome is switched off or already owed."""
    config = WelcomeSettings.current()
    if not config.is_active:
        return None
    if WelcomeDue.objects.filter(customer=customer).exists():
        return None
    coupon = _welcome_coupon(config=config, customer=customer)
    return WelcomeDue.objects.create(customer=customer, openid=visitor.openid, coupon=coupon)


def welcome_pending(*, customer_id) -> bool:
    """Whether the restaurant is still owed its welcome: the page then asks for the template."""
    return bool(customer_id) and WelcomeDue.objects.filter(customer_id=customer_id, released_at__isnull=True).exists()


def welcome_text(*, config: WelcomeSettings, customer, coupon) -> tuple[str, str]:
    """(the welcome's text, the rep's name) for this restaurant now."""
    rep_name = customer.rep.name if customer.rep_id else NO_REP_NAME
    text = config.text.format(rep_name=rep_name, customer_name=customer.name)
    if coupon is not None:
        template = coupon.template
        text += f"送您一张「{template.name}」（{template.terms}），{template.valid_to:%m月%d日}前下单可用。"
    return text, rep_name


def _release(*, customer_id, openid: str, reason: str):
    """Write the owed welcome to the outbox, once (in the caller's transaction). The notification, or None."""
    released = WelcomeDue.objects.filter(customer_id=customer_id, released_at__isnull=True).update(
        released_at=timezone.now(), released_by=reason)
    if not released:
        return None
    config = WelcomeSettings.current()
    if not config.is_active:  # switched off since it was owed
        return None
    due = WelcomeDue.objects.select_related("customer__rep", "coupon__template").get(pk=customer_id)
    text, rep_name = welcome_text(config=config, customer=due.customer, coupon=due.coupon)
    data = {"thing1": config.title, "thing2": text, "name3": rep_name}
    if due.coupon is not None:
        data["thing4"] = due.coupon.template.name
    return notify(event_key=f"welcome:{customer_id}", recipient_kind="customer", recipient_id=customer_id,
                  channel="subscribe", template="welcome", title=config.title, body=text, link=config.link,
                  address=openid, data=data)


def welcome_on_consent(*, openid: str):
    """A WeChat user accepted the `welcome` template: release their restaurant's welcome to them."""
    from customers.models import Visitor

    customer_id = Visitor.objects.filter(openid=openid).values_list("customer_id", flat=True).first()
    if customer_id is None:
        return None
    with transaction.atomic():
        return _release(customer_id=customer_id, openid=openid, reason=WelcomeDue.Release.CONSENT)


def welcome_on_first_payment(*, order):
    """An order settled (in payment_settle's transaction): if its restaurant is still owed the
    welcome, release it to the payer now; the outbox sends it or records it no_consent."""
    return _release(customer_id=order.customer_id, openid=order.visitor.openid,
                    reason=WelcomeDue.Release.FIRST_PAYMENT)
