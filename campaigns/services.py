"""Sending a campaign, the rep marking a task sent, and a customer opening their tracked link.

Sending, in two steps:

1. `campaign_send_start` (the admin's 确认发送): one conditional change draft → sending under the
   campaign's lock (a second click, or two staff at once, is refused), and the segment evaluated
   now (crm.segments, the query of its live count) written as the recipients in ONE
   INSERT … SELECT — so the count staff saw is exactly who is considered, 50,000 rows included.
   The Celery task is sent after commit (core.tasks.enqueue_on_commit).
2. `campaign_send_process` (the task; safe to run twice, or in two workers at once): batches of
   BATCH recipients still `selected`, each in one transaction under the campaign's lock:
   - who can be reached: subscribe — the customer has a WeChat user holding an acceptance of the
     `promotion` template (else `no_consent`, recorded, not sent); rep task — the customer has a
     rep (else `no_rep`: listed in admin for staff, never lost);
   - the monthly cap (campaigns.rules.cap_allows, CampaignSettings): one INSERT … ON CONFLICT DO
     UPDATE … WHERE count < cap … RETURNING per batch on the MonthlyContact counters, in customer
     order — a counter row is updated by one transaction at a time, so two campaigns sending at once
     can never give a customer more than the cap; those refused are `skipped_cap`;
   - the reached: the coupon (coupons.services.coupons_issue, into one issue per campaign), then
     subscribe messages written to the outbox (notify_many: sent after commit, once per campaign
     and customer, consent spent there) or rep tasks put on the rep's list (`pending`).
   A batch moves recipients out of `selected` in the same transaction as its effects, so a retried
   task never messages anyone twice. The last run marks the campaign sent.

A place under the cap is taken when the message is handed over (to the outbox, or to the rep), not
when WeChat or the rep delivers it: a rep who never sends it, or an acceptance lost to another
message in the meantime, still used it (the cap errs on the side of fewer messages).
"""

import logging

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import CharField, F, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Coalesce
from django.urls import reverse
from django.utils import timezone

from core.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from core.sql import column, insert_statement, table
from core.tasks import enqueue_on_commit

from .models import Campaign, CampaignRecipient, CampaignSettings, MonthlyContact
from .rules import link_problem, month_of

logger = logging.getLogger(__name__)
BATCH = 2000
TEMPLATE = "promotion"  # the subscribe-message template campaigns use (settings.WECHAT_SUBSCRIBE_TEMPLATES)
_LINK_SALT = "campaigns.link"
Status = CampaignRecipient.Status


# --- the tracked link ------------------------------------------------------------------------

def _signer() -> signing.Signer:
    return signing.Signer(salt=_LINK_SALT, sep=".")


def link_token(recipient_id: int) -> str:
    """The signed token of one recipient's link (`<id>.<signature>`)."""
    return _signer().sign(str(recipient_id))


def link_recipient_id(token: str) -> int | None:
    """The recipient a token stands for, or None for anything forged, cut or malformed."""
    if not isinstance(token, str) or len(token) > 100:
        return None
    try:
        value = _signer().unsign(token)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() and len(value) < 19 else None


def link_path(recipient_id: int) -> str:
    return reverse("campaign-link", args=[link_token(recipient_id)])


def link_url(recipient_id: int) -> str:
    return settings.SITE_URL.rstrip("/") + link_path(recipient_id)


def link_open(*, token: str) -> str | None:
    """Record an open of a tracked link (first time, count) and return where it leads: the
    campaign's page, or None for a bad token (nothing recorded). One UPDATE, one read."""
    recipient_id = link_recipient_id(token)
    if recipient_id is None:
        return None
    now = timezone.now()
    opened = CampaignRecipient.objects.filter(pk=recipient_id).update(
        open_count=F("open_count") + 1, first_opened_at=Coalesce(F("first_opened_at"), Value(now)))
    if not opened:
        return None
    link = Campaign.objects.filter(recipients__pk=recipient_id).values_list("link", flat=True).first()
    return link if link and not link_problem(link) else "/shop/"


# --- sending ---------------------------------------------------------------------------------

def campaign_check(campaign: Campaign) -> None:
    """What must hold for a campaign to be sent (ValidationFailed otherwise)."""
    problem = link_problem(campaign.link)
    if problem:
        raise ValidationFailed(problem, code="campaign_link_invalid")
    if not (campaign.title or "").strip() or not (campaign.text or "").strip():
        raise ValidationFailed("请填写标题和内容", code="campaign_text_required")
    if campaign.channel == Campaign.Channel.SUBSCRIBE and not settings.WECHAT_SUBSCRIBE_TEMPLATES.get(TEMPLATE):
        raise ValidationFailed("未配置「优惠活动通知」订阅消息模板（WECHAT_TEMPLATE_PROMOTION）",
                               code="campaign_template_missing")
    template = campaign.coupon_template
    if template is not None:
        if not template.is_active:
            raise ValidationFailed(f"优惠券「{template.name}」已停用", code="coupon_template_inactive")
        if template.valid_to < timezone.localdate():
            raise ValidationFailed(f"优惠券「{template.name}」已过期", code="coupon_template_expired")


