"""Complaints: filing (customer), replies and owner changes (staff), and the escalation sweep.

Assignment (one rule, `_owner_pick`): the settings' default owner when one is set; otherwise the
active staff ticked 轮流负责新投诉 on the escalation list take new complaints in turn (the one after
the owner of the latest complaint, by list order). With nobody on the rota the complaint has no
owner, and the escalation sweep still tells the managers when it is overdue.

Managers are the active staff ticked 接收超时升级; with none configured, the active superusers are
told instead, so an overdue complaint always reaches someone. Each manager gets one outbox row per
escalation round (event_key `complaint:<id>:escalation:<round>`): the outbox's uniqueness means a
round is never told twice, and every new round is told again. Safety/harassment complaints tell
the managers at once on filing (`complaint:<id>:safety`).

A complaint's row is the only lock taken here (seafood_b2b.locks): replies and escalation rounds
queue on it, so a reply and a sweep never cross.
"""

import logging
import secrets
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aftersales.photos import MAX_PHOTOS, PhotoInvalid, photos_clean
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.inputs import text_check
from notifications.services import notify

from .models import Complaint, ComplaintEvent, ComplaintPhoto, ComplaintSettings, ComplaintStaff
from .rules import (
    REASON_LABELS,
    Clock,
    escalation_due,
    first_response_due,
    next_escalation,
    resolution_due,
)

logger = logging.getLogger(__name__)
Kind = ComplaintEvent.Kind
Status = Complaint.Status
Category = Complaint.Category
MAX_TEXT = 500
SWEEP_BATCH = 500


def _text(value, *, label: str, field: str, required: bool) -> str:
    value = text_check(str(value or "").strip(), label=label, field=field)
    if required and not value:
        raise ValidationFailed(f"请填写{label}", code=f"{field}_required")
    if len(value) > MAX_TEXT:
        raise ValidationFailed(f"{label}不能超过 {MAX_TEXT} 字", code=f"{field}_too_long")
    return value


def _actor(user) -> str:
    return (user.get_username() if user else "system")[:60]


