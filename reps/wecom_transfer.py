"""Moving a leaving rep's WeCom customers to the taker at a handover (README "WeCom transfer").

- Planned in the handover's transaction (`wecom_transfers_plan`): the leaving rep's active WeCom
  contacts (all of them when all customers move, else those linked to the moved restaurants), one
  `WeComTransfer` each, when both reps have a WeCom account. A customer already transferred
  TRANSFER_LIMIT times in the last TRANSFER_WINDOW (WeCom: 2 in 90 days) is marked `over_limit`
  and never sent: the limit is checked before WeCom is asked.
- Submitted after commit (`wecom_transfers_submit`, a Celery task): ≤100 customers per call,
  in-service `transfer_customer`, or the resigned endpoints when the leaving rep is deactivated.
  Rows are claimed (submitted_at) before the call, so two runs never send one twice; a claim
  older than RESUBMIT_AFTER with no answer (a crash) is sent again by the sweep.
- Polled (`wecom_transfers_poll`, periodic): `transfer_result` per pair of members, each customer
  waiting → done / refused by the customer / taker over their limit. The `transfer_fail`
  callback says the same sooner. A done transfer moves the contact to the taker (history kept:
  the leaving rep's row becomes `transferred`).
"""

from __future__ import annotations

import datetime as dt
import logging
from itertools import islice

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from core.errors import ApplicationError
from wechat.backends import get_backend
from wechat.backends.contacts_base import (
    TRANSFER_BATCH_MAX, TRANSFER_DONE, TRANSFER_REFUSED, TRANSFER_TAKER_LIMIT,
)

from .models import Handover, Rep, WeComContact, WeComTransfer

logger = logging.getLogger("reps")

TRANSFER_LIMIT = 2
TRANSFER_WINDOW = dt.timedelta(days=90)
RESUBMIT_AFTER = dt.timedelta(minutes=10)
# Statuses WeCom accepted (errcode 0): these count towards its 2-in-90-days limit.
ACCEPTED = (WeComTransfer.Status.WAITING, WeComTransfer.Status.DONE, WeComTransfer.Status.REFUSED,
            WeComTransfer.Status.TAKER_LIMIT)
RESULT_STATUS = {TRANSFER_DONE: WeComTransfer.Status.DONE, TRANSFER_REFUSED: WeComTransfer.Status.REFUSED,
                 TRANSFER_TAKER_LIMIT: WeComTransfer.Status.TAKER_LIMIT}
FAIL_REASON_STATUS = {"customer_refused": WeComTransfer.Status.REFUSED,
                      "customer_limit_exceed": WeComTransfer.Status.TAKER_LIMIT}


def wecom_transfers_plan(*, handover: Handover, from_rep: Rep, to_rep: Rep, customer_ids: list[int] | None,
                         resigned: bool, now: dt.datetime | None = None) -> int:
    """Inside the handover's transaction: one row per WeCom customer to move. Returns how many."""
    if (not from_rep.wecom_user_id or not to_rep.wecom_user_id or from_rep.wecom_user_id == to_rep.wecom_user_id
            or not get_backend().wecom_available()):
        return 0
    now = now or timezone.now()
    contacts = WeComContact.objects.filter(rep=from_rep, status=WeComContact.Status.ACTIVE)
    if customer_ids is not None:
        contacts = contacts.filter(customer_id__in=customer_ids)
    contacts = list(contacts.order_by("pk").values_list("pk", "external_userid"))
    recent = dict(
        WeComTransfer.objects.filter(external_userid__in=[ext for _, ext in contacts], status__in=ACCEPTED,
                                     submitted_at__gte=now - TRANSFER_WINDOW)
        .values("external_userid").annotate(n=Count("id")).values_list("external_userid", "n"))
    rows = [WeComTransfer(
        handover=handover, contact_id=pk, external_userid=ext, handover_userid=from_rep.wecom_user_id,
        takeover_userid=to_rep.wecom_user_id, resigned=resigned,
        status=WeComTransfer.Status.OVER_LIMIT if recent.get(ext, 0) >= TRANSFER_LIMIT else WeComTransfer.Status.PENDING,
    ) for pk, ext in contacts]
    WeComTransfer.objects.bulk_create(rows)
    return len(rows)


