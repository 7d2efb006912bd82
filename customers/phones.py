"""A customer's phone number in one canonical form: one number, one restaurant.

The number is the restaurant's identity (a second WeChat user authorising the same phone joins
that restaurant), so the same number typed two ways must be stored the same way: the database's
unique constraint on Customer.phone then makes a second restaurant for it impossible.
"""

import re
import unicodedata

# What people put between digits: spaces, dashes, dots, brackets (ASCII or full-width after NFKC).
_SEPARATORS = re.compile(r"[\s\-.()]+")
# A mainland mobile with the country code in front: +86 / 0086 / 86 followed by 1[3-9] and 9 digits.
_MOBILE_WITH_COUNTRY_CODE = re.compile(r"^(?:\+|00)?86(1[3-9]\d{9})$")


def phone_normalize(raw: str | None) -> str:
    """'+86 138-1234-5678' and '１３８ １２３４ ５６７８' → '13812345678'; '0755-8888 1234' → '075588881234'.

    Full-width characters become ASCII, separators go, and a mainland mobile loses its country
    code. Anything else is kept as typed (a landline keeps its area code).
    """
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw or ""))
    match = _MOBILE_WITH_COUNTRY_CODE.match(text)
    return match.group(1) if match else text
