"""Masking of personal data in text: e-mail addresses, phone numbers, Korean resident registration
numbers and payment card numbers.

Used on every log line and, when `AUDIT_MASK_PII=true`, on questions before they are stored. Patterns
are applied most specific first, so a resident registration number is never half-eaten by the phone
pattern. Card numbers must pass the Luhn check: order numbers and timestamps stay readable.
"""
from __future__ import annotations

import re

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
RRN = "[RRN]"
CARD = "[CARD]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# YYMMDD-GNNNNNN; the seventh digit encodes century and sex (1-8, foreigners 5-8).
_RRN = re.compile(r"(?<!\d)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?-?\s?[1-8]\d{6}(?!\d)")
_CARD = re.compile(r"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)")
_PHONE = re.compile(
    r"(?<![\d\w])(?:"
    r"\+\d{1,3}[ .\-]?(?:\(?\d{1,4}\)?[ .\-]?)?\d{3,4}[ .\-]?\d{4}"  # +82 10-1234-5678, +1 415 555 0101
    r"|01[016789][ .\-]?\d{3,4}[ .\-]?\d{4}"  # Korean mobile, with or without separators
    r"|(?:\(0\d{1,2}\)\s?|0\d{1,2}[ .\-])\d{3,4}[ .\-]\d{4}"  # Korean landline: 02-555-0101, (031) 123-4567
    r"|1[5-8]\d{2}-\d{4}"  # Korean nationwide numbers: 1588-1234
    r"|\(\d{3}\)\s?\d{3}-\d{4}"  # (415) 555-0101
    r")(?!\d)"
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return CARD if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def mask_pii(text: str) -> str:
    """The text with e-mails, phone numbers, resident registration numbers and card numbers replaced
    by `[EMAIL]`, `[PHONE]`, `[RRN]` and `[CARD]`."""
    if not text:
        return text
    text = _EMAIL.sub(EMAIL, text)
    text = _RRN.sub(RRN, text)
    text = _CARD.sub(_card, text)
    return _PHONE.sub(PHONE, text)


def contains_pii(text: str) -> bool:
    return mask_pii(text) != text
