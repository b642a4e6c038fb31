"""Server-sent events of a streamed answer: `meta`, `token`, `done`, `error`."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StreamEvent:
    """One server-sent event of a streamed answer: `meta`, `token`, `done` or `error`."""

    event: str
    data: dict[str, Any]


def parse_sse(lines: Iterator[str]) -> Iterator[StreamEvent]:
    """Server-sent events from text lines: `event:` names the event, `data:` lines carry its JSON."""
    event = "message"
    data_lines: list[str] = []
    for line in lines:
        if not line:
            if data_lines:
                yield _event(event, data_lines)
            event, data_lines = "message", []
        elif line.startswith(":"):
            continue  # comment / keep-alive
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data_lines.append(line[5:].removeprefix(" "))
    if data_lines:
        yield _event(event, data_lines)


def _event(event: str, data_lines: list[str]) -> StreamEvent:
    raw = "\n".join(data_lines)
    try:
        data = json.loads(raw)
    except ValueError:
        data = {"text": raw}
    return StreamEvent(event, data if isinstance(data, dict) else {"value": data})
