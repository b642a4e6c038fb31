"""Which language a text is in, as far as Triple cares: Korean or English."""
from __future__ import annotations


def is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e"


def detect_language(text: str) -> str:
    """'ko' when Hangul makes up a meaningful share of the letters, else 'en'."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "ko"
    hangul = sum(1 for ch in letters if is_hangul(ch))
    return "ko" if hangul / len(letters) >= 0.2 else "en"
