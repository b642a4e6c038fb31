"""Uploaded documents that pass the upload checks but cannot be read (CSV with broken quoting, an XLSX zip
bomb, a PDF without text): the build names each failure, stores none of their chunks, and the good
documents are indexed and answer. Upload names cannot place a file outside the upload folder."""
from __future__ import annotations

import contextlib
import io
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from triple.knowledge import services as knowledge
from triple.knowledge.models import Chunk, Document, IndexBuild
from triple.retrieval import bm25
from triple.retrieval.vector_store import vector_store

pytestmark = pytest.mark.django_db
API = "/api/v1/triple/"


def broken_csv() -> bytes:
    return b'name,price,notes\nlantern,39000,"bright\nstove,45000,compact\n"unterminated,1,2\n'


def xlsx_bomb() -> bytes:
    """A valid-looking workbook whose sheet inflates to 210 MB (a few hundred KB on the wire)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            block = b"<row>" + b" " * ((1 << 20) - 11) + b"</row>"
            for _ in range(210):
                sheet.write(block)
    return out.getvalue()


def textless_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def corpus(tmp_path: Path, settings: Any, built_index: Any) -> Iterator[Path]:
    """A private corpus of three shipped documents; builds made here are rolled back with the test, and their
    Chroma collections and BM25 entries are removed afterwards."""
    root = tmp_path / "data"
    (root / "docs").mkdir(parents=True)
    for name in ("faq_en.md", "stove_manual_en.md", "warranty_ko.txt"):
        shutil.copy(settings.DATA_DIR / "docs" / name, root / "docs" / name)
    settings.DATA_DIR = root
    settings.UPLOAD_DIR = root / "uploads"
    settings.INDEX_KEEP_BUILDS = 100
    before = set(IndexBuild.objects.values_list("id", flat=True))
    try:
        yield root
    finally:
        for build in IndexBuild.objects.exclude(id__in=before):
            bm25._cache.pop(build.id, None)
            if build.collection:
                with contextlib.suppress(Exception):
                    vector_store().delete(build.collection)


def upload(client: Any, name: str, content: bytes) -> dict[str, Any]:
    response = client.post(f"{API}documents/", {"file": SimpleUploadedFile(name, content)}, format="multipart")
    assert response.status_code == 202, response.content[:300]
    return dict(response.json())


def test_unreadable_documents_fail_by_name_and_store_no_chunks(operator_api: Any, api: Any, corpus: Path,
                                                               session_user: Any) -> None:
    build_ids = {upload(operator_api, name, content)["build_id"] for name, content in [
        ("prices.csv", broken_csv()), ("stores.xlsx", xlsx_bomb()), ("scan.pdf", textless_pdf()),
        ("kayaks.md", b"# Kayaks\nKayak rentals cost 35,000 won per day at the Busan store.\n"),
    ]}
    assert len(build_ids) == 1  # every upload joined the one waiting build
    build = knowledge.index_build_run(build_id=build_ids.pop())
    assert build.status == "succeeded" and build.active

    failures = {f["document"]: f["error"] for f in build.failures}
    assert set(failures) == {"uploads/prices.csv", "uploads/stores.xlsx", "uploads/scan.pdf"}
    assert "prices.csv" in failures["uploads/prices.csv"] and "row" in failures["uploads/prices.csv"]
    assert "200 MB" in failures["uploads/stores.xlsx"]
    assert "text" in failures["uploads/scan.pdf"]
    for source in failures:
        document = Document.objects.get(source=source)
        assert document.status == "failed" and document.error
        assert not Chunk.objects.filter(source=source).exists()  # nothing half-stored

    listed = {d["source"]: d for d in operator_api.get(f"{API}documents/").json()["documents"]}
    assert listed["uploads/stores.xlsx"]["status"] == "failed" and listed["uploads/kayaks.md"]["status"] == "indexed"
    task = operator_api.get(f"{API}tasks/{build.task_id}/").json()
    assert task["state"] == "succeeded" and len(task["failures"]) == 3

    answer = api.post(f"{API}chat/", {"user_id": session_user.user_id,
                                      "question": "How much does a kayak rental cost per day?"}, format="json")
    assert answer.status_code == 200 and answer.json()["index_build"] == build.id
    assert answer.json()["sources"][0]["document"] == "uploads/kayaks.md"


@pytest.mark.parametrize("name", [
    "../../../../tmp/evil.md", "..\\..\\evil.md", "/etc/cron.d/evil.md", "uploads/../../evil.md",
    "%2e%2e%2fevil.md", "evil.md\x00.png", "\u202eevil.md",
])
def test_upload_names_cannot_leave_the_upload_folder(operator_api: Any, corpus: Path, name: str) -> None:
    response = operator_api.post(f"{API}documents/", {"file": SimpleUploadedFile(name, b"# Evil\nEvil text.\n")},
                                 format="multipart")
    upload_dir = (corpus / "uploads").resolve()
    if response.status_code == 202:
        source = response.json()["document"]["source"]
        stored = (corpus / source).resolve()
        assert stored.parent == upload_dir and stored.is_file()
    else:  # refused: no usable name, or (after sanitising) not a supported type
        assert (response.status_code, response.json()["error"]) in {(400, "invalid_file_name"),
                                                                    (415, "unsupported_file_type")}
    outside = [p for p in corpus.parent.rglob("*evil*") if not p.resolve().is_relative_to(upload_dir)]
    assert outside == []
    assert not Path("/tmp/evil.md").exists() or Path("/tmp/evil.md").stat().st_size != len(b"# Evil\nEvil text.\n")


@pytest.mark.parametrize("name", [".env", "...", "README.md", "readme.MD"])
def test_names_that_are_no_document_are_refused(operator_api: Any, corpus: Path, name: str) -> None:
    response = operator_api.post(f"{API}documents/", {"file": SimpleUploadedFile(name, b"# x\ny\n")},
                                 format="multipart")
    assert response.status_code == 400 and response.json()["error"] == "invalid_file_name"
    assert not (corpus / "uploads").exists() or not any((corpus / "uploads").iterdir())
