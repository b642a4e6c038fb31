"""`python manage.py evaluate --dataset data/eval/ko.jsonl`: retrieval quality of the active index
(hit@1, hit@5, MRR@k, nDCG@k for dense, BM25 and hybrid) and the answers' citation rate."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from triple.core.errors import ApplicationError
from triple.knowledge import selectors
from triple.providers import registry
from triple.retrieval.evaluation import MODES, dataset_load, evaluation_run
from triple.retrieval.hybrid import HybridRetriever
from triple.retrieval.vector_store import vector_store


class Command(BaseCommand):
    help = "Evaluate retrieval (dense, bm25, hybrid) and answer citations on a JSONL question set."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dataset", required=True, help="JSONL of {question, expected_source and/or "
                            "expected_answer_substring}; relative paths are tried from the repository root too.")
        parser.add_argument("--top-k", type=int, default=10, help="Results scored per question (default 10).")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument("--no-answers", action="store_true", help="Skip asking the questions (retrieval only).")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["dataset"])
        if not path.is_absolute() and not path.exists():
            path = settings.REPO_DIR / path
        if not path.exists():
            raise CommandError(f"No dataset at {options['dataset']}.")
        if options["top_k"] < 5:
            raise CommandError("--top-k must be at least 5 (hit@5 is reported).")
        build = selectors.active_build()
        if build is None:
            raise CommandError("No index is active; run `python manage.py build_vectors` first.")
        embedder = registry.embedding_provider()
        if embedder.model != build.embedding_model:
            raise CommandError(f"The active index was built with {build.embedding_model}, the embedding provider "
                               f"is {embedder.model}; rebuild first.")
        retriever = HybridRetriever(build_id=build.id, collection=build.collection, embedder=embedder,
                                    store=vector_store())
        try:
            report = evaluation_run(items=dataset_load(path), retriever=retriever, k=options["top_k"],
                                    answers=not options["no_answers"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        report = {"dataset": str(options["dataset"]), "index_build": build.id,
                  "embedding_model": build.embedding_model, **report}
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            self.stdout.write(format_report(report))


def format_report(report: dict[str, Any]) -> str:
    k = report["top_k"]
    lines = [
        f"dataset {report['dataset']}: {report['questions']} questions, index build {report['index_build']} "
        f"({report['embedding_model']}), top {k}",
        f"{'retriever':<10} {'hit@1':>7} {'hit@5':>7} {f'MRR@{k}':>8} {f'nDCG@{k}':>8}",
    ]
    for mode in MODES:
        m = report["retrieval"][mode]
        lines.append(f"{mode:<10} {m['hit@1']:>7.3f} {m['hit@5']:>7.3f} {m[f'mrr@{k}']:>8.3f} {m[f'ndcg@{k}']:>8.3f}")
    answers = report.get("answers")
    if answers:
        line = (f"answers citing the expected source: {answers['citation_rate']:.3f} "
                f"({answers['cited_expected']}/{report['questions']}), generation: {', '.join(answers['providers'])}")
        if answers["contains_expected_rate"] is not None:
            line += f"; containing the expected text: {answers['contains_expected_rate']:.3f}"
        if answers["errors"]:
            line += f"; {answers['errors']} failed"
        lines.append(line)
    return "\n".join(lines)
