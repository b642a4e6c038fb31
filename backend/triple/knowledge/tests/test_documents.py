"""Uploads and deletes through the API, without a worker: what is accepted, what is refused (and that a
refusal stores nothing), and the task records the operator reads."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from triple.core.errors import InvalidInput
from triple.knowledge import documents, services
from triple.knowledge.models import Document, IndexBuild
from triple.knowledge.tests.conftest import API

pytestmark = pytest.mark.django_db

MD = b"# Kayaks\nKayak rentals cost 35,000 won per day.\n"


def xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["store", "city"])
    book.active.append(["Triple Seoul", "Seoul"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pdf_bytes() -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "Kayak rentals cost 35,000 won per day.")
    page.save()
    return out.getvalue()


def post(client: Any, name: str, content: bytes) -> Any:
    return client.post(f"{API}/documents/", {"file": SimpleUploadedFile(name, content)}, format="multipart")


@pytest.fixture
def uploads(pipeline_corpus: Path, private_queues: tuple[str, str]) -> Path:
    """The upload folder of a private corpus; queued builds go to private queues nobody consumes."""
    return pipeline_corpus / "uploads"


@pytest.fixture
def baseline(db: Any) -> tuple[int, int]:
    """Rows another test committed before this one (e.g. the shared index of `built_index`) are not ours:
    "nothing stored" means nothing beyond these."""
    return Document.objects.count(), IndexBuild.objects.count()


def nothing_stored(upload_dir: Path, baseline: tuple[int, int]) -> bool:
    files = list(upload_dir.iterdir()) if upload_dir.exists() else []
    return not files and (Document.objects.count(), IndexBuild.objects.count()) == baseline


@pytest.mark.parametrize(("name", "content"), [
    ("notes.md", MD),
    ("notes.txt", "공지사항\n\n카약 대여료는 하루 35,000원입니다.\n".encode("cp949")),
    ("rows.csv", b"name,price\nkayak,35000\n"),
    ("records.json", json.dumps([{"name": "kayak", "price": 35000}]).encode()),
    ("records.jsonl", b'{"name": "kayak"}\n{"name": "paddle"}\n'),
    ("stores.xlsx", xlsx_bytes()),
    ("manual.pdf", pdf_bytes()),
])
def test_each_supported_type_is_accepted_stored_and_queued(operator_api: Any, uploads: Path, name: str,
                                                           content: bytes) -> None:
    response = post(operator_api, name, content)
    assert response.status_code == 202, response.content
    body = response.json()
    document = body["document"]
    assert document["source"] == f"uploads/{name}" and document["status"] == "queued"
    assert document["kind"] == name.rsplit(".", 1)[1] and document["size_bytes"] == len(content)
    assert document["indexed_at"] is None and document["error"] == ""
    assert (uploads / name).read_bytes() == content
    assert [p.name for p in uploads.iterdir()] == [name]  # no temporary file left behind
    build = IndexBuild.objects.get(task_id=body["task_id"])
    assert build.status == "queued" and build.reason == "upload" and body["build_id"] == build.id
    task = operator_api.get(f"{API}/tasks/{body['task_id']}/").json()
    assert task == {"task_id": body["task_id"], "state": "queued", "build_id": build.id,
                    "progress": {"done": 0, "total": 0, "stage": ""}, "result": None, "error": None,
                    "failures": []}


@pytest.mark.parametrize(("name", "content", "status", "code"), [
    ("report.pdf", b"just some text, not a PDF", 415, "unsupported_file_type"),
    ("stores.xlsx", b"PK\x03\x04 not really a zip", 415, "unsupported_file_type"),
    ("plain.xlsx", b"name,city\nTriple,Seoul\n", 415, "unsupported_file_type"),
    ("data.json", b'{"name": "kayak",', 415, "unsupported_file_type"),
    ("lines.jsonl", b'{"ok": 1}\nnot json\n', 415, "unsupported_file_type"),
    ("binary.txt", b"abc\x00\x01\x02def", 415, "unsupported_file_type"),
    ("image.md", b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, 415, "unsupported_file_type"),
    ("latin1.csv", b"name\n\xff\xfe\xfd\xfc\n", 415, "unsupported_file_type"),
    ("setup.exe", b"MZ\x90\x00", 415, "unsupported_file_type"),
    ("no_extension", b"text", 400, "invalid_file_name"),
    ("....", b"text", 400, "invalid_file_name"),
    (".md", b"# hidden", 400, "invalid_file_name"),
    ("README.md", b"# reserved", 400, "invalid_file_name"),
    ("empty.md", b"", 400, "empty_file"),
])
def test_bad_uploads_are_refused_in_the_one_error_shape_and_nothing_is_stored(
        operator_api: Any, uploads: Path, name: str, content: bytes, status: int, code: str,
        baseline: tuple[int, int]) -> None:
    response = post(operator_api, name, content)
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == code and body["message"]
    assert nothing_stored(uploads, baseline)


def test_a_file_over_the_size_limit_is_refused_with_413(operator_api: Any, uploads: Path, settings: Any,
                                                        baseline: tuple[int, int]) -> None:
    settings.MAX_UPLOAD_MB = 1
    response = post(operator_api, "big.txt", b"kayak " * (1024 * 1024 // 6 + 10))
    assert response.status_code == 413 and response.json()["error"] == "file_too_large"
    assert nothing_stored(uploads, baseline)
    huge = operator_api.post(f"{API}/documents/", data=b"x", content_type="multipart/form-data; boundary=x",
                             CONTENT_LENGTH=str(50 * 1024 * 1024))
    assert huge.status_code == 413 and huge.json()["error"] == "file_too_large"


def test_missing_file_and_missing_operator_token(api: Any, operator_api: Any, uploads: Path,
                                                 baseline: tuple[int, int]) -> None:
    missing = operator_api.post(f"{API}/documents/", {"other": "x"}, format="multipart")
    assert missing.status_code == 400 and missing.json()["error"] == "missing_file"
    assert operator_api.post(f"{API}/documents/", {}, format="json").json()["error"] == "missing_file"
    for method, path in (("get", "documents/"), ("post", "documents/"), ("delete", "documents/1/"),
                         ("post", "index/rebuild/"), ("get", "index/"), ("get", "tasks/abc/")):
        response = getattr(api, method)(f"{API}/{path}")
        assert response.status_code == 401 and response.json()["error"] == "operator_auth_required"
    assert nothing_stored(uploads, baseline)


def test_file_names_are_sanitised(operator_api: Any, uploads: Path) -> None:
    response = post(operator_api, "../../etc/카약 안내<script>.md", MD)
    assert response.status_code == 202, response.content
    assert response.json()["document"]["source"] == "uploads/카약 안내_script_.md"
    assert [p.name for p in uploads.iterdir()] == ["카약 안내_script_.md"]


@pytest.mark.parametrize(("raw", "clean"), [
    ("report.pdf", "report.pdf"),
    ("C:\\Users\\me\\report.pdf", "report.pdf"),
    ("../../x/../secret.md", "secret.md"),
    ("a\x00b\nc.txt", "abc.txt"),
    ("  spaced   name .md", "spaced name .md"),
    ("제품 목록 (2024).csv", "제품 목록 (2024).csv"),
    ("semi;colon|pipe.txt", "semi_colon_pipe.txt"),
    (".hidden.md", "hidden.md"),  # a leading dot would hide the file from the index
    ("x" * 300 + ".md", "x" * 117 + ".md"),
])
def test_sanitize_file_name(raw: str, clean: str) -> None:
    assert documents.sanitize_file_name(raw) == clean


@pytest.mark.parametrize("raw", ["", ".", "..", "/", ".md", "noext", "readme.md", "._.md"])
def test_sanitize_file_name_refuses_what_cannot_be_a_document_name(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        documents.sanitize_file_name(raw)
    assert info.value.code == "invalid_file_name"


def test_same_content_twice_is_409_and_same_name_replaces_the_document(operator_api: Any, uploads: Path,
                                                                       baseline: tuple[int, int]) -> None:
    first = post(operator_api, "kayak.md", MD)
    assert first.status_code == 202
    document = first.json()["document"]
    duplicate = post(operator_api, "other name.md", MD)
    assert duplicate.status_code == 409
    assert duplicate.json() == {"error": "duplicate_document", "message": duplicate.json()["message"],
                                "document_id": document["id"], "source": "uploads/kayak.md"}
    assert not (uploads / "other name.md").exists()

    changed = post(operator_api, "kayak.md", MD + b"\nPaddles are included.\n")
    assert changed.status_code == 202
    replaced = changed.json()["document"]
    assert replaced["id"] == document["id"] and replaced["sha256"] != document["sha256"]
    assert (uploads / "kayak.md").read_bytes().endswith(b"Paddles are included.\n")
    # Both uploads joined the same waiting build: it has not scanned the data directory yet.
    assert changed.json()["task_id"] == first.json()["task_id"]
    assert IndexBuild.objects.count() == baseline[1] + 1


def test_list_and_delete(operator_api: Any, uploads: Path, baseline: tuple[int, int]) -> None:
    created = post(operator_api, "kayak.md", MD).json()
    listed = operator_api.get(f"{API}/documents/").json()["documents"]
    uploaded = [d for d in listed if d["source"].startswith("uploads/")]
    assert [d["source"] for d in uploaded] == ["uploads/kayak.md"] and len(listed) == baseline[0] + 1
    assert uploaded[0] == created["document"]

    deleted = operator_api.delete(f"{API}/documents/{created['document']['id']}/")
    assert deleted.status_code == 202
    assert deleted.json() == {"task_id": created["task_id"], "build_id": created["build_id"]}
    assert not (uploads / "kayak.md").exists() and Document.objects.count() == baseline[0]
    unknown = operator_api.delete(f"{API}/documents/{created['document']['id']}/")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_document"


def test_unknown_task_is_404(operator_api: Any) -> None:
    response = operator_api.get(f"{API}/tasks/no-such-task/")
    assert response.status_code == 404 and response.json()["error"] == "unknown_task"


def test_rebuild_is_202_then_409_while_queued(operator_api: Any, private_queues: tuple[str, str]) -> None:
    first = operator_api.post(f"{API}/index/rebuild/")
    assert first.status_code == 202
    body = first.json()
    assert set(body) == {"task_id", "build_id"}
    second = operator_api.post(f"{API}/index/rebuild/")
    assert second.status_code == 409 and second.json()["error"] == "build_in_progress"
    assert second.json()["task_id"] == body["task_id"]
    index = operator_api.get(f"{API}/index/").json()
    assert [b["id"] for b in index["in_progress"]] == [body["build_id"]]


def test_a_request_during_a_running_build_queues_exactly_one_build_behind_it(
        private_queues: tuple[str, str]) -> None:
    running = services.index_build_create(reason="cli")
    IndexBuild.objects.filter(id=running.id).update(status="running")
    behind = services.index_build_request(reason="upload")
    assert behind.id != running.id and behind.status == "queued"
    assert services.index_build_request(reason="delete").id == behind.id
    with pytest.raises(services.BuildBusy):
        services.index_build_run(build_id=behind.id)
    behind.refresh_from_db()
    assert behind.status == "queued" and behind.stage == "waiting"


def test_the_reaper_frees_the_slots_of_lost_builds(private_queues: tuple[str, str], settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    lost = services.index_build_create()
    long_ago = timezone.now() - timedelta(seconds=settings.INDEX_STALE_SECONDS + 5)
    IndexBuild.objects.filter(id=lost.id).update(status="running", heartbeat_at=long_ago)
    fresh = services.index_build_create()
    lost.refresh_from_db()
    assert lost.status == "failed" and "worker lost" in lost.error and fresh.status == "queued"

    never = timezone.now() - timedelta(days=1)
    IndexBuild.objects.filter(id=fresh.id).update(created_at=never)
    assert services.index_build_reap_stale() == 1
    fresh.refresh_from_db()
    assert fresh.status == "failed" and "never started" in fresh.error