def campaign_send_start(*, campaign_id: int, user=None) -> Campaign:
    """Send a draft campaign: its segment evaluated now into recipients; the task does the rest.
    Refused (nothing changed) if already sent or sending, or if the segment is empty."""
    from crm.segments import segment_filters, segment_queryset

    with transaction.atomic():
        campaign = (Campaign.objects.select_for_update(of=("self",)).select_related("segment", "coupon_template")
                    .filter(pk=campaign_id).first())
        if campaign is None:
            raise NotFound("活动不存在", code="campaign_not_found")
        if campaign.status != Campaign.Status.DRAFT:
            raise Conflict("该活动已发送，不能再次发送", code="campaign_already_sent")
        campaign_check(campaign)
        ids = (segment_queryset(segment_filters(campaign.segment))
               .annotate(segment_customer=F("pk"), segment_rep=F("rep_id")).values_list("segment_customer", "segment_rep"))
        select_sql, params = ids.query.sql_with_params()
        r = CampaignRecipient
        sql = (f"INSERT INTO {table(r)} ({column(r, 'campaign')}, {column(r, 'customer')}, {column(r, 'rep')}, "
               f"{column(r, 'status')}, {column(r, 'open_count')}) "
               f"SELECT %s, s.{connection.ops.quote_name('segment_customer')}, s.{connection.ops.quote_name('segment_rep')}, %s, 0 "
               f"FROM ({select_sql}) s")
        with connection.cursor() as cursor:
            cursor.execute(sql, [campaign.pk, Status.SELECTED, *params])
            count = cursor.rowcount
        if not count:
            raise ValidationFailed(f"分群「{campaign.segment.name}」目前没有客户", code="segment_empty")
        Campaign.objects.filter(pk=campaign.pk).update(
            status=Campaign.Status.SENDING, segment_count=count, send_requested_at=timezone.now(),
            sent_by=user if user is not None and user.pk else None)
        from .tasks import campaign_send_task

        enqueue_on_commit(campaign_send_task, campaign.pk)
    campaign.refresh_from_db()
    return campaign


def _cap_take(customer_ids: list[int], *, month, cap: int) -> set[int]:
    """Take one place under the cap for each customer who has one left this month: one statement,
    in customer order (two batches never wait on each other in a cycle). Returns who got one."""
    if not customer_ids:
        return set()
    m = MonthlyContact
    insert, params = insert_statement(m, ("customer", "month", "count"),
                                      ((pk, month, 1) for pk in sorted(customer_ids)))
    count = f"{table(m)}.{column(m, 'count')}"
    sql = (f"{insert} ON CONFLICT ({column(m, 'customer')}, {column(m, 'month')}) "
           f"DO UPDATE SET {column(m, 'count')} = {count} + 1 WHERE {count} < %s RETURNING {column(m, 'customer')}")
    if cap < 1:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, cap])
        return {row[0] for row in cursor.fetchall()}


def _openids_with_consent(customer_ids: list[int]) -> dict[int, str]:
    """customer id → the OpenID of one of its WeChat users holding an acceptance of the campaign
    template now (the latest to answer), for those that have one. One query."""
    from customers.models import Customer, Visitor
    from notifications.models import SubscribeConsent

    holder = (SubscribeConsent.objects.filter(template=TEMPLATE, available__gt=0,
                                              openid__in=Visitor.objects.filter(customer_id=OuterRef(OuterRef("pk")))
                                              .values("openid"))
              .order_by("-last_result_at", "-pk").values("openid")[:1])
    rows = Customer.objects.filter(pk__in=customer_ids).annotate(openid=Subquery(holder)).values_list("pk", "openid")
    return {pk: openid for pk, openid in rows if openid}


def _mark(recipient_ids, status: str, **also) -> None:
    if recipient_ids:
        CampaignRecipient.objects.filter(pk__in=sorted(recipient_ids), status=Status.SELECTED).update(
            status=status, **also)


def _issue_coupons(campaign: Campaign, customer_ids: list[int]) -> None:
    from coupons.services import coupons_issue

    if not customer_ids or campaign.coupon_template_id is None:
        return
    try:
        with transaction.atomic():
            issue = coupons_issue(template_id=campaign.coupon_template_id, customer_ids=customer_ids,
                                  audience=f"活动「{campaign.name}」", issued_by="营销活动",
                                  issue=campaign.coupon_issue)
    except ApplicationError as error:  # the template was stopped or expired since: messages still go
        logger.warning("campaign %s: coupons not issued (%s)", campaign.pk, error.message)
        return
    if campaign.coupon_issue_id is None:
        Campaign.objects.filter(pk=campaign.pk).update(coupon_issue=issue)
        campaign.coupon_issue = issue