def _local(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


# ------------------------------------------------------------------ who is told


def _managers() -> list[tuple[int, str]]:
    """(user id, WeCom account) of everyone told of escalations."""
    rows = list(ComplaintStaff.objects.filter(escalations=True, is_active=True, user__is_active=True)
                .order_by("id").values_list("user_id", "wecom_user_id"))
    if rows:
        return rows
    return [(pk, "") for pk in get_user_model().objects.filter(is_superuser=True, is_active=True)
            .order_by("id").values_list("pk", flat=True)]


def _tell_staff(*, event_key: str, user_id, wecom: str, title: str, body: str, complaint: Complaint) -> None:
    notify(event_key=event_key, recipient_kind="staff", recipient_id=user_id,
           channel="wecom" if wecom else "inbox", template="complaint_escalation", title=title, body=body,
           link=f"/admin/complaints/complaint/{complaint.pk}/change/", address=wecom)


def _tell_managers(complaint: Complaint, *, event_key: str, title: str, body: str) -> int:
    managers = _managers()
    for user_id, wecom in managers:
        _tell_staff(event_key=event_key, user_id=user_id, wecom=wecom, title=title, body=body, complaint=complaint)
    if not managers:
        logger.warning("complaint %s: nobody to escalate to (no managers, no superusers)", complaint.pk)
    return len(managers)


def _summary(complaint: Complaint) -> str:
    about = f"，订单 {complaint.order.number}" if complaint.order_id else ""
    return f"{complaint.get_category_display()}{about}：{complaint.text[:80]}"


# ------------------------------------------------------------------ filing


def _owner_pick(rules: ComplaintSettings):
    if rules.default_owner_id:
        return rules.default_owner_id
    rota = list(ComplaintStaff.objects.filter(takes_complaints=True, is_active=True, user__is_active=True)
                .order_by("id").values_list("user_id", flat=True))
    if not rota:
        return None
    last = Complaint.objects.filter(owner_id__in=rota).order_by("-id").values_list("owner_id", flat=True).first()
    return rota[(rota.index(last) + 1) % len(rota)] if last in rota else rota[0]


def _subject(order, customer_id):
    """The driver (the order's latest delivery stop) and the rep a complaint may be about: the
    order's rep, else the restaurant's rep now."""
    from customers.models import Customer

    driver_id = rep_id = None
    if order is not None:
        stop = order.stops.select_related("run").order_by("-run__delivery_date", "-id").first()
        driver_id, rep_id = (stop.run.driver_id if stop else None), order.rep_id
    if rep_id is None:
        rep_id = Customer.objects.filter(pk=customer_id).values_list("rep_id", flat=True).first()
    return driver_id, rep_id


def complaint_file(*, visitor, category: str, text: str, order_id=None, photos=()) -> Complaint:
    """投诉: about one of the customer's orders or none. Refused (nothing stored): no restaurant
    yet, an unknown category, no text or too long, someone else's order, a bad photo."""
    from orders.models import Order

    if category not in Category.values:
        raise ValidationFailed("请选择投诉类别", code="category_invalid", details={"choices": list(Category.values)})
    text = _text(text, label="投诉内容", field="text", required=True)
    photos = list(photos or [])
    if len(photos) > MAX_PHOTOS:
        raise PhotoInvalid(f"每个投诉最多 {MAX_PHOTOS} 张照片", code="too_many_photos",
                           details={"allowed": MAX_PHOTOS, "sent": len(photos)})
    clean_photos = photos_clean(photos)
    if not visitor.customer_id:
        raise PermissionDenied("请先授权手机号（下单时绑定餐厅），以便我们联系您", code="customer_required")
    order = None
    if order_id is not None:
        order = Order.objects.filter(pk=order_id, customer_id=visitor.customer_id).first()
        if order is None:
            raise NotFound("订单不存在", code="order_not_found")
    now = timezone.now()
    rules = ComplaintSettings.current()
    driver_id, rep_id = _subject(order, visitor.customer_id)
    with transaction.atomic():
        complaint = Complaint.objects.create(
            customer_id=visitor.customer_id, visitor=visitor, order=order, category=category,
            is_safety=category == Category.SAFETY, text=text, owner_id=_owner_pick(rules),
            driver_id=driver_id, rep_id=rep_id,
            first_response_due=first_response_due(filed_at=now, hours=rules.first_response_hours,
                                                  business=rules.business_hours()),
            resolution_due=resolution_due(filed_at=now, hours=rules.resolution_hours))
        for photo in clean_photos:
            row = ComplaintPhoto(complaint=complaint, width=photo.width, height=photo.height)
            extension = photo.content.name.rsplit(".", 1)[-1]
            row.image.save(f"{secrets.token_urlsafe(16)}.{extension}", photo.content, save=False)
            row.save()
        ComplaintEvent.objects.create(complaint=complaint, kind=Kind.SUBMITTED, actor="customer", message=text)
        if complaint.owner_id:
            ComplaintEvent.objects.create(complaint=complaint, kind=Kind.ASSIGNED, actor="system",
                                          staff_id=complaint.owner_id, message="自动分配")
            wecom = (ComplaintStaff.objects.filter(user_id=complaint.owner_id).values_list("wecom_user_id", flat=True)
                     .first() or "")
            _tell_staff(event_key=f"complaint:{complaint.pk}:assigned:{complaint.owner_id}",
                        user_id=complaint.owner_id, wecom=wecom, complaint=complaint,
                        title=f"新投诉 #{complaint.pk}，请在 {_local(complaint.first_response_due)} 前回复",
                        body=_summary(complaint))
        if complaint.is_safety:
            told = _tell_managers(complaint, event_key=f"complaint:{complaint.pk}:safety",
                                  title=f"安全/骚扰投诉 #{complaint.pk}，请立即处理", body=_summary(complaint))
            ComplaintEvent.objects.create(complaint=complaint, kind=Kind.SAFETY_ALERT, actor="system",
                                          message=f"已通知 {told} 位经理")
    complaint.refresh_from_db()
    return complaint


# ------------------------------------------------------------------ staff


def _locked(complaint_id) -> Complaint:
    complaint = (Complaint.objects.select_for_update(of=("self",)).select_related("visitor", "order")
                 .filter(pk=complaint_id).first())
    if complaint is None:
        raise NotFound("投诉不存在", code="complaint_not_found")
    return complaint


def complaint_reply(*, complaint_id, user, message: str, resolve: bool = False) -> ComplaintEvent:
    """A reply the customer reads (and is sent as 投诉回复); `resolve` also closes the complaint.
    The first reply answers it (no more first-response escalation)."""
    message = _text(message, label="回复内容", field="message", required=True)
    now = timezone.now()
    with transaction.atomic():
        complaint = _locked(complaint_id)
        if complaint.status == Status.RESOLVED:
            raise Conflict("该投诉已解决，不能再回复", code="complaint_resolved")
        event = ComplaintEvent.objects.create(complaint=complaint, kind=Kind.RESOLVED if resolve else Kind.REPLY,
                                              staff=user if user and user.pk else None, actor=_actor(user),
                                              message=message)
        complaint.first_response_at = complaint.first_response_at or now
        complaint.status = Status.RESOLVED if resolve else Status.ANSWERED
        complaint.resolved_at = now if resolve else None
        complaint.save(update_fields=["first_response_at", "status", "resolved_at", "updated_at"])
        notify(event_key=f"complaint:{complaint.pk}:reply:{event.pk}", recipient_kind="customer",
               recipient_id=complaint.customer_id, channel="subscribe", template="complaint_reply",
               title="投诉回复", body=f"投诉 #{complaint.pk}（{complaint.get_status_display()}）：{message}",
               data={"character_string1": f"TS{complaint.pk}", "phrase2": "已解决" if resolve else "已回复",
                     "thing3": message, "time4": timezone.localtime(now).strftime("%Y年%m月%d日 %H:%M")},
               link=f"/shop/complaints/{complaint.pk}/", address=complaint.visitor.openid)
    return event


def complaint_assign(*, complaint_id, user, owner_id) -> Complaint:
    """Give the complaint to another member of staff (an audit row)."""
    User = get_user_model()
    if owner_id is not None and not User.objects.filter(pk=owner_id, is_staff=True, is_active=True).exists():
        raise ValidationFailed("负责人须为在职的后台员工", code="owner_invalid")
    with transaction.atomic():
        complaint = _locked(complaint_id)
        if complaint.owner_id == owner_id:
            return complaint
        complaint.owner_id = owner_id
        complaint.save(update_fields=["owner", "updated_at"])
        ComplaintEvent.objects.create(complaint=complaint, kind=Kind.ASSIGNED, staff=user if user and user.pk else None,
                                      actor=_actor(user), message="转交" if owner_id else "取消负责人")
    return complaint


# ------------------------------------------------------------------ escalation


def _clock(complaint: Complaint) -> Clock:
    return Clock(first_response_due=complaint.first_response_due, resolution_due=complaint.resolution_due,
                 first_response_at=complaint.first_response_at, resolved_at=complaint.resolved_at,
                 next_escalation_at=complaint.next_escalation_at)


def complaint_escalate(*, complaint_id, now: datetime, repeat_minutes: int) -> bool:
    """One escalation round for one complaint if it is due (checked again under its lock)."""
    with transaction.atomic():
        complaint = (Complaint.objects.select_for_update(of=("self",), skip_locked=True)
                     .select_related("order").filter(pk=complaint_id).first())
        if complaint is None:
            return False  # gone, or a reply holds it: the next sweep looks again
        reason = escalation_due(_clock(complaint), now=now)
        if reason is None:
            return False
        complaint.escalation_round += 1
        complaint.last_escalated_at = now
        complaint.next_escalation_at = next_escalation(now=now, repeat_minutes=repeat_minutes)
        complaint.save(update_fields=["escalation_round", "last_escalated_at", "next_escalation_at", "updated_at"])
        waited = int((now - complaint.created_at).total_seconds() // 3600)
        label = REASON_LABELS[reason]
        told = _tell_managers(
            complaint, event_key=f"complaint:{complaint.pk}:escalation:{complaint.escalation_round}",
            title=f"投诉 #{complaint.pk} {label}（第 {complaint.escalation_round} 次提醒）",
            body=f"已等待 {waited} 小时。{_summary(complaint)}")
        ComplaintEvent.objects.create(complaint=complaint, kind=Kind.ESCALATED, actor="system",
                                      round=complaint.escalation_round, message=f"{label}，已通知 {told} 位经理")
    return True


def complaints_escalate_overdue(*, now: datetime | None = None) -> int:
    """The beat task's sweep: every overdue complaint whose next round has come. Returns rounds made."""
    now = now or timezone.now()
    repeat = ComplaintSettings.current().escalation_repeat_minutes
    due = list(Complaint.objects.overdue(now)
               .filter(Q(next_escalation_at__isnull=True) | Q(next_escalation_at__lte=now))
               .order_by("first_response_due", "id").values_list("pk", flat=True)[:SWEEP_BATCH])
    return sum(complaint_escalate(complaint_id=pk, now=now, repeat_minutes=repeat) for pk in due)
