from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.db import violated_constraint
from core.errors import ValidationFailed

from wechat.backends import get_backend

from .models import CUSTOMER_PHONE_UNIQUE, Customer, Visitor
from .phones import phone_normalize
from .tokens import visitor_token_make


@dataclass(frozen=True)
class LoginResult:
    visitor: Visitor
    token: str
    created: bool


def visitor_login(*, code: str) -> LoginResult:
    """`wx.login` code → the visitor for that OpenID (created on first sight) and an API token.

    No WeChat call happens inside a transaction; `get_or_create` copes with two first logins
    of the same OpenID racing each other (the unique OpenID decides, the loser re-reads).
    """
    session = get_backend().code_to_session(code)
    visitor, created = Visitor.objects.get_or_create(
        openid=session.openid, defaults={"unionid": session.unionid, "last_seen_at": timezone.now()}
    )
    if not created:
        Visitor.objects.filter(pk=visitor.pk).update(last_seen_at=timezone.now())
    return LoginResult(visitor=visitor, token=visitor_token_make(visitor.pk), created=created)


NICKNAME_MAX = 32


def customer_bind_phone(*, visitor: Visitor, phone_code: str, nickname: str = "") -> Customer:
    """The buyer authorised their phone (at checkout): the visitor becomes, or joins, a customer.

    - First authorisation of a new phone: a new customer (restaurant) bound to this OpenID.
    - A phone that already belongs to a customer: this WeChat user joins that restaurant
      (the same restaurant ordering from a second phone or a new WeChat account).
    - A visitor already bound keeps their restaurant; a different phone is recorded on the visitor.
    The phone comes from WeChat (code → number), never from what the client types.

    One number is one restaurant even when several WeChat users authorise it at the same moment
    (a kitchen's phones all opening the shop at once): the database holds one customer per
    normalised phone, and the binds that lose the race join the winner's restaurant.
    """
    nickname = (nickname or "").strip()
    if len(nickname) > NICKNAME_MAX:
        raise ValidationFailed(f"昵称最多 {NICKNAME_MAX} 个字", code="invalid_nickname")
    phone = phone_normalize(get_backend().get_phone_number(code=phone_code, openid=visitor.openid))
    with transaction.atomic():
        locked = Visitor.objects.select_for_update().get(pk=visitor.pk)
        customer, created = locked.customer, False
        if customer is None:
            customer = Customer.objects.filter(phone=phone).first()
            if customer is None:
                customer, created = _customer_create_or_join(phone=phone, nickname=nickname,
                                                             rep_id=locked.first_rep_id)
        locked.customer = customer
        locked.phone = phone
        if nickname:
            locked.nickname = nickname
        locked.save(update_fields=["customer", "phone", "nickname", "updated_at"])
        if created:  # the restaurant's first authorisation: it is owed its welcome, once (crm.welcome)
            from crm.welcome import welcome_owe

            welcome_owe(customer=customer, visitor=locked)
        # A rep's WeCom contact carrying this phone or unionid is this restaurant (README "WeCom contacts").
        from reps.wecom_links import wecom_contacts_link_customer

        wecom_contacts_link_customer(customer=customer, unionid=locked.unionid)
    visitor.customer, visitor.phone, visitor.nickname = customer, phone, locked.nickname
    return customer


def _customer_create_or_join(*, phone: str, nickname: str, rep_id: int | None) -> tuple[Customer, bool]:
    """A new restaurant for this phone, credited to the rep whose code first brought this user in;
    or, if another first authorisation of the number committed since we looked, that restaurant.
    Returns (customer, created)."""
    try:
        with transaction.atomic():  # a savepoint: losing the race leaves the caller's transaction usable
            return Customer.objects.create(
                name=nickname or "微信用户", contact_name=nickname, phone=phone, rep_id=rep_id,
                acquired_by_id=rep_id, acquired_at=timezone.now() if rep_id else None,
            ), True
    except IntegrityError as error:
        if violated_constraint(error) != CUSTOMER_PHONE_UNIQUE:
            raise
    # The insert waited for the winner's commit, so this read (a new snapshot) sees its row.
    return Customer.objects.get(phone=phone), False
