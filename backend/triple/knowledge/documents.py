"""Uploading and deleting documents. Both end by requesting an index build (services.index_build_request),
which joins the build that is waiting to scan or queues one, so no upload or delete is ever lost.

An upload is checked before anything is kept: name (sanitised), size (MAX_UPLOAD_MB) and type (by
content, not just the extension). It is streamed to a hidden temporary file beside its destination (the
scanner skips hidden files), hashed on the way, and moved into place in the transaction that records
its Document row, so a rejected or failed upload leaves neither file nor row.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from triple.core.errors import ApplicationError, Conflict, InvalidInput, NotFound
from triple.knowledge import services
from triple.knowledge.corpus import SKIPPED_NAMES
from triple.knowledge.models import Document, IndexBuild

UPLOAD_KINDS = frozenset({"csv", "xlsx", "json", "jsonl", "md", "markdown", "txt", "pdf"})
TEXT_KINDS = frozenset({"csv", "md", "markdown", "txt"})
MAX_NAME_CHARS = 120
BINARY_MAGIC = (b"%PDF-", b"PK\x03\x04", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x7fELF", b"MZ", b"\x1f\x8b")


class FileTooLarge(ApplicationError):
    status = 413
    code = "file_too_large"


class UnsupportedFileType(ApplicationError):
    status = 415
    code = "unsupported_file_type"


@dataclass(frozen=True)
class UploadResult:
    document: Document
    build: IndexBuild


def max_upload_bytes() -> int:
    return settings.MAX_UPLOAD_MB * 1024 * 1024


def sanitize_file_name(raw: str) -> str:
    """A safe file name: the last path component, NFC, no control characters, only word characters and
    `. - _ ( ) [ ]` and spaces, no leading dot, at most MAX_NAME_CHARS. Raises 400 when nothing is left."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[^\w.\-()\[\] ]+", "_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem.strip(" ._"):
        raise InvalidInput(f"The file name {raw[:80]!r} has no usable name or extension.", code="invalid_file_name")
    if len(name) > MAX_NAME_CHARS:
        stem = stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(" .")
        name = f"{stem}.{ext}"
    if name.lower() in SKIPPED_NAMES:
        raise InvalidInput(f"{name!r} is a reserved name (the index skips it); rename the file.",
                           code="invalid_file_name")
    return name


def _decode_text(raw: bytes) -> str | None:
    for encoding in ("utf-8-sig", "cp949"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return None if "\x00" in text else text
    return None


def _content_matches(path: Path, kind: str) -> bool:
    """Whether the bytes are what the extension says: PDF magic; an XLSX zip with [Content_Types].xml;
    JSON that parses; CSV/MD/TXT that decode as UTF-8 or CP949 without NULs."""
    with path.open("rb") as handle:
        head = handle.read(1024)
    if kind == "pdf":
        return head.lstrip(b"\r\n\t ").startswith(b"%PDF-")
    if kind == "xlsx":
        if not head.startswith(b"PK\x03\x04"):
            return False
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return False
        return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)
    if head.startswith(BINARY_MAGIC):
        return False
    text = _decode_text(path.read_bytes())
    if text is None:
        return False
    if kind == "json":
        return _parses_as_json([text])
    if kind == "jsonl":
        return _parses_as_json(line for line in text.splitlines() if line.strip())
    return kind in TEXT_KINDS


def _parses_as_json(parts: Iterable[str]) -> bool:
    try:
        for part in parts:
            json.loads(part)
    except (ValueError, RecursionError):
        return False
    return True


def _receive(chunks: Iterable[bytes], target_dir: Path) -> tuple[Path, str, int]:
    """Stream the upload into a hidden temporary file; (path, sha256, size). 413 past the limit."""
    target_dir.mkdir(parents=True, exist_ok=True)
    temp = target_dir / f".upload-{uuid.uuid4().hex}.part"
    digest, size, limit = hashlib.sha256(), 0, max_upload_bytes()
    try:
        with temp.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise FileTooLarge(f"The file is larger than {settings.MAX_UPLOAD_MB} MB.")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, digest.hexdigest(), size


def document_upload(*, file_name: str, chunks: Iterable[bytes], size: int | None = None) -> UploadResult:
    """Validate and store an uploaded file under UPLOAD_DIR, record its Document row (status queued),
    and request an index build. Re-uploading a name replaces that document; identical content already
    present (under any name) is refused with 409 `duplicate_document`."""
    name = sanitize_file_name(file_name)
    kind = name.rsplit(".", 1)[1].lower()
    if kind not in UPLOAD_KINDS:
        raise UnsupportedFileType(f"{kind!r} files are not supported; upload one of: "
                                  f"{', '.join(sorted(UPLOAD_KINDS))}.")
    if size is not None and size > max_upload_bytes():
        raise FileTooLarge(f"The file is larger than {settings.MAX_UPLOAD_MB} MB.")
    upload_dir: Path = settings.UPLOAD_DIR
    temp, sha256, size = _receive(chunks, upload_dir)
    try:
        if size == 0:
            raise InvalidInput("The file is empty.", code="empty_file")
        if not _content_matches(temp, kind):
            raise UnsupportedFileType(f"The content of {name!r} is not a valid {kind.upper()} file.")
        source = (upload_dir / name).resolve().relative_to(settings.DATA_DIR.resolve()).as_posix()
        duplicate = Document.objects.filter(sha256=sha256).first()
        if duplicate is not None:
            raise Conflict(f"This file is already indexed as {duplicate.source!r}.", code="duplicate_document",
                           extra={"document_id": duplicate.id, "source": duplicate.source})
        with transaction.atomic():
            document, _ = Document.objects.update_or_create(
                source=source,
                defaults={"sha256": sha256, "kind": kind, "size_bytes": size, "status": Document.Status.QUEUED,
                          "error": "", "rows": 0, "uploaded": True, "indexed_at": None},
            )
            os.replace(temp, upload_dir / name)
    finally:
        temp.unlink(missing_ok=True)
    return UploadResult(document, services.index_build_request(reason="upload"))


def document_delete(*, document_id: int) -> IndexBuild:
    """Remove a document's file and row, and request an index build: its vectors and BM25 entries leave
    with the next active build (until then the current build keeps answering). Chunk rows stay for the
    audit trail."""
    document = Document.objects.filter(id=document_id).first()
    if document is None:
        raise NotFound(f"No document with id {document_id}.", code="unknown_document")
    root = settings.DATA_DIR.resolve()
    path = (root / document.source).resolve()
    if path.is_relative_to(root):
        path.unlink(missing_ok=True)
    document.delete()
    return services.index_build_request(reason="delete")
