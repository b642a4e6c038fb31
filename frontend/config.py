"""The frontend's settings, read from the environment in one place (the backend has its own).

Every variable is listed in `.env.example` under "Frontend".
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class FrontendConfig:
    api_url: str
    timeout_seconds: float
    stream_timeout_seconds: float
    operator_token: str


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def load_config() -> FrontendConfig:
    """Read the environment now (tests change it between runs, so nothing is frozen at import)."""
    return FrontendConfig(
        api_url=(os.environ.get("TRIPLE_API_URL", "").strip() or "http://127.0.0.1:8000").rstrip("/"),
        timeout_seconds=_float("TRIPLE_API_TIMEOUT", 30.0),
        # A streamed answer may legitimately take minutes with a slow provider; only the gap between
        # two events is bounded by this.
        stream_timeout_seconds=_float("TRIPLE_API_STREAM_TIMEOUT", 120.0),
        operator_token=os.environ.get("TRIPLE_OPERATOR_TOKEN", "").strip(),
    )
