"""Retrieval evaluation: hit@k, MRR@k and nDCG@k of dense, BM25 and hybrid retrieval on a JSONL set,
plus how often answers cite the expected source.

A dataset line is `{"question", "expected_source"?, "expected_answer_substring"?}` (at least one), or
a conversation `{"turns": [...], ...}` whose last turn is scored after the reasoning provider has
condensed it against the earlier ones (the follow-up set in data/eval/followups.jsonl).
`expected_source` is a path relative to the data folder, optionally with `#row=N` / `#page=N`: a chunk
is relevant when its source equals the path and, if a fragment is given, its locator equals it. Without
`expected_source`, a chunk is relevant when its text contains `expected_answer_substring`.

The expected source counts as one relevant item: the first retrieved chunk that matches it is the hit,
later chunks of the same document add nothing (a long FAQ has many chunks, but one holds the answer).
So for a question whose first relevant chunk is at rank r: hit@k = [r <= k], RR@k = 1/r,
nDCG@k = 1/log2(r + 1) (the ideal ranking puts the one relevant item first, IDCG = 1).
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triple.core.errors import InvalidInput
from triple.retrieval.hybrid import HybridRetriever, Mode

MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid")


@dataclass(frozen=True)
class EvalItem:
    question: str
    expected_source: str = ""
    expected_answer_substring: str = ""
    earlier_turns: tuple[str, ...] = ()  # questions asked before `question` in the same conversation

    def matches(self, *, source: str, locator: str, text: str) -> bool:
        """Whether a chunk is the expected evidence for this question."""
        if self.expected_source:
            path, _, fragment = self.expected_source.partition("#")
            return source == path and (not fragment or locator == fragment)
        return self.expected_answer_substring.casefold() in text.casefold()


def dataset_load(path: Path) -> list[EvalItem]:
    items: list[EvalItem] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            turns = [str(turn).strip() for turn in row["turns"]] if "turns" in row else [str(row["question"])]
            item = EvalItem(question=turns[-1].strip(), earlier_turns=tuple(turns[:-1]),
                            expected_source=str(row.get("expected_source") or ""),
                            expected_answer_substring=str(row.get("expected_answer_substring") or ""))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise InvalidInput(f"{path}:{number}: not a dataset line ({exc}).", code="invalid_dataset") from None
        if not item.question or not (item.expected_source or item.expected_answer_substring):
            raise InvalidInput(f"{path}:{number}: needs a question and expected_source or "
                               "expected_answer_substring.", code="invalid_dataset")
        items.append(item)
    if not items:
        raise InvalidInput(f"{path} has no questions.", code="invalid_dataset")
    return items


# --- metrics -------------------------------------------------------------------------


def first_relevant_rank(relevant: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant result, or None."""
    return next((rank for rank, flag in enumerate(relevant, start=1) if flag), None)


