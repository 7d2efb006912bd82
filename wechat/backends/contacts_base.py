"""WeCom customer contact beyond codes: a customer's profile, and moving customers between members.

- `wecom_external_contact` (externalcontact/get): the customer's name, unionid (only when the
  mini program and WeCom share an Open Platform account) and the mobile numbers members noted
  on them (`follow_user[].remark_mobiles`); what `reps.wecom_links` matches restaurants with.
- `wecom_transfer_customers` (在职继承 externalcontact/transfer_customer, or 离职继承
  externalcontact/resigned/transfer_customer): ≤100 customers a call; WeCom answers an errcode per
  customer; the move completes after 24 hours unless the customer refuses.
- `wecom_transfer_result` (…/transfer_result): per customer 1 done, 2 waiting, 3 refused by
  the customer, 4 taker at their customer limit, 5 no transfer record; paged by cursor.

Both backends validate input here with the same rules before anything else happens.
"""

from dataclasses import dataclass

from core.errors import ValidationFailed

from .codes_base import WECOM_USER_ID

TRANSFER_BATCH_MAX = 100
TRANSFER_MESSAGE_MAX_LENGTH = 200
EXTERNAL_USERID_MAX_LENGTH = 64
# transfer_result's status codes.
TRANSFER_DONE, TRANSFER_WAITING, TRANSFER_REFUSED, TRANSFER_TAKER_LIMIT, TRANSFER_NO_RECORD = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class ExternalContact:
    external_userid: str
    name: str = ""
    unionid: str = ""
    phones: tuple[str, ...] = ()


@dataclass(frozen=True)
class TransferStatus:
    external_userid: str
    status: int
    takeover_time: int | None = None


def validate_external_userid(value: object) -> str:
    if (not isinstance(value, str) or not value or len(value) > EXTERNAL_USERID_MAX_LENGTH
            or not all("!" <= ch <= "~" for ch in value)):
        raise ValidationFailed("外部联系人 ID 无效", code="invalid_external_userid")
    return value


def validate_transfer(*, handover_userid: object, takeover_userid: object, external_userids: object,
                      message: object = "") -> list[str]:
    for user_id in (handover_userid, takeover_userid):
        if not isinstance(user_id, str) or not WECOM_USER_ID.match(user_id):
            raise ValidationFailed("企业微信成员账号须为 1-64 个字母、数字或 _-@.", code="invalid_user_ids")
    if handover_userid == takeover_userid:
        raise ValidationFailed("原跟进成员与接替成员不能相同", code="same_member")
    if isinstance(external_userids, str) or not isinstance(external_userids, (list, tuple)) or not external_userids:
        raise ValidationFailed("请至少指定一位客户", code="invalid_external_userid")
    if len(external_userids) > TRANSFER_BATCH_MAX:
        raise ValidationFailed(f"每次最多转接 {TRANSFER_BATCH_MAX} 位客户", code="too_many_customers")
    if not isinstance(message, str) or len(message) > TRANSFER_MESSAGE_MAX_LENGTH:
        raise ValidationFailed(f"转接提示语不能超过 {TRANSFER_MESSAGE_MAX_LENGTH} 个字", code="invalid_message")
    return [validate_external_userid(value) for value in dict.fromkeys(external_userids)]


class ContactsMixin:
    def wecom_available(self) -> bool:
        """Whether WeCom can be called at all (real: WECOM_CORP_ID and WECOM_SECRET are set)."""
        return True

    def wecom_external_contact(self, *, external_userid: str) -> ExternalContact | None:
        """The customer's profile, or None when WeCom does not know them (84061 not a customer)."""
        raise NotImplementedError

    def wecom_transfer_customers(self, *, handover_userid: str, takeover_userid: str, external_userids: list[str],
                                 resigned: bool = False, message: str = "") -> dict[str, int]:
        """Start moving ≤100 customers; {external_userid: errcode} (0 = the 24-hour handover started)."""
        raise NotImplementedError

    def wecom_transfer_result(self, *, handover_userid: str, takeover_userid: str, resigned: bool = False,
                              cursor: str = "") -> tuple[list[TransferStatus], str]:
        """One page of the transfer statuses between two members, and the next cursor ("" at the end)."""
        raise NotImplementedError
