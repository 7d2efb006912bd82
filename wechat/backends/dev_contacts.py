"""The dev WeCom's customers: profiles and transfers, kept as `DevMessage` rows.

A profile is written when someone "adds" a rep through the dev contact-me page
(`wechat.views.dev_wecom_add`), as WeCom would know the customer from then on. A transfer is
recorded when asked for and reported done on the next poll: dev has no 24-hour wait and no
customer to refuse, except that a customer already transferred twice in the last 90 days is
answered `DEV_TRANSFER_LIMIT_ERRCODE` for that customer (WeCom refuses them one by one too).
"""

import datetime as dt

from django.utils import timezone

from ..models import DevMessage
from .contacts_base import (
    TRANSFER_DONE, ContactsMixin, ExternalContact, TransferStatus, validate_external_userid, validate_transfer,
)

DEV_TRANSFER_LIMIT_ERRCODE = 40131
_LIMIT_WINDOW = dt.timedelta(days=90)


def dev_wecom_profile_save(*, external_userid: str, name: str, unionid: str = "", phones: tuple[str, ...] = ()):
    DevMessage.objects.update_or_create(
        kind=DevMessage.Kind.WECOM_CONTACT, to=external_userid,
        defaults={"data": {"name": name, "unionid": unionid, "phones": list(phones)}, "text": name},
    )


class DevContactsMixin(ContactsMixin):
    def wecom_external_contact(self, *, external_userid):
        validate_external_userid(external_userid)
        row = DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_CONTACT, to=external_userid).first()
        if row is None:
            return None
        data = row.data or {}
        return ExternalContact(external_userid=external_userid, name=str(data.get("name", ""))[:64],
                               unionid=str(data.get("unionid", ""))[:64],
                               phones=tuple(str(p) for p in data.get("phones", []))[:5])

    def wecom_transfer_customers(self, *, handover_userid, takeover_userid, external_userids, resigned=False,
                                 message=""):
        ids = validate_transfer(handover_userid=handover_userid, takeover_userid=takeover_userid,
                                external_userids=external_userids, message=message)
        since = timezone.now() - _LIMIT_WINDOW
        answers = {}
        for external_userid in ids:
            if DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_TRANSFER, to=external_userid,
                                         created_at__gte=since).count() >= 2:
                answers[external_userid] = DEV_TRANSFER_LIMIT_ERRCODE
                continue
            DevMessage.objects.create(kind=DevMessage.Kind.WECOM_TRANSFER, to=external_userid, text=message,
                                      data={"handover": handover_userid, "takeover": takeover_userid,
                                            "resigned": bool(resigned)})
            answers[external_userid] = 0
        return answers

    def wecom_transfer_result(self, *, handover_userid, takeover_userid, resigned=False, cursor=""):
        rows = DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_TRANSFER, data__handover=handover_userid,
                                         data__takeover=takeover_userid, data__resigned=bool(resigned))
        return [TransferStatus(external_userid=row.to, status=TRANSFER_DONE,
                               takeover_time=int(row.created_at.timestamp())) for row in rows.order_by("id")], ""
