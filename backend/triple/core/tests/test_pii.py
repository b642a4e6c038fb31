"""Personal data masking: what is masked, and what must stay readable."""
from __future__ import annotations

import pytest

from triple.core.pii import contains_pii, mask_pii


@pytest.mark.parametrize(("text", "masked"), [
    ("메일 kim.minsu@example.co.kr 로 주세요", "메일 [EMAIL] 로 주세요"),
    ("연락처 010-1234-5678", "연락처 [PHONE]"),
    ("01012345678로 전화", "[PHONE]로 전화"),
    ("매장 02-555-0101", "매장 [PHONE]"),
    ("경기 031-123-4567", "경기 [PHONE]"),
    ("+82 10-1234-5678", "[PHONE]"),
    ("call (415) 555-0101", "call [PHONE]"),
    ("고객센터 1588-1234", "고객센터 [PHONE]"),
    ("주민번호 900101-1234567", "주민번호 [RRN]"),
    ("9001012234567", "[RRN]"),
    ("카드 4111 1111 1111 1111 결제", "카드 [CARD] 결제"),
    ("card 5500-0000-0000-0004", "card [CARD]"),
    ("4111111111111111", "[CARD]"),
])
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_pii(text) == masked and contains_pii(text)


@pytest.mark.parametrize("text", [
    "2026-11-21 12:30 가격 129,000원, 3000mm 방수",
    "주문번호 1234567890123",  # 13 digits that fail the Luhn check and are no valid birth date
    "catalog/products.csv row=5 page=2 45L 980g",
    "version 1.2.3, build 42, chat 6c1b4c0e-3f0a-4f0e-9a51-7d1c2a3b4c5d",
])
def test_ordinary_text_stays_readable(text: str) -> None:
    assert mask_pii(text) == text and not contains_pii(text)
