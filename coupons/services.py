"""Writes of coupons: issuing (to one customer, a list, or a crm segment) and giving a coupon back
when the unpaid order that held it is cancelled or expires. Using a coupon is checkout's write
(orders.services.checkout_store: the redemption row in the order's one statement)."""

from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from core.errors import NotFound, ValidationFailed
from core.sql import insert_statement
from customers.models import Customer
from customers.phones import phone_normalize

from .models import Coupon, CouponIssue, CouponRedemption, CouponTemplate

MAX_LIST = 5000  # one issue to a pasted list; a segment may be larger


def customers_from_phones(text: str) -> list[int]:
    """The customers of a pasted list of phone numbers (one a line, or separated by commas), every
    unknown number named in the refusal. Numbers are compared in their stored form (customers.phones)."""
    raw = [part.strip() for part in (text or "").replace("，", ",").replace(",", "\n").splitlines() if part.strip()]
    if not raw:
        raise ValidationFailed("请填写客户手机号", code="customers_required")
    if len(raw) > MAX_LIST:
        raise ValidationFailed(f"一次最多 {MAX_LIST} 个号码", code="too_many_customers")
    phones = {phone_normalize(part): part for part in raw}
    found = dict(Customer.objects.filter(phone__in=list(phones)).values_list("phone", "pk"))
    unknown = [typed for phone, typed in phones.items() if phone not in found]
    if unknown:
        raise ValidationFailed("找不到这些手机号的客户：" + "、".join(unknown[:20]) + ("…" if len(unknown) > 20 else ""),
                               code="customers_not_found", details={"unknown": unknown})
    return sorted(set(found.values()))


def coupons_issue(*, template_id: int, customer_ids, audience: str, issued_by: str = "",
                  issue: CouponIssue | None = None) -> CouponIssue:
    """Give each customer one coupon of the template, except those who already hold the
    template's per-customer limit (counted, not issued). One row per customer per issue.

    The template's row is locked for the issue, so two staff issuing at once cannot push a
    customer past the limit. `issue`: add to an issue already made of this template (a campaign
    issues batch by batch into one issue); its counts grow."""
    customer_ids = sorted(set(customer_ids))
    if not customer_ids:
        raise ValidationFailed("没有要发放的客户", code="customers_required")
    if issue is not None and issue.template_id != template_id:
        raise ValidationFailed("发券记录与模板不符", code="coupon_issue_mismatch")
    with transaction.atomic():
        template = CouponTemplate.objects.select_for_update().filter(pk=template_id).first()
        if template is None:
            raise NotFound("优惠券模板不存在", code="coupon_template_not_found")
        if not template.is_active:
            raise ValidationFailed(f"模板「{template.name}」已停用，不能发放", code="coupon_template_inactive")
        if template.valid_to < timezone.localdate():
            raise ValidationFailed(f"模板「{template.name}」已过期，不能发放", code="coupon_template_expired")
        held = dict(Coupon.objects.filter(template=template, customer_id__in=customer_ids)
                    .values("customer_id").annotate(n=Count("id")).values_list("customer_id", "n"))
        receiving = [pk for pk in customer_ids if held.get(pk, 0) < template.per_customer_limit]
        if issue is None:
            issue = CouponIssue.objects.create(template=template, audience=audience[:120], issued_by=issued_by[:60],
                                               issued_count=len(receiving),
                                               skipped_count=len(customer_ids) - len(receiving))
        else:
            CouponIssue.objects.filter(pk=issue.pk).update(
                issued_count=F("issued_count") + len(receiving),
                skipped_count=F("skipped_count") + len(customer_ids) - len(receiving))
            issue.refresh_from_db()
        _coupons_insert(template_id=template.pk, issue_id=issue.pk, customer_ids=receiving)
    return issue


def _coupons_insert(*, template_id: int, issue_id: int, customer_ids: list[int]) -> None:
    """One coupon per customer: one INSERT per thousand rows (core.sql; a campaign to 50,000
    customers spent most of its time building ORM objects here)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        for start in range(0, len(customer_ids), 1000):
            statement, params = insert_statement(
                Coupon, ("template", "customer", "issue", "created_at", "updated_at"),
                ((template_id, pk, issue_id, now, now) for pk in customer_ids[start:start + 1000]))
            cursor.execute(statement, params)


def coupons_issue_to_segment(*, template_id: int, segment_id: int, issued_by: str = "") -> CouponIssue:
    """Issue the template to everyone in a saved segment, evaluated now (crm.segments: the same
    query as its live count, so the count staff saw is who gets one, limit permitting)."""
    from crm.models import Segment
    from crm.segments import segment_customer_ids

    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise NotFound("客户分群不存在", code="segment_not_found")
    customer_ids = list(segment_customer_ids(segment))
    if not customer_ids:
        raise ValidationFailed(f"分群「{segment.name}」目前没有客户", code="segment_empty")
    return coupons_issue(template_id=template_id, customer_ids=customer_ids, issued_by=issued_by,
                         audience=f"分群「{segment.name}」{len(customer_ids)} 位客户")


def coupon_release(*, order_id, reason: str) -> int:
    """Give back the coupon an unpaid order held (the order was cancelled or expired). Call it in
    the transaction that holds the order's lock (seafood_b2b.locks: the redemption is the
    order's). Returns how many were released (0 or 1); a second call releases nothing."""
    return CouponRedemption.objects.filter(order_id=order_id, released_at__isnull=True).update(
        released_at=timezone.now(), release_reason=reason[:100])
