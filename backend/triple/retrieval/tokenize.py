"""Korean-aware tokenisation for BM25 and for the local provider's term matching.

Two tokenisers, chosen by `BM25_TOKENIZER`:
- `kiwi`: morphological analysis (kiwipiepy, model shipped in the kiwipiepy_model package); keeps nouns,
  verb/adjective stems, roots, numbers and foreign words, so "텐트는" and "텐트의" both become "텐트".
- `ngram`: Hangul character bigrams plus whole Latin/number words; no model, more recall, less precision.

With `kiwi`, Hangul nouns of three or more syllables also yield their character bigrams, because Korean
compounds are written without spaces: "마포점" must match a question about "마포", "제주도" one about "제주".
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

from django.conf import settings

_EN_STOP = frozenset([
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as",
    "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "what", "which", "who", "whom", "whose",
    "when", "where", "why", "how", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "i",
    "you", "he", "she", "it", "we", "they", "me", "my", "your", "our", "their", "this", "that", "these", "those",
    "there", "here", "any", "some", "please", "tell", "about", "much", "many", "me", "us", "its", "it's", "have",
    "has", "had", "not", "no", "yes", "than", "then", "so", "such", "into", "out", "up", "down"
])
_KO_STOP = frozenset([
    "것", "수", "등", "때", "곳", "건", "거", "뭐", "무엇", "어디", "언제",
    "어떤", "어떻", "좀", "알리", "주", "있", "없", "하", "되", "이", "그",
    "저", "제"
])
# Words a catalogue writes one way and people ask another way: colours written as loanwords (블루) but
# asked natively (파란색) or in English (blue), and units spelled out (45리터 vs 45L). Each variant also
# yields its canonical token, so BM25 and the local generator's term matching see them as one word.
_CANONICAL: dict[str, tuple[str, ...]] = {
    "블루": ("파란색", "파랑", "파란", "파랑색", "청색", "blue"),
    "레드": ("빨간색", "빨강", "빨간", "빨강색", "red"),
    "그린": ("초록색", "초록", "녹색", "green"),
    "블랙": ("검정색", "검정", "검은색", "까만색", "black"),
    "화이트": ("흰색", "하얀색", "하얀", "white"),
    "핑크": ("분홍색", "분홍", "pink"),
    "옐로": ("노란색", "노랑", "노란", "yellow"),
    "오렌지": ("주황색", "주황", "orange"),
    "그레이": ("회색", "gray", "grey"),
    "브라운": ("갈색", "brown"),
    "네이비": ("남색", "navy"),
    "쿨러": ("아이스박스", "cooler"),
    "l": ("리터",),
    "g": ("그램",),
    "kg": ("킬로그램", "킬로"),
    "cm": ("센티미터", "센티"),
    "mm": ("밀리미터", "밀리"),
}
_SYNONYMS = {variant: canonical for canonical, variants in _CANONICAL.items() for variant in variants}
_KIWI_KEEP = ("NNG", "NNP", "NR", "SL", "SN", "XR", "VV", "VA", "SH", "NNB", "MAG")
_WORD = re.compile(r"[0-9a-z][0-9a-z.+\-]*|[\uac00-\ud7a3]+")
_LATIN = re.compile(r"[0-9a-z][0-9a-z.+\-]*")
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _kiwi() -> Any:
    from kiwipiepy import Kiwi

    return Kiwi(num_workers=0)


def _is_hangul_word(word: str) -> bool:
    return all("\uac00" <= ch <= "\ud7a3" for ch in word)


def _normalise(token: str) -> str:
    return token.lower().strip(".-+")


def kiwi_tokens(text: str) -> list[str]:
    with _lock:
        morphs = _kiwi().tokenize(text)
    out: list[str] = []
    for m in morphs:
        if not m.tag.startswith(_KIWI_KEEP) or (m.tag == "NNB" and len(m.form) < 2):
            continue
        form = _normalise(m.form)
        if not form or form in _EN_STOP or form in _KO_STOP:
            continue
        out.append(form)
        if form in _SYNONYMS:
            out.append(_SYNONYMS[form])
        if m.tag.startswith("NN") and len(form) >= 3 and _is_hangul_word(form):
            out.extend(form[i : i + 2] for i in range(len(form) - 1))
    out.extend(t for t in _LATIN.findall(text.lower()) if any(c.isdigit() for c in t) and t not in out)
    return out


def ngram_tokens(text: str) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word[0] >= "\uac00":
            out.extend(word[i : i + 2] for i in range(max(1, len(word) - 1)))
        elif word not in _EN_STOP:
            out.append(_normalise(word))
    return [t for t in out if t]


TOKENIZER_VERSION = 3  # bump when token output changes: builds then re-tokenize their chunks


def tokenizer_id() -> str:
    return f"{settings.BM25_TOKENIZER}-v{TOKENIZER_VERSION}"


def tokenize(text: str, method: str | None = None) -> list[str]:
    """Index tokens for BM25 (duplicates kept: they are term frequencies). Not memoised: a build tokenizes
    every chunk once, and caching 100k distinct texts would only evict the entries worth keeping."""
    method = method or settings.BM25_TOKENIZER
    return ngram_tokens(text) if method == "ngram" else kiwi_tokens(text)


# One question is tokenized several times on its way through a request (the condenser's follow-up test,
# BM25, the superlative rule, the local generator), and the passages and sentences the generator scores
# recur across questions about the same documents. Short texts are memoised per process; kiwi costs
# 0.2-1 ms per call and runs under a lock, so this is both latency and throughput (docs/benchmarks.md).
_MEMO_MAX_CHARS = 2000


@lru_cache(maxsize=4096)
def _memoised(text: str, method: str) -> tuple[str, ...]:
    return tuple(tokenize(text, method))


def query_tokens(text: str) -> list[str]:
    """`tokenize` for queries and other short texts read at request time (memoised)."""
    method = settings.BM25_TOKENIZER
    if len(text) > _MEMO_MAX_CHARS:
        return tokenize(text, method)
    return list(_memoised(text, method))


def content_tokens(text: str) -> list[str]:
    """Content terms of a text, in order, without duplicates."""
    return list(dict.fromkeys(query_tokens(text)))