def _subscribe_items(campaign: Campaign, rows: list[tuple[int, int]], openids: dict[int, str]) -> list[dict]:
    coupon = campaign.coupon_template.terms if campaign.coupon_template_id else "点击查看详情"
    return [{
        "event_key": f"campaign:{campaign.pk}", "recipient_kind": "customer", "recipient_id": customer_id,
        "channel": "subscribe", "template": TEMPLATE, "title": campaign.title, "body": campaign.text,
        "data": {"thing1": campaign.title, "thing2": campaign.text, "thing3": coupon},
        "link": link_path(recipient_id), "address": openids[customer_id],
    } for recipient_id, customer_id in rows]


def _notification_of_recipient(campaign: Campaign):
    """The outbox row written for a recipient of this campaign (a subquery over the recipient)."""
    from notifications.models import Notification

    return Subquery(Notification.objects.filter(
        event_key=f"campaign:{campaign.pk}", recipient_kind="customer", channel="subscribe",
        recipient_id=Cast(OuterRef("customer_id"), CharField())).values("pk")[:1])


def _process_batch(campaign: Campaign, batch: list[tuple[int, int, int | None]], *, cap: int, month) -> None:
    """One batch, its locks in LOCK_ORDER: the cap's counters, the coupon template (issuing), then
    the outbox rows (inserted) and last the recipients' rows."""
    recipient_of = {customer_id: recipient_id for recipient_id, customer_id, _ in batch}
    subscribe = campaign.channel == Campaign.Channel.SUBSCRIBE
    if subscribe:
        openids = _openids_with_consent(list(recipient_of))
        candidates = [pk for pk in recipient_of if pk in openids]
        unreachable, reached_status = Status.NO_CONSENT, Status.QUEUED
    else:
        openids = {}
        candidates = [customer_id for _, customer_id, rep_id in batch if rep_id is not None]
        unreachable, reached_status = Status.NO_REP, Status.PENDING
    taken = _cap_take(candidates, month=month, cap=cap)
    _issue_coupons(campaign, sorted(taken))
    if subscribe and taken:
        from notifications.services import notify_many

        notify_many(_subscribe_items(campaign, [(recipient_of[pk], pk) for pk in sorted(taken)], openids))
    _mark([recipient_of[pk] for pk in set(recipient_of) - set(candidates)], unreachable)
    _mark([recipient_of[pk] for pk in set(candidates) - taken], Status.SKIPPED_CAP)
    reached = [recipient_of[pk] for pk in taken]
    if subscribe:
        _mark(reached, reached_status, notification=_notification_of_recipient(campaign))
    else:
        _mark(reached, reached_status)


def campaign_send_process(*, campaign_id: int, batch_size: int = BATCH) -> str:
    """The task's work: every recipient still `selected`, batch by batch; then the campaign is
    sent. Safe to run again at any point (what a batch did is committed with its state)."""
    cap = CampaignSettings.current().monthly_cap
    after = 0  # batches go up in customer order: the next starts past the last (keyset, no rescans)
    while True:
        with transaction.atomic():
            campaign = (Campaign.objects.select_for_update(of=("self",)).select_related("coupon_template", "coupon_issue")
                        .filter(pk=campaign_id).first())
            if campaign is None or campaign.status != Campaign.Status.SENDING:
                return "not_sending"
            batch = list(CampaignRecipient.objects.filter(campaign=campaign, status=Status.SELECTED,
                                                          customer_id__gt=after)
                         .order_by("customer_id").values_list("pk", "customer_id", "rep_id")[:batch_size])
            if not batch:
                Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENT, sent_at=timezone.now())
                return "sent"
            _process_batch(campaign, batch, cap=cap, month=month_of(campaign.send_requested_at or timezone.now()))
            after = batch[-1][1]


def campaigns_resume() -> int:
    """The periodic sweep: any campaign left `sending` (its task lost with the broker) is finished."""
    done = 0
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING).values_list("pk", flat=True):
        campaign_send_process(campaign_id=campaign_id)
        done += 1
    return done


# --- rep tasks -------------------------------------------------------------------------------

def recipient_mark_sent(*, rep, recipient_id: int) -> CampaignRecipient:
    """The rep sent a rep task's message from their phone. Only a task of the rep's own customer
    (another's, or no task, is not found); marking it again changes nothing."""
    rows = CampaignRecipient.objects.filter(
        pk=recipient_id, customer__rep=rep, campaign__channel=Campaign.Channel.REP_TASK,
        status__in=[Status.PENDING, Status.SENT])
    if not rows.exists():
        raise NotFound("任务不存在或不归您负责", code="campaign_task_not_found")
    rows.filter(status=Status.PENDING).update(status=Status.SENT, sent_at=timezone.now())
    return CampaignRecipient.objects.select_related("campaign", "customer").get(pk=recipient_id)
