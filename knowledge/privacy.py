"""Mask personal data residents type: ID numbers, mobile numbers, bank cards.

Used before anything a resident wrote is stored (unanswered-questions inbox,
and later the tracker store and logs).
"""

from __future__ import annotations

import re

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_CANDIDATE = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)")
_BANK_CARD = re.compile(r"(?<!\d)\d{4}(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?(?!\d)")


def is_valid_id_number(value: str) -> bool:
    """Checksum of a mainland resident ID number (GB 11643)."""
    if not re.fullmatch(r"\d{17}[\dXx]", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def mask_personal_data(text: str) -> str:
    text = _ID_CANDIDATE.sub(lambda m: "[身份证号]" if is_valid_id_number(m.group()) else m.group(), text)
    text = _MOBILE.sub("[手机号]", text)

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        return "[银行卡号]" if 16 <= len(digits) <= 19 and _luhn_ok(digits) else m.group()

    return _BANK_CARD.sub(card, text)
