"""Superlative questions over tables: "가장 싼 텐트", "the lightest backpack".

Neither dense nor BM25 retrieval can rank rows by a number, so when a question asks for the cheapest,
most expensive, lightest or heaviest item, the candidate table rows that mention the question's subject
are ordered by the matching numeric column and the winner is moved to the top.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from triple.retrieval.tokenize import content_tokens


@dataclass(frozen=True)
class Superlative:
    column_words: tuple[str, ...]  # header substrings of the numeric column
    lowest: bool
    words: frozenset[str]  # query tokens that only express the superlative


_PRICE = ("price", "가격", "cost", "금액", "요금")
_WEIGHT = ("weight", "무게", "중량")
_RULES: list[tuple[re.Pattern[str], Superlative]] = [
    (re.compile(r"(?<!비)(싼|싸|저렴)|최저가|cheapest|least expensive|lowest price|most affordable",
                re.I), Superlative(_PRICE, True, frozenset({"싸", "저렴", "cheapest", "최저가", "affordable"}))),
    (re.compile(r"(가장|제일|젤)\s*(비싼|비싸)|최고가|most expensive|priciest|highest price", re.I),
     Superlative(_PRICE, False, frozenset({"비싸", "최고가", "priciest", "expensive"}))),
    (re.compile(r"(가장|제일|젤)\s*(가벼|가볍)|lightest", re.I),
     Superlative(_WEIGHT, True, frozenset({"가볍", "가벼", "lightest"}))),
    (re.compile(r"(가장|제일|젤)\s*(무거|무겁)|heaviest", re.I),
     Superlative(_WEIGHT, False, frozenset({"무겁", "무거", "heaviest"}))),
]
_FILLER = frozenset({"가장", "제일", "젤", "그럼", "그중", "중", "건", "거", "제품", "상품", "뭐", "어떤", "which",
                     "one", "product", "item", "most", "least", "lowest", "highest", "price", "가격"})


def detect(query: str) -> Superlative | None:
    for pattern, rule in _RULES:
        if pattern.search(query):
            return rule
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    digits = re.sub(r"[^\d.]", "", str(value))
    try:
        return float(digits) if digits else None
    except ValueError:
        return None


def _column(metadata: Mapping[str, Any], words: Sequence[str]) -> tuple[str, float] | None:
    for key, value in metadata.items():
        if any(word in key.lower() for word in words):
            number = _number(value)
            return (key, number) if number is not None else None
    return None


def promote(query: str, candidates: list[str], metadata_of: Callable[[str], Mapping[str, Any]],
            has_term: Callable[[str, str], bool]) -> tuple[list[str], str | None, str]:
    """Reorder candidate chunk ids so the superlative's winner is first.

    Returns (ids, winner or None, a note such as "lowest price_krw" for the trace and the generator).

    Only rows that carry the numeric column and mention the question's subject terms (e.g. 텐트) compete,
    so "가장 싼 텐트" never returns a cheaper sleeping bag. Terms no such row contains ("sell") are ignored.
    """
    rule = detect(query)
    if rule is None:
        return candidates, None, ""
    rows = [(cid, _column(metadata_of(cid), rule.column_words)) for cid in candidates]
    rows_with_value = [(cid, found[1]) for cid, found in rows if found is not None]
    columns = {cid: found[0] for cid, found in rows if found is not None}
    terms = {t for t in content_tokens(query) if t not in rule.words and t not in _FILLER}
    subject = {t for t in terms if any(has_term(cid, t) for cid, _ in rows_with_value)}
    if not subject:
        return candidates, None, ""
    eligible = [(value if rule.lowest else -value, cid) for cid, value in rows_with_value
                if all(has_term(cid, t) for t in subject)]
    if not eligible:
        return candidates, None, ""
    winner = min(eligible)[1]
    note = f"{'lowest' if rule.lowest else 'highest'} {columns[winner]}"
    return [winner] + [c for c in candidates if c != winner], winner, note
