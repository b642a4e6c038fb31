"""File loaders: one document file in, a list of chunks (text + locator + metadata + images) out.

A malformed file raises `LoadError` naming the file and the row/page; the caller records it and goes on.
"""
from __future__ import annotations

from pathlib import Path

from triple.knowledge.loaders.base import LoadError, ParsedChunk
from triple.knowledge.loaders.pdf import load_pdf
from triple.knowledge.loaders.tabular import load_csv, load_json, load_xlsx
from triple.knowledge.loaders.text import load_markdown, load_text

LOADERS = {
    "csv": load_csv,
    "xlsx": load_xlsx,
    "json": load_json,
    "jsonl": load_json,
    "md": load_markdown,
    "markdown": load_markdown,
    "txt": load_text,
    "pdf": load_pdf,
}
SUPPORTED_EXTENSIONS = frozenset(LOADERS)


def kind_of(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def load_file(path: Path, *, source: str, data_dir: Path) -> list[ParsedChunk]:
    """Parse one file into chunks. `source` is its path relative to `data_dir`."""
    loader = LOADERS.get(kind_of(path))
    if loader is None:
        raise LoadError(source, f"unsupported file type '{path.suffix}'")
    chunks = loader(path, source=source, data_dir=data_dir)
    if not chunks:
        raise LoadError(source, "no text could be extracted")
    return chunks


__all__ = ["SUPPORTED_EXTENSIONS", "LoadError", "ParsedChunk", "kind_of", "load_file"]
