from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from triple.knowledge import selectors, services
from triple.knowledge.models import Document, IndexBuild
from triple.retrieval import bm25
from triple.retrieval.vector_store import vector_store


@pytest.fixture
def small_corpus(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """A private copy of part of the shipped corpus that a test may change."""
    root = tmp_path / "data"
    (root / "docs").mkdir(parents=True)
    shutil.copytree(settings.DATA_DIR / "catalog", root / "catalog")
    for name in ("faq_ko.md", "faq_en.md", "warranty_ko.txt"):
        shutil.copy(settings.DATA_DIR / "docs" / name, root / "docs" / name)
    settings.DATA_DIR = root
    bm25._cache.clear()
    yield root
    bm25._cache.clear()


def build() -> IndexBuild:
    return services.index_build_run(build_id=services.index_build_create().id)


@pytest.mark.django_db(transaction=True)
def test_build_counts_chunks_and_activates_a_new_collection(small_corpus: Path) -> None:
    first = build()
    assert first.status == "succeeded" and first.active
    assert first.counts["chunks"] == first.counts["embedded"] + first.counts["copied"] > 50
    assert vector_store().count(first.collection) == first.counts["chunks"]
    assert first.collection.startswith(f"triple_b{first.id}_")


@pytest.mark.django_db(transaction=True)
def test_unchanged_rebuild_embeds_nothing_and_one_changed_document_only_its_chunks(small_corpus: Path) -> None:
    first = build()
    again = build()
    assert again.status == "unchanged" and again.counts["embedded"] == 0
    assert selectors.active_build() == first

    faq = small_corpus / "docs" / "faq_en.md"
    faq.write_text(faq.read_text(encoding="utf-8") + "\n\n## Pets\nDogs are welcome in every store.\n",
                   encoding="utf-8")
    changed = build()
    assert changed.status == "succeeded" and changed.active
    assert 0 < changed.counts["embedded"] <= 3
    assert changed.counts["copied"] == changed.counts["chunks"] - changed.counts["embedded"]


@pytest.mark.django_db(transaction=True)
def test_malformed_csv_is_reported_and_skipped_while_the_rest_is_indexed(small_corpus: Path) -> None:
    (small_corpus / "catalog" / "broken.csv").write_text('a,b\n1,"open quote\n2,3\n', encoding="utf-8")
    result = build()
    assert result.status == "succeeded"
    assert [f["document"] for f in result.failures] == ["catalog/broken.csv"]
    assert "row" in result.failures[0]["error"]
    broken = Document.objects.get(source="catalog/broken.csv")
    assert broken.status == "failed" and "broken.csv" in broken.error
    assert Document.objects.get(source="catalog/products.csv").status == "indexed"


@pytest.mark.django_db(transaction=True)
def test_failed_build_leaves_the_old_index_serving(small_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from triple.conversations.services import answer_question
    from triple.sessions.services import user_create

    good = build()
    (small_corpus / "docs" / "new.md").write_text("# New\nA brand new document about kayaks.\n", encoding="utf-8")

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("embedding backend crashed")

    monkeypatch.setattr(services, "_activate", explode)
    with pytest.raises(RuntimeError):
        build()
    failed = IndexBuild.objects.order_by("-id").first()
    assert failed is not None and failed.status == "failed" and "crashed" in failed.error
    assert selectors.active_build() == good
    user = user_create()
    answer = answer_question(user_id=user.user_id, question="What is the return window for online orders?")
    assert answer["index_build"] == good.id

    monkeypatch.undo()
    rerun = build()  # the rerun reuses the failed build's vectors
    assert rerun.active and rerun.counts["embedded"] == 0 and rerun.counts["copied"] == rerun.counts["chunks"]


@pytest.mark.django_db(transaction=True)
def test_a_second_build_is_refused_while_one_is_in_progress(small_corpus: Path) -> None:
    from triple.core.errors import Conflict

    queued = services.index_build_create()
    with pytest.raises(Conflict) as info:
        services.index_build_create()
    assert info.value.code == "build_in_progress"
    services.index_build_run(build_id=queued.id)
    assert services.index_build_create().status == "queued"


@pytest.mark.django_db(transaction=True)
def test_a_file_deleted_while_the_build_runs_is_left_out(small_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from triple.knowledge import corpus

    doomed = small_corpus / "docs" / "doomed.md"
    doomed.write_text("# Doomed\nThis file is deleted between the scan and its parse.\n", encoding="utf-8")
    parse = corpus.parse_document

    def delete_then_parse(document: Document, path: Path) -> list[str]:
        if path == doomed:
            path.unlink()
        return parse(document, path)

    monkeypatch.setattr(corpus, "parse_document", delete_then_parse)
    result = build()
    assert result.status == "succeeded" and result.failures == []
    assert not Document.objects.filter(source="docs/doomed.md").exists()


@pytest.mark.django_db(transaction=True)
def test_a_new_tokenizer_version_rebuilds_bm25_without_embedding(small_corpus: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from triple.retrieval import tokenize

    first = build()
    assert first.counts["tokenizer"] == tokenize.tokenizer_id()
    monkeypatch.setattr(tokenize, "TOKENIZER_VERSION", tokenize.TOKENIZER_VERSION + 1)
    again = build()
    assert again.status == "succeeded" and again.active and again.counts["tokenizer"] == tokenize.tokenizer_id()
    assert again.counts["embedded"] == 0 and again.counts["copied"] == again.counts["chunks"]
    assert build().status == "unchanged"
