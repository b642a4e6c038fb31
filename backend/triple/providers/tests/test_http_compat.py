"""Shared helpers of the remote providers."""
from __future__ import annotations

import socket

from triple.providers.http_compat import check_reachable, clean_query, make_usage, public_url, scrub


def test_scrub_removes_keys_and_long_fragments() -> None:
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    text = f"bad key {key}; you sent sk-proj-abcdefghij...6789 and {key[5:30]}"
    cleaned = scrub(text, [key, None, ""])
    assert key not in cleaned and key[5:30] not in cleaned
    assert cleaned.startswith("bad key ***")


def test_public_url_drops_credentials_and_query() -> None:
    assert public_url("https://user:secret@example.test:8443/v1/?key=abc") == "https://example.test:8443/v1"


def test_clean_query() -> None:
    assert clean_query('Query: "tent weight"\nmore', "q") == "tent weight"
    assert clean_query("  \n", "fallback") == "fallback"
    assert clean_query("검색어: 텐트 무게", "q") == "텐트 무게"


def test_make_usage_estimates_only_when_missing() -> None:
    messages = [{"role": "user", "content": "hello world"}]
    assert not make_usage(3, 4, messages, "x").estimated
    usage = make_usage(None, None, messages, "some answer")
    assert usage.estimated and usage.input_tokens > 0 and usage.output_tokens > 0


def test_reachability_is_cached() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    assert check_reachable(url, "X").ready
    listener.close()
    assert check_reachable(url, "X").ready  # cached for a few seconds
    assert not check_reachable("ftp://example.test", "X").ready
