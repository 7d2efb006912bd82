"""Search keys for products: name, SKU code, full pinyin and pinyin initials.

Keys are computed once on save, so a search is a single indexed `LIKE` on one column.
"""

import re

from pypinyin import Style, lazy_pinyin

_NON_WORD = re.compile(r"[\s\-_/·()（）【】\[\],，.。]+")


def normalize_query(text: str) -> str:
    return _NON_WORD.sub("", (text or "").strip().lower())


def pinyin_full(text: str) -> str:
    return "".join(lazy_pinyin(text, style=Style.NORMAL, errors="default")).lower()


def pinyin_initials(text: str) -> str:
    return "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")).lower()


def build_search_key(*, name: str, code: str) -> str:
    """One lower-case string holding every form a buyer may type, separated by `|`."""
    compact = normalize_query(name)
    return "|".join([compact, code.lower(), pinyin_full(compact), pinyin_initials(compact)])