def hit_at_k(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank_at_k(rank: int | None, k: int) -> float:
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def ndcg_at_k(relevant: Sequence[bool], k: int, ideal_relevant: int = 1) -> float:
    """Binary-gain nDCG@k: DCG = sum of 1/log2(rank + 1) over relevant ranks <= k, divided by the DCG
    of `ideal_relevant` relevant items ranked first."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, flag in enumerate(relevant[:k], start=1) if flag)
    idcg = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(ideal_relevant, k) + 1))
    return dcg / idcg if idcg else 0.0


def summarize(ranks: Sequence[int | None], k: int = 10) -> dict[str, float]:
    """Mean hit@1, hit@5, MRR@k and nDCG@k over questions, given each one's first relevant rank."""
    n = max(1, len(ranks))

    def mean(fn: Callable[[int | None], float]) -> float:
        return round(sum(fn(rank) for rank in ranks) / n, 4)

    def ndcg(rank: int | None) -> float:
        return ndcg_at_k([rank == r for r in range(1, k + 1)], k) if rank else 0.0

    return {"hit@1": mean(lambda r: hit_at_k(r, 1)), "hit@5": mean(lambda r: hit_at_k(r, 5)),
            f"mrr@{k}": mean(lambda r: reciprocal_rank_at_k(r, k)), f"ndcg@{k}": mean(ndcg)}


# --- runs ----------------------------------------------------------------------------------


def search_query(item: EvalItem) -> str:
    """The query retrieval sees: the question, or a follow-up condensed by the configured reasoning
    provider against the conversation's earlier questions."""
    if not item.earlier_turns:
        return item.question
    from triple.core.language import detect_language
    from triple.providers import registry
    from triple.providers.types import Turn

    history = tuple(Turn("user", turn) for turn in item.earlier_turns)
    condensed = registry.reasoning_provider().condense(item.question, history, detect_language(item.question))
    return condensed.query.strip() or item.question


def retrieval_ranks(*, items: Sequence[EvalItem], retriever: HybridRetriever, k: int = 10
                    ) -> list[dict[str, int | None]]:
    """For each question, the first relevant rank (within k) under each retrieval mode."""
    from triple.knowledge.selectors import chunks_by_ids

    out: list[dict[str, int | None]] = []
    for item in items:
        ranks: dict[str, int | None] = {}
        query = search_query(item)
        for mode in MODES:
            hits = retriever.search(query, top_k=k, mode=mode)
            chunks = chunks_by_ids(ids=[hit.chunk_id for hit in hits])
            ranks[mode] = first_relevant_rank([
                item.matches(source=chunks[h.chunk_id].source, locator=chunks[h.chunk_id].locator,
                             text=chunks[h.chunk_id].text) for h in hits])
        out.append(ranks)
    return out


def answer_checks(*, items: Sequence[EvalItem]) -> list[dict[str, Any]]:
    """Ask each question through the real question path (a throwaway session per question, so no
    question is condensed against another) and check the answer's citations and text."""
    # Imported here: retrieval does not depend on the question path, only this check does.
    from triple.conversations.services import answer_question
    from triple.core.errors import ApplicationError
    from triple.knowledge.selectors import chunks_by_ids
    from triple.sessions.services import session_expire, user_create

    out: list[dict[str, Any]] = []
    for item in items:
        user = user_create()
        try:
            for turn in item.earlier_turns:  # the conversation so far, so the follow-up is condensed
                answer_question(user_id=user.user_id, question=turn)
            payload = answer_question(user_id=user.user_id, question=item.question)
        except ApplicationError as exc:
            out.append({"cites_expected": False, "contains_expected": False, "error": exc.code})
            continue
        finally:
            session_expire(user=user)
        cited = [s for s in payload["sources"] if s["cited"]]
        chunks = chunks_by_ids(ids=[s["chunk_id"] for s in cited])
        out.append({
            "cites_expected": any(item.matches(source=s["document"], locator=s["locator"],
                                               text=chunks[s["chunk_id"]].text) for s in cited),
            "contains_expected": bool(item.expected_answer_substring)
            and item.expected_answer_substring.casefold() in payload["response"].casefold(),
            "provider": payload["providers"]["generation"]["provider"], "route": payload.get("route", ""),
            "chat_id": payload["chat_id"],
        })
    return out


def evaluation_run(*, items: Sequence[EvalItem], retriever: HybridRetriever, k: int = 10,
                   answers: bool = True) -> dict[str, Any]:
    """The whole report: per-mode means, per-question ranks and, unless `answers` is False, the share
    of answers citing the expected source."""
    ranks = retrieval_ranks(items=items, retriever=retriever, k=k)
    report: dict[str, Any] = {
        "questions": len(items), "top_k": k,
        "retrieval": {mode: summarize([r[mode] for r in ranks], k) for mode in MODES},
        "items": [{"question": item.question, "expected": item.expected_source or item.expected_answer_substring,
                   "ranks": r} for item, r in zip(items, ranks, strict=True)],
    }
    if answers:
        checks = answer_checks(items=items)
        with_text = [c for c, item in zip(checks, items, strict=True) if item.expected_answer_substring]
        report["answers"] = {
            "citation_rate": round(sum(c["cites_expected"] for c in checks) / len(checks), 4),
            "cited_expected": sum(c["cites_expected"] for c in checks),
            "contains_expected_rate": round(sum(c["contains_expected"] for c in with_text) / len(with_text), 4)
            if with_text else None,
            "providers": sorted({c.get("provider", "") for c in checks if c.get("provider")}),
            "errors": sum(1 for c in checks if "error" in c),
        }
        for entry, check in zip(report["items"], checks, strict=True):
            entry["answer"] = check
    return report
