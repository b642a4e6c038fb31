"""End-to-end `answer_question` time with the local provider and with a remote provider that answers
instantly (a local fake OpenAI-compatible server, reached through the real openai SDK as `qwen`).

Runs in-process against the active index of the configured database (run `make run` or
`manage.py build_vectors` first). Prints a table and writes bench/chat_latency.json.

    .venv/bin/python bench/chat_latency.py [--n 40]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "backend"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["ANSWER_CACHE_TTL"] = "0"  # every question runs the whole path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    import django

    django.setup()
    from django.conf import settings
    from triple.conversations.services import answer_question
    from triple.providers import registry
    from triple.providers.tests.fakes import FakeOpenAI  # the same fake the provider tests use
    from triple.sessions.services import user_create

    questions = [json.loads(line)["question"] for line in (ROOT / "data/eval/ko.jsonl").open(encoding="utf-8")]
    fake = FakeOpenAI().start()
    settings.QWEN_API_BASE, settings.QWEN_API_KEY = f"{fake.url}/v1", "bench"
    registry.reset()
    rows = {}
    try:
        for provider in ("local", "qwen"):
            totals, generation = [], []
            for i in range(args.n):
                user = user_create()
                answer = answer_question(user_id=user.user_id, question=questions[i % len(questions)],
                                         providers={"generation": provider})
                assert answer["providers"]["generation"]["provider"] == provider, answer["providers"]
                totals.append(answer["timings_ms"]["total_ms"])
                generation.append(answer["timings_ms"].get("generate_ms", 0.0))
            totals.sort()
            rows[provider] = {
                "n": args.n,
                "total_p50_ms": round(statistics.median(totals), 1),
                "total_p95_ms": round(totals[int(0.95 * (len(totals) - 1))], 1),
                "generate_p50_ms": round(statistics.median(generation), 1),
            }
    finally:
        fake.stop()
    print("| generation provider | n | total p50 ms | total p95 ms | generate p50 ms |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        label = "local (extractive)" if name == "local" else "remote, instant fake (openai SDK over HTTP)"
        print(f"| {label} | {row['n']} | {row['total_p50_ms']} | {row['total_p95_ms']} | {row['generate_p50_ms']} |")
    (ROOT / "bench" / "chat_latency.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
