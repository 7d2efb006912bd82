"""Reps' WeCom contacts: recording what WeCom's `change_external_contact` callbacks say.

The callback's crypto and XML live in `wechat.wecom_callback`; this is the rule of what an
accepted event changes (README "WeCom callback"):

- The rep is the one whose `wecom_user_id` is the event's `UserID`; for `add_external_contact`
  a `State` equal to a rep key (the contact-me code's state) names the rep when `UserID` does not.
  An event for no known rep is logged and changes no contact.
- `add_external_contact` creates or reopens the rep's contact (status active, `State`, time);
  `del_external_contact` (the rep removed the customer) and `del_follow_user` (the customer
  removed the rep) close it with the time; `transfer_fail` notes `FailReason` on the contact.
  An event older than the contact's last change (WeCom retries arrive late) is logged only.
- Each event is stored once under its dedupe key (MsgId, else member + customer + change +
  CreateTime): a duplicate changes nothing. Concurrent duplicates meet on the unique key.
- Welcome: an add carrying a `WelcomeCode` that was recorded (never a duplicate) sends the
  configured welcome through WeCom with `welcome_send`, called by the callback view right after
  the recording commits (WeCom allows 20 seconds; no network inside the transaction); 41051 is
  a success. The result is kept on the event row.
- `customer` (the restaurant) is linked by `reps.wecom_links` after the welcome: WeCom's event
  carries neither phone nor unionid, so the view then fetches the customer's WeCom profile.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from core.errors import ApplicationError
from wechat.backends import get_backend
from wechat.wecom_callback import CHANGE_TYPES, WeComEvent

from .models import Rep, WeComContact, WeComContactEvent
from .wecom_transfer import wecom_transfer_failed

logger = logging.getLogger("reps")

RECORDED, DUPLICATE, IGNORED, UNKNOWN_REP, STALE = "recorded", "duplicate", "ignored", "unknown_rep", "stale"


def _rep_for(event: WeComEvent) -> Rep | None:
    if event.user_id:
        rep = Rep.objects.filter(wecom_user_id=event.user_id).order_by("id").first()
        if rep is not None:
            return rep
    if event.change_type == "add_external_contact" and event.state:
        return Rep.objects.filter(key=event.state.upper()).first()
    return None


def _last_change(contact: WeComContact) -> dt.datetime:
    return max(contact.added_at, contact.removed_at) if contact.removed_at else contact.added_at


def _apply(event: WeComEvent, rep: Rep, when: dt.datetime) -> tuple[str, WeComContact | None]:
    contacts = WeComContact.objects.select_for_update()
    if event.change_type == "add_external_contact":
        contact, created = contacts.get_or_create(
            rep=rep, external_userid=event.external_userid,
            defaults={"state": event.state, "added_at": when},
        )
        if created:
            return RECORDED, contact
        if when <= _last_change(contact):
            return STALE, contact
        contact.status, contact.state, contact.added_at, contact.removed_at = (
            WeComContact.Status.ACTIVE, event.state, when, None)
        contact.save(update_fields=["status", "state", "added_at", "removed_at"])
        return RECORDED, contact
    contact = contacts.filter(rep=rep, external_userid=event.external_userid).first()
    if contact is None:
        return STALE, None
    if event.change_type == "transfer_fail":
        contact.transfer_fail_reason = event.fail_reason
        contact.save(update_fields=["transfer_fail_reason"])
        return RECORDED, contact
    if when < _last_change(contact):
        return STALE, contact
    contact.status = (WeComContact.Status.REMOVED_BY_REP if event.change_type == "del_external_contact"
                      else WeComContact.Status.REMOVED_BY_CUSTOMER)
    contact.removed_at = when
    contact.save(update_fields=["status", "removed_at"])
    return RECORDED, contact


@transaction.atomic
def wecom_event_record(event: WeComEvent) -> tuple[str, WeComContact | None]:
    """Record one verified event; (outcome, the contact it touched or None)."""
    if event.event != "change_external_contact" or event.change_type not in CHANGE_TYPES or not event.external_userid:
        logger.info("WeCom callback: %s/%s not handled", event.event, event.change_type)
        return IGNORED, None
    when = dt.datetime.fromtimestamp(event.create_time, tz=dt.timezone.utc)
    rep = _rep_for(event)
    try:
        with transaction.atomic():
            log = WeComContactEvent.objects.create(
                dedupe_key=event.dedupe_key[:200], change_type=event.change_type, user_id=event.user_id,
                external_userid=event.external_userid, state=event.state, fail_reason=event.fail_reason,
                has_welcome_code=bool(event.welcome_code), event_time=when, rep=rep,
            )
    except IntegrityError:
        return DUPLICATE, None
    if event.change_type == "transfer_fail":
        # UserID is the taker of a handover's transfer (reps.wecom_transfer).
        wecom_transfer_failed(takeover_userid=event.user_id, external_userid=event.external_userid,
                              fail_reason=event.fail_reason, when=when)
    if rep is None:
        logger.warning("WeCom callback %s for unknown member %r (state %r)", event.change_type, event.user_id,
                       event.state)
        return UNKNOWN_REP, None
    outcome, contact = _apply(event, rep, when)
    if contact is not None:
        log.contact = contact
        log.save(update_fields=["contact"])
    return outcome, contact


def welcome_text(rep: Rep) -> str:
    return settings.WECOM_WELCOME_TEXT.replace("{rep_name}", rep.name)


def welcome_send(event: WeComEvent, contact: WeComContact) -> str:
    """Send the welcome for a just-recorded add (outside any transaction); "sent", "already" or "failed"."""
    try:
        result = get_backend().send_welcome_msg(welcome_code=event.welcome_code,
                                                external_userid=event.external_userid,
                                                text=welcome_text(contact.rep))
    except ApplicationError as error:
        # Past 20 seconds the code is void: no retry would help; the mini-program welcome covers it.
        logger.warning("WeCom welcome for %s not sent: %s %s", contact.pk, error.code, error.details)
        result = "failed"
    WeComContactEvent.objects.filter(dedupe_key=event.dedupe_key[:200]).update(welcome_result=result)
    return result
