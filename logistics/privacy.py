"""What drivers and warehouse staff see of a customer.

Drivers and clerks never see a customer's phone number: not the phone field, and not digits the
customer typed into the restaurant name, contact, district, address or note ("湘味小馆 13800138000",
"到了打 138-0013-8000"). `mask_phones_in` is the one function for that text; `mask_phone` shows
the phone field itself the usual way (138****8000). Back-office staff who may read orders
(`may_see_customer_phones`) get the full text; everyone else gets `customer_fields(full=False)`.

A delivery stop's customer data leaves the driver's pages 24 hours after the stop was completed
(delivered or failed): the stop stays listed — the driver's record of the day's work, its
products, status and time — but name, contact, phone, district, address, note, the proof (who
signed) and the navigation link are gone. The office still has them in the back office.
"""

import re
from datetime import datetime, timedelta

from django.utils import timezone

CUSTOMER_DATA_RETENTION = timedelta(hours=24)
HIDDEN_CUSTOMER = "（客户信息已隐藏）"
CUSTOMER_TEXT_FIELDS = ("restaurant_name", "contact_name", "district", "address", "note")

# Numbers in free text, most specific first so they read the usual way: mobiles (139****5678),
# landlines with an area code (0755****1234); then any other run of 7 or more digits, which may
# be split by spaces, dashes, dots or brackets ("8600 1234", "(0755)8600.1234", full-width digits
# too), keeps only its last two. A date with the year ("2026-12-06") is hidden too: erring that
# way costs a driver nothing. Digits glued to a Latin letter are a code (order D1000001,
# SF2603010001), not a phone, and stay; a mobile or landline is masked even there.
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?\d{4}[- ]?(\d{4})(?!\d)")
_LANDLINE_IN_TEXT = re.compile(r"(?<!\d)(0\d{2,3})[- ]?\d{3,4}(\d{4})(?!\d)")
_SEPARATOR = r"[\s\-‐‑–—－.．·()（）/]{1,3}"
_DIGIT_RUN = re.compile(rf"(?<![A-Za-z\d])\d(?:(?:{_SEPARATOR})?\d)+")
MIN_HIDDEN_DIGITS = 7


def _mask_run(match: re.Match) -> str:
    run = match.group(0)
    digits = [c for c in run if c.isdigit()]
    if len(digits) < MIN_HIDDEN_DIGITS:
        return run
    return "****" + "".join(digits[-2:])


def mask_phones_in(text: str | None) -> str:
    """Customer text with every phone-like run of digits masked (see the module docstring)."""
    text = _MOBILE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text or "")
    text = _LANDLINE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
    return _DIGIT_RUN.sub(_mask_run, text)


def mask_phone(phone: str | None) -> str:
    """138****1234: the first three and last four digits of a number; shorter ones keep two."""
    text = re.sub(r"\s+", "", phone or "")
    if not text:
        return ""
    if len(text) >= 8:
        return f"{text[:3]}****{text[-4:]}"
    return "*" * max(len(text) - 2, 1) + text[-2:]


def may_see_customer_phones(user) -> bool:
    """Back-office staff who may read orders (in admin they see them anyway); not drivers or clerks."""
    return bool(user and user.is_authenticated and user.is_active and user.is_staff
                and user.has_perm("orders.view_order"))


def customer_fields(order, *, full: bool) -> dict:
    """The customer's text on an order as a driver or clerk may see it (full: back-office staff)."""
    if full:
        fields = {name: getattr(order, name) or "" for name in CUSTOMER_TEXT_FIELDS}
        return {**fields, "phone": order.phone or ""}
    fields = {name: mask_phones_in(getattr(order, name)) for name in CUSTOMER_TEXT_FIELDS}
    return {**fields, "phone": mask_phone(order.phone)}


def customer_data_expired(completed_at: datetime | None, *, now: datetime | None = None) -> bool:
    """Completed more than 24 hours ago: the driver's pages no longer show who the customer was."""
    return completed_at is not None and (now or timezone.now()) - completed_at > CUSTOMER_DATA_RETENTION


def hidden_customer_fields() -> dict:
    return {**{name: "" for name in CUSTOMER_TEXT_FIELDS}, "restaurant_name": HIDDEN_CUSTOMER, "phone": ""}


def customer_fields_for(order, *, user) -> dict:
    """customer_fields as this user may see them: full for back-office staff, masked otherwise."""
    return customer_fields(order, full=may_see_customer_phones(user))
