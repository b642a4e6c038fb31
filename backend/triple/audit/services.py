"""Audit operations: replaying a recorded question, diffing two traces, and streaming exports."""
from __future__ import annotations

import csv
import difflib
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from triple.audit.selectors import EXPORT_FIELDS, ChatFilters, chat_get, chat_rows, chat_trace
from triple.conversations import routing
from triple.conversations.services import answer_replay
from triple.core.errors import Conflict
from triple.knowledge.models import IndexBuild
from triple.providers import selection
from triple.retrieval.vector_store import vector_store


def chat_replay(*, chat_id: uuid.UUID, reasoning_provider: str | None = None,
                generation_provider: str | None = None, use_original_index: bool = False) -> dict[str, Any]:
    """Ask a recorded question again and compare: `{original, replay, diff}`.

    Providers default to the ones that answered originally (else the configured defaults). With
    `use_original_index` the replay searches the build that served the original (409 `index_build_gone`
    once its collection has been pruned); otherwise the active build. The replay is its own Chat row
    (route "replay", the original's user id), recorded even when it fails, and needs no live session.
    """
    original = chat_get(chat_id=chat_id)
    providers = {
        "reasoning": reasoning_provider or original.reasoning_provider or settings.REASONING_PROVIDER,
        "generation": generation_provider or _answering_provider(original.generation_provider),
    }
    for role, name in providers.items():
        selection.validate_choice(role, name)
    build = _original_build(original.index_build) if use_original_index else None
    replayed = answer_replay(chat=original, providers=providers, build=build)
    before, after = chat_trace(chat=original), chat_trace(chat=chat_get(chat_id=replayed.id))
    return {"original": before, "replay": after, "diff": trace_diff(original=before, replay=after)}


def _answering_provider(recorded: str) -> str:
    # The router is not a generator: a routed answer is replayed with the configured generator.
    return recorded if recorded and recorded != routing.ROUTER_PROVIDER else settings.GENERATION_PROVIDER


def _original_build(build: IndexBuild | None) -> IndexBuild | None:
    if build is None:  # small talk: no index was searched, so none is needed
        return None
    if not build.collection or not vector_store().exists(build.collection):
        raise Conflict(
            f"Index build {build.id} that served the original answer is gone (only the last "
            f"{settings.INDEX_KEEP_BUILDS} builds keep their vectors); replay on the active index instead.",
            code="index_build_gone",
        )
    return build


def trace_diff(*, original: dict[str, Any], replay: dict[str, Any]) -> dict[str, Any]:
    """Sources added and removed (by chunk) and a unified diff of the answer text."""
    def sources(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {c["chunk_id"]: {"chunk_id": c["chunk_id"], "source": c["source"], "locator": c["locator"],
                                "rank": c["rank"]} for c in trace["chunks"]}

    before, after = sources(original), sources(replay)
    old_text, new_text = original["response"] or "", replay["response"] or ""
    answer_diff = "\n".join(difflib.unified_diff(old_text.splitlines(), new_text.splitlines(),
                                                 fromfile="original", tofile="replay", lineterm=""))
    return {
        "sources_added": [after[k] for k in after if k not in before],
        "sources_removed": [before[k] for k in before if k not in after],
        "answer_diff": answer_diff,
        "same_answer": old_text == new_text,
    }


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else value


def audit_export_jsonl(*, filters: ChatFilters) -> Iterator[bytes]:
    """One JSON object per chat per line; rows are read in chunks, so memory stays flat."""
    for row in chat_rows(filters=filters):
        yield (json.dumps(row, ensure_ascii=False) + "\n").encode()


def audit_export_csv(*, filters: ChatFilters, batch: int = 200) -> Iterator[bytes]:
    """CSV with a header line; JSON-valued columns (attempts, timings, usage, filters) as JSON text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    for n, row in enumerate(chat_rows(filters=filters), start=1):
        writer.writerow([_cell(row[name]) for name in EXPORT_FIELDS])
        if n % batch == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
