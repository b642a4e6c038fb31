"""CSV, XLSX and JSON records: one chunk per row, column headers repeated in the text."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from triple.knowledge.loaders.base import LoadError, ParsedChunk

IMAGE_COLUMNS = {"image", "images", "image_url", "image_path", "img", "photo", "picture", "이미지", "사진"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
MAX_CELL_CHARS = 4000
MAX_XLSX_UNCOMPRESSED = 200 * 1024 * 1024  # refuse zip bombs before openpyxl inflates them


def _decode(raw: bytes, source: str) -> str:
    for encoding in ("utf-8-sig", "cp949"):  # cp949: Korean Excel's default CSV encoding
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise LoadError(source, "the file is neither UTF-8 nor CP949 text")


def _is_image(header: str, value: str) -> bool:
    return header.strip().lower() in IMAGE_COLUMNS or value.lower().endswith(IMAGE_SUFFIXES)


def _image_path(value: str, *, base: Path, data_dir: Path) -> str | None:
    if value.startswith(("http://", "https://")):
        return value
    candidate = (base / value).resolve()
    try:
        return candidate.relative_to(data_dir.resolve()).as_posix() if candidate.is_file() else None
    except ValueError:  # outside the data directory: never served
        return None


def _row_chunk(
    headers: Sequence[str], values: Sequence[Any], *, locator: str, ordinal: int, kind: str,
    base: Path, data_dir: Path,
) -> ParsedChunk | None:
    lines: list[str] = []
    metadata: dict[str, str | int | float | bool] = {}
    images: list[str] = []
    for header, value in zip(headers, values, strict=False):
        text = "" if value is None else str(value).strip()
        if not text:
            continue
        if _is_image(header, text):
            for part in text.replace(";", ",").split(","):
                path = _image_path(part.strip(), base=base, data_dir=data_dir)
                if path:
                    images.append(path)
            continue
        text = text[:MAX_CELL_CHARS]
        lines.append(f"{header}: {text}")
        metadata[header] = value if isinstance(value, (int, float, bool)) else text[:500]
    if not lines:
        return None
    return ParsedChunk("\n".join(lines), locator, ordinal, metadata, tuple(images))


def _headers(raw: Sequence[Any], source: str) -> list[str]:
    headers = [str(h).strip() if h is not None else "" for h in raw]
    if not any(headers):
        raise LoadError(source, "the header row is empty", row=0)
    return [h or f"column_{i + 1}" for i, h in enumerate(headers)]


def load_csv(path: Path, *, source: str, data_dir: Path) -> list[ParsedChunk]:
    text = _decode(path.read_bytes(), source)
    if "\x00" in text:
        raise LoadError(source, "the file contains NUL bytes; it is not a CSV text file")
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    with contextlib.suppress(csv.Error):
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    reader = csv.reader(io.StringIO(text), dialect, strict=True)
    try:
        headers = _headers(next(reader), source)
    except StopIteration:
        raise LoadError(source, "the file is empty") from None
    except csv.Error as exc:
        raise LoadError(source, f"malformed header: {exc}", row=0) from None
    chunks: list[ParsedChunk] = []
    row = 0
    try:
        for row, values in enumerate(reader, start=1):
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(headers):
                raise LoadError(source, f"expected {len(headers)} columns, found {len(values)}", row=row)
            chunk = _row_chunk(headers, values, locator=f"row={row}", ordinal=row, kind="csv",
                               base=path.parent, data_dir=data_dir)
            if chunk:
                chunks.append(chunk)
    except csv.Error as exc:
        raise LoadError(source, f"malformed CSV ({exc})", row=row + 1) from None
    return chunks


def load_xlsx(path: Path, *, source: str, data_dir: Path) -> list[ParsedChunk]:
    try:
        with zipfile.ZipFile(path) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_XLSX_UNCOMPRESSED:
                raise LoadError(source, "the workbook inflates to more than 200 MB; refusing to open it")
    except zipfile.BadZipFile:
        raise LoadError(source, "not a valid XLSX workbook") from None
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for broken workbooks
        raise LoadError(source, f"cannot open workbook: {type(exc).__name__}") from None
    chunks: list[ParsedChunk] = []
    sheets = workbook.worksheets
    for sheet in sheets:
        rows: Iterable[tuple[Any, ...]] = sheet.iter_rows(values_only=True)
        iterator = iter(rows)
        first = next(iterator, None)
        if first is None:
            continue
        headers = _headers(first, source)
        for row, values in enumerate(iterator, start=1):
            if not any(v is not None and str(v).strip() for v in values):
                continue
            locator = f"row={row}" if len(sheets) == 1 else f"sheet={sheet.title}&row={row}"
            chunk = _row_chunk(headers, values, locator=locator, ordinal=len(chunks) + 1, kind="xlsx",
                               base=path.parent, data_dir=data_dir)
            if chunk:
                chunks.append(chunk)
    workbook.close()
    return chunks


def _records(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        return lists[0] if len(lists) == 1 else [data]
    return [data]


def load_json(path: Path, *, source: str, data_dir: Path) -> list[ParsedChunk]:
    text = _decode(path.read_bytes(), source)
    try:
        if path.suffix.lower() == ".jsonl":
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(source, f"invalid JSON: {exc.msg} at line {exc.lineno}", row=exc.lineno) from None
    chunks: list[ParsedChunk] = []
    for number, record in enumerate(_records(data), start=1):
        if isinstance(record, dict):
            headers = [str(k) for k in record]
            values = [json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                      for v in record.values()]
        else:
            headers, values = ["value"], [json.dumps(record, ensure_ascii=False)]
        chunk = _row_chunk(headers, values, locator=f"record={number}", ordinal=number, kind="json",
                           base=path.parent, data_dir=data_dir)
        if chunk:
            chunks.append(chunk)
    return chunks
