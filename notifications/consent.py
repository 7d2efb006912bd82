"""Subscribe-message consent: what `wx.requestSubscribeMessage` granted, and spending it.

Rules (WECHAT.md §3):
- WeChat delivers a subscribe message only against an acceptance of its template by that WeChat
  user: one `accept` of a one-time template = one message, with no time limit. Long-term
  subscriptions are for government, medical, transport, finance and education only, so every
  template here is one-time; "总是保持以上选择" only spares the user the dialog, each call still
  grants one.
- The mini program sends us WeChat's answer as it came: `{"errMsg": "requestSubscribeMessage:ok",
  "<template id>": "accept" | "reject" | "ban" | "filter", ...}`, at most 5 templates (WeChat's
  limit). It is refused whole (ValidationFailed, nothing stored) if anything in it is not
  WeChat's shape or names a template id we do not use.
- Only `accept` adds one; the other answers are recorded as the last choice and add nothing.
- An acceptance of `welcome` releases the welcome the user's restaurant is still owed
  (crm.welcome.welcome_on_consent), which the outbox then sends against it.
- The outbox takes one acceptance with a conditional UPDATE (`available > 0`) just before it
  calls WeChat, so two messages racing for one acceptance send one; the other is recorded
  "no consent" (Notification.Status.NO_CONSENT), final. A send that failed before reaching the
  user (WeChat busy, retried later) gives its acceptance back.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import ValidationFailed

from .models import SubscribeConsent

Result = SubscribeConsent.Result
# What the user reads in WeChat's dialog for each template (its title in the mini program console).
TEMPLATE_TITLES = {
    "order_paid": "订单支付成功通知",
    "delivery_done": "订单送达通知",
    "weight_refund": "称重差价退款通知",
    "refund_done": "退款成功通知",
    "aftersales_result": "售后处理结果通知",
    "complaint_reply": "投诉处理回复通知",
    "welcome": "新客户欢迎通知",
    "cutoff_reminder": "截单前下单提醒",
    "promotion": "优惠活动通知",
}
MAX_TEMPLATES_PER_CALL = 5
OK_MESSAGE = "requestSubscribeMessage:ok"


def template_names_by_id() -> dict[str, str]:
    """WeChat's template id → our template name, from settings.WECHAT_SUBSCRIBE_TEMPLATES."""
    return {template_id: name for name, template_id in settings.WECHAT_SUBSCRIBE_TEMPLATES.items() if template_id}


def subscribe_result_parse(raw) -> dict[str, str]:
    """WeChat's answer to wx.requestSubscribeMessage → {our template name: result}, or ValidationFailed."""
    if not isinstance(raw, dict):
        raise ValidationFailed("订阅结果格式不正确", code="subscribe_result_invalid")
    if raw.get("errMsg") != OK_MESSAGE:
        raise ValidationFailed("订阅结果不是成功的调用结果（errMsg 须为 requestSubscribeMessage:ok）",
                               code="subscribe_result_not_ok")
    names = template_names_by_id()
    results = {}
    for template_id, result in raw.items():
        if template_id == "errMsg":
            continue
        name = names.get(template_id) if isinstance(template_id, str) else None
        if name is None:
            raise ValidationFailed("未知的订阅消息模板", code="subscribe_template_unknown",
                                   details={"template_id": str(template_id)[:64]})
        if result not in Result.values:
            raise ValidationFailed("订阅结果须为 accept、reject、ban 或 filter", code="subscribe_result_invalid",
                                   details={"template_id": template_id})
        results[name] = result
    if not results:
        raise ValidationFailed("订阅结果里没有模板", code="subscribe_result_empty")
    if len(results) > MAX_TEMPLATES_PER_CALL:
        raise ValidationFailed(f"一次最多订阅 {MAX_TEMPLATES_PER_CALL} 个模板", code="subscribe_too_many")
    return results


def _row(openid: str, template: str) -> None:
    """Make sure the row exists (a concurrent first acceptance may create it first)."""
    if SubscribeConsent.objects.filter(openid=openid, template=template).exists():
        return
    try:
        with transaction.atomic():
            SubscribeConsent.objects.create(openid=openid, template=template)
    except IntegrityError:
        pass


def consent_record(*, openid: str, results: dict[str, str]) -> dict[str, int]:
    """Record one wx.requestSubscribeMessage answer (parsed); returns {template: acceptances available}.

    Each template's row changes by one UPDATE (no read-modify-write), so concurrent answers add up.
    """
    if not openid:
        raise ValidationFailed("缺少微信用户", code="openid_missing")
    now = timezone.now()
    for template in sorted(results):
        result = results[template]
        _row(openid, template)
        accepted = result == Result.ACCEPT
        SubscribeConsent.objects.filter(openid=openid, template=template).update(
            available=F("available") + (1 if accepted else 0),
            accepted_total=F("accepted_total") + (1 if accepted else 0),
            last_result=result, last_result_at=now)
    if results.get("welcome") == Result.ACCEPT:
        # The restaurant's owed welcome goes out now, against this acceptance (crm.welcome).
        from crm.welcome import welcome_on_consent

        welcome_on_consent(openid=openid)
    return dict(SubscribeConsent.objects.filter(openid=openid, template__in=list(results))
                .values_list("template", "available"))


def consent_take(*, openid: str, template: str) -> bool:
    """Spend one acceptance of `template` by `openid`, if there is one. Atomic: one UPDATE."""
    if not openid:
        return False
    return bool(SubscribeConsent.objects.filter(openid=openid, template=template, available__gt=0).update(
        available=F("available") - 1, sent_total=F("sent_total") + 1))


def consent_give_back(*, openid: str, template: str) -> None:
    """A taken acceptance whose message never reached WeChat's user (to be retried)."""
    SubscribeConsent.objects.filter(openid=openid, template=template).update(
        available=F("available") + 1, sent_total=F("sent_total") - 1)


def consents_of(*, openid: str) -> dict[str, int]:
    """{template: acceptances available} for one WeChat user (every configured template)."""
    found = dict(SubscribeConsent.objects.filter(openid=openid).values_list("template", "available"))
    return {name: found.get(name, 0) for name in settings.WECHAT_SUBSCRIBE_TEMPLATES}
