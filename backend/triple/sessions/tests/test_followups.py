"""Follow-up questions are condensed into a standalone query before retrieval (local provider).

The measurement over data/eval/followups.jsonl prints its table with
`.venv/bin/pytest backend/triple/sessions/tests/test_followups.py -s -k table`.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings

from triple.conversations.models import Chat

pytestmark = pytest.mark.django_db
USER, CHAT = "/api/v1/triple/user/", "/api/v1/triple/chat/"
DEPTH = 20  # top_k for the measurement, so a miss outside the usual top 5 still has a rank


def _cases() -> list[dict[str, Any]]:
    with open(settings.DATA_DIR / "eval" / "followups.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _rank(sources: list[dict[str, Any]], expected: str) -> int | None:
    """Rank of the expected source: `path#locator` matches one chunk, a bare path any chunk of the file."""
    path, _, locator = expected.partition("#")
    for source in sources:
        if source["document"] == path and (not locator or source["locator"] == locator):
            return int(source["number"])
    return None


def _session(api: Any) -> str:
    response = api.post(USER, {}, format="json")
    assert response.status_code == 201
    return str(response.json()["user_id"])


def _ask(api: Any, user_id: str, question: str, top_k: int = 5) -> dict[str, Any]:
    response = api.post(CHAT, {"user_id": user_id, "question": question, "top_k": top_k}, format="json")
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_followup_table_condensation_helps_and_never_hurts(api: Any, built_index: Any) -> None:
    rows = []
    for case in _cases():
        first, follow_up = case["turns"]
        user_id = _session(api)
        _ask(api, user_id, first, DEPTH)
        condensed = _ask(api, user_id, follow_up, DEPTH)
        alone = _ask(api, _session(api), follow_up, DEPTH)
        rows.append((follow_up, case["expected_source"], _rank(alone["sources"], case["expected_source"]),
                     _rank(condensed["sources"], case["expected_source"]), condensed["standalone_query"]))
    print("\n| follow-up | expected source | rank alone | rank condensed | standalone query |")
    print("|---|---|---|---|---|")
    for follow_up, expected, alone_rank, condensed_rank, query in rows:
        print(f"| {follow_up} | {expected} | {alone_rank or '>' + str(DEPTH)} | "
              f"{condensed_rank or '>' + str(DEPTH)} | {query} |")
    worst = DEPTH + 1
    for _, expected, alone_rank, condensed_rank, _ in rows:
        assert (condensed_rank or worst) <= (alone_rank or worst), f"condensation made {expected} worse"
    improved_to_first = [r for r in rows if r[3] == 1 and r[2] != 1]
    assert len(improved_to_first) >= 2, rows


def test_followup_retrieves_the_right_source_only_after_condensation(api: Any, built_index: Any) -> None:
    user_id = _session(api)
    _ask(api, user_id, "서울에 있는 매장 알려 주세요.")
    second = _ask(api, user_id, "그중에 쉬는 날 없이 여는 곳은?")
    assert second["standalone_query"] == "서울 매장 쉬는 날 없이 여는 곳은?"
    assert (second["sources"][0]["document"], second["sources"][0]["locator"]) == ("catalog/stores.xlsx", "row=3")
    chat = Chat.objects.get(id=second["chat_id"])
    assert chat.question == "그중에 쉬는 날 없이 여는 곳은?"
    assert chat.standalone_query == "서울 매장 쉬는 날 없이 여는 곳은?"
    assert chat.reasoning_provider == "local"

    alone = _ask(api, _session(api), "그중에 쉬는 날 없이 여는 곳은?")
    assert alone["standalone_query"] == "그중에 쉬는 날 없이 여는 곳은?"  # no history: nothing to condense
    assert (alone["sources"][0]["document"], alone["sources"][0]["locator"]) != ("catalog/stores.xlsx", "row=3")


def test_english_follow_up_swaps_the_destination(api: Any, built_index: Any) -> None:
    user_id = _session(api)
    _ask(api, user_id, "How much is express shipping to the United States?")
    second = _ask(api, user_id, "And to Japan?")
    assert second["standalone_query"] == "How much is express shipping to Japan?"
    assert any(s["document"] == "docs/shipping_rates_en.md" for s in second["sources"][:2])


@pytest.mark.parametrize(("turns", "question", "expected"), [
    (["텐트는 어떤 종류가 있어요?"], "그럼 가장 싼 건?", "텐트 가장 싼 건?"),
    (["Which backpacks do you sell?"], "and in blue?", "backpacks in blue?"),
    (["How much is express shipping to the United States?"], "And to Japan?", "How much is express shipping to Japan?"),
    # A topic survives a chain of follow-ups: each is condensed against the previous standalone form.
    (["서울에 있는 매장 알려 주세요.", "그중에 쉬는 날 없이 여는 곳은?"], "주차는요?",
     "서울 매장 쉬 날 없이 주차는요?"),
    # A full question on a new topic is left alone.
    (["텐트는 어떤 종류가 있어요?"], "반품은 며칠 이내에 가능한가요?", "반품은 며칠 이내에 가능한가요?"),
    ([], "그럼 가장 싼 건?", "그럼 가장 싼 건?"),
])
def test_local_condenser_rewrites(turns: list[str], question: str, expected: str) -> None:
    from triple.providers.local import LocalCondenser
    from triple.providers.types import Turn

    history = [t for q in turns for t in (Turn("user", q), Turn("assistant", "…"))]
    assert LocalCondenser().condense(question, history, "ko").query == expected
