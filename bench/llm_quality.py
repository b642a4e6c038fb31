#!/usr/bin/env python3
"""Answer quality and speed of the llama.cpp provider on the Korean eval set, with the right source as context.

For each question in data/eval/ko.jsonl the generator gets ONE passage: the expected source's text (a CSV or
XLSX row as `column: value` lines, a PDF page as extracted by pypdf, any other document whole, each cut to
--max-chars characters). An answer is correct when it contains `expected_answer_substring`. This measures
the model's reading, not retrieval.

Usage:
  .venv/bin/python bench/llm_quality.py [--model models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf]
      [--eval data/eval/ko.jsonl] [--limit N] [--max-chars 1500] [--threads 2] [--ctx 4096] [--stream]
      [--prompt project|sentences]
Writes bench/results/llm_quality-<model>-<prompt>.json (gitignored) and prints a summary.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "backend"))
DEFAULT_MODEL = REPO / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
# --prompt sentences: small models given only "like [1] or [2][3]" often reply with bare citations.
SENTENCES_RULE = (
    "like [1] or [2][3], right after the fact it supports.\n   Write full sentences; never reply with citation "
    "numbers alone."
)


def source_text(data_dir: Path, source: str, max_chars: int) -> tuple[str, str, str]:
    """(text, path, locator) of an eval record's expected source."""
    path, _, fragment = source.partition("#")
    file = data_dir / path
    kind, _, number = fragment.partition("=")
    if file.suffix == ".csv":
        with file.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        row = rows[int(number) - 1]
        text = "\n".join(f"{k}: {v}" for k, v in row.items() if v)
    elif file.suffix == ".xlsx":
        import openpyxl

        sheet = openpyxl.load_workbook(file, read_only=True).worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        header, row = values[0], values[int(number)]
        text = "\n".join(f"{h}: {v}" for h, v in zip(header, row, strict=False) if v is not None)
    elif file.suffix == ".pdf":
        import pypdf

        pages = pypdf.PdfReader(str(file)).pages
        text = pages[int(number) - 1].extract_text() if kind == "page" else "\n".join(p.extract_text() for p in pages)
    else:
        text = file.read_text(encoding="utf-8")
    locator = f"{kind} {number}" if fragment else ""
    return text[:max_chars], path, locator


def main() -> int:
    parser = argparse.ArgumentParser(description="llama.cpp answer quality on the Korean eval set")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--eval", default=str(REPO / "data" / "eval" / "ko.jsonl"))
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--max-chars", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--stream", action="store_true", help="use stream() and report time to first token")
    parser.add_argument(
        "--prompt",
        choices=["project", "sentences"],
        default="project",
        help="project: prompts.py as is; sentences: rule 2 also asks for full sentences, never bare [n]",
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LLAMACPP_MODEL_PATH"] = str(Path(args.model).resolve())
    os.environ["LLAMACPP_THREADS"] = str(args.threads)
    os.environ["LLAMACPP_CONTEXT"] = str(args.ctx)
    import django

    django.setup()
    from triple.providers import prompts, registry
    from triple.providers.types import GenerationRequest, Passage

    if args.prompt == "sentences":
        prompts.GENERATION_SYSTEM = prompts.GENERATION_SYSTEM.replace(
            "like [1] or [2][3].", SENTENCES_RULE
        )
        assert SENTENCES_RULE in prompts.GENERATION_SYSTEM, "prompts.py rule 2 changed; update SENTENCES_RULE"

    state = registry.readiness("llamacpp", "generation")
    if not state.ready:
        print(f"not ready: {state.reason}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    provider = registry.generation_provider("llamacpp")
    load_s = time.perf_counter() - started
    print(f"model {provider.model} loaded in {load_s:.1f} s (threads={args.threads}, n_ctx={args.ctx})", flush=True)

    records = [json.loads(line) for line in Path(args.eval).read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.limit:
        records = records[: args.limit]
    data_dir = Path(args.eval).resolve().parent.parent
    rows: list[dict[str, Any]] = []
    for i, record in enumerate(records, start=1):
        text, path, locator = source_text(data_dir, record["expected_source"], args.max_chars)
        request = GenerationRequest(
            question=record["question"], passages=(Passage(1, text, path, locator),), language="ko"
        )
        t0 = time.perf_counter()
        first_token_s = None
        if args.stream:
            pieces = []
            usage = None
            for chunk in provider.stream(request):
                if chunk.text and first_token_s is None:
                    first_token_s = time.perf_counter() - t0
                pieces.append(chunk.text)
                usage = chunk.usage or usage
            answer = "".join(pieces).strip()
        else:
            result = provider.generate(request)
            answer, usage = result.text, result.usage
        seconds = time.perf_counter() - t0
        expected = record["expected_answer_substring"]
        row = {
            "question": record["question"],
            "source": record["expected_source"],
            "expected": expected,
            "in_context": expected in text,
            "correct": expected in answer,
            "answer": answer,
            "seconds": round(seconds, 2),
            "first_token_s": round(first_token_s, 2) if first_token_s is not None else None,
            "input_tokens": usage.input_tokens if usage else None,
            "output_tokens": usage.output_tokens if usage else None,
        }
        rows.append(row)
        mark = "OK " if row["correct"] else ("-- " if row["in_context"] else "n/c")
        print(f"[{i:2d}/{len(records)}] {mark} {seconds:5.1f}s  {record['question'][:40]}  ->  "
              f"{answer[:90]!r}", flush=True)

    correct = sum(r["correct"] for r in rows)
    in_context = [r for r in rows if r["in_context"]]
    times = [r["seconds"] for r in rows]
    out_tokens = sum(r["output_tokens"] or 0 for r in rows)
    summary = {
        "model": provider.model,
        "questions": len(rows),
        "correct": correct,
        "accuracy": round(correct / len(rows), 3) if rows else 0.0,
        "answer_in_context": len(in_context),
        "accuracy_when_in_context": round(sum(r["correct"] for r in in_context) / len(in_context), 3)
        if in_context
        else 0.0,
        "seconds_per_answer_mean": round(statistics.mean(times), 2) if times else 0.0,
        "seconds_per_answer_median": round(statistics.median(times), 2) if times else 0.0,
        "output_tokens_per_second": round(out_tokens / sum(times), 1) if times else 0.0,
        "load_seconds": round(load_s, 1),
        "max_chars": args.max_chars,
        "threads": args.threads,
        "stream": args.stream,
        "prompt": args.prompt,
    }
    if args.stream:
        firsts = [r["first_token_s"] for r in rows if r["first_token_s"] is not None]
        summary["first_token_seconds_median"] = round(statistics.median(firsts), 2) if firsts else None
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"llm_quality-{provider.model}-{args.prompt}.json"
    out.write_text(json.dumps({"summary": summary, "rows": rows}, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    print(f"details: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