def _batches(items, size):
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def wecom_transfers_submit(*, handover_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Send pending transfers (of one handover, or all) to WeCom; returns how many were answered."""
    now = now or timezone.now()
    pending = WeComTransfer.objects.filter(
        Q(submitted_at__isnull=True) | Q(submitted_at__lt=now - RESUBMIT_AFTER), status=WeComTransfer.Status.PENDING)
    if handover_id is not None:
        pending = pending.filter(handover_id=handover_id)
    groups: dict[tuple[str, str, bool], list[int]] = {}
    for pk, handover_userid, takeover_userid, resigned in pending.order_by("pk").values_list(
            "pk", "handover_userid", "takeover_userid", "resigned"):
        groups.setdefault((handover_userid, takeover_userid, resigned), []).append(pk)
    answered = 0
    for (handover_userid, takeover_userid, resigned), ids in groups.items():
        for batch in _batches(ids, TRANSFER_BATCH_MAX):
            answered += _submit_batch(batch, handover_userid, takeover_userid, resigned, now)
    return answered


def _submit_batch(ids: list[int], handover_userid: str, takeover_userid: str, resigned: bool,
                  now: dt.datetime) -> int:
    with transaction.atomic():
        claimed = list(WeComTransfer.objects.select_for_update(skip_locked=True).filter(
            Q(submitted_at__isnull=True) | Q(submitted_at__lt=now - RESUBMIT_AFTER),
            pk__in=ids, status=WeComTransfer.Status.PENDING).order_by("pk"))
        WeComTransfer.objects.filter(pk__in=[t.pk for t in claimed]).update(submitted_at=now)
    if not claimed:
        return 0
    try:
        answers = get_backend().wecom_transfer_customers(
            handover_userid=handover_userid, takeover_userid=takeover_userid,
            external_userids=[t.external_userid for t in claimed], resigned=resigned,
            message=settings.WECOM_TRANSFER_MESSAGE[:200])
    except ApplicationError as error:
        # The whole call refused or WeCom unreachable: left pending (claimed), the sweep resends.
        logger.warning("WeCom transfer %s → %s not sent: %s %s", handover_userid, takeover_userid, error.code,
                       error.details)
        return 0
    for transfer in claimed:
        errcode = answers.get(transfer.external_userid)
        if errcode is None:
            continue  # no word on this one: pending, resent after RESUBMIT_AFTER
        status = WeComTransfer.Status.WAITING if errcode == 0 else WeComTransfer.Status.FAILED
        WeComTransfer.objects.filter(pk=transfer.pk, status=WeComTransfer.Status.PENDING).update(
            status=status, errcode=errcode or None)
    return len(answers)


def wecom_transfers_poll(*, now: dt.datetime | None = None) -> int:
    """Resend what is pending, then ask WeCom how each waiting transfer went. Returns how many finished."""
    wecom_transfers_submit(now=now)
    pairs = (WeComTransfer.objects.filter(status=WeComTransfer.Status.WAITING)
             .values_list("handover_userid", "takeover_userid", "resigned").distinct())
    finished = 0
    for handover_userid, takeover_userid, resigned in list(pairs):
        cursor, pages = "", 0
        while True:
            try:
                statuses, cursor = get_backend().wecom_transfer_result(
                    handover_userid=handover_userid, takeover_userid=takeover_userid, resigned=resigned,
                    cursor=cursor)
            except ApplicationError as error:
                logger.warning("WeCom transfer result %s → %s not read: %s", handover_userid, takeover_userid,
                               error.code)
                break
            for item in statuses:
                status = RESULT_STATUS.get(item.status)
                if status is None:
                    continue
                when = (dt.datetime.fromtimestamp(item.takeover_time, tz=dt.timezone.utc) if item.takeover_time
                        else now or timezone.now())
                finished += wecom_transfer_finish(handover_userid=handover_userid, takeover_userid=takeover_userid,
                                                  external_userid=item.external_userid, status=status, when=when)
            pages += 1
            if not cursor or pages >= 100:
                break
    return finished


@transaction.atomic
def wecom_transfer_finish(*, handover_userid: str, takeover_userid: str, external_userid: str, status: str,
                          when: dt.datetime) -> int:
    """A waiting transfer ended (`status`); a done one moves the contact to the taker. Safe to repeat."""
    transfers = list(WeComTransfer.objects.select_for_update().filter(
        handover_userid=handover_userid, takeover_userid=takeover_userid, external_userid=external_userid,
        status=WeComTransfer.Status.WAITING).select_related("contact", "handover__to_rep").order_by("pk"))
    for transfer in transfers:
        transfer.status, transfer.finished_at = status, when
        transfer.save(update_fields=["status", "finished_at"])
        if status == WeComTransfer.Status.DONE:
            _move_contact(transfer.contact, transfer.handover.to_rep, when)
    return len(transfers)


def _move_contact(contact: WeComContact, to_rep: Rep, when: dt.datetime) -> None:
    taken, created = WeComContact.objects.select_for_update().get_or_create(
        rep=to_rep, external_userid=contact.external_userid,
        defaults={"state": contact.state, "added_at": when, "customer_id": contact.customer_id, "name": contact.name,
                  "unionid": contact.unionid, "phone": contact.phone},
    )
    if not created and taken.status != WeComContact.Status.ACTIVE:
        taken.status, taken.added_at, taken.removed_at = WeComContact.Status.ACTIVE, when, None
        taken.save(update_fields=["status", "added_at", "removed_at"])
    WeComContact.objects.filter(pk=contact.pk, status=WeComContact.Status.ACTIVE).update(
        status=WeComContact.Status.TRANSFERRED, removed_at=when)


def wecom_transfer_failed(*, takeover_userid: str, external_userid: str, fail_reason: str, when: dt.datetime) -> int:
    """The `transfer_fail` callback (its UserID is the taker), inside its recording transaction."""
    status = FAIL_REASON_STATUS.get(fail_reason)
    if status is None or not takeover_userid:
        return 0
    return WeComTransfer.objects.filter(takeover_userid=takeover_userid, external_userid=external_userid,
                                        status=WeComTransfer.Status.WAITING).update(status=status, finished_at=when)
