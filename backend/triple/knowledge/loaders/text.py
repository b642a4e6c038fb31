"""Markdown (heading-aware) and plain text (paragraph-aware) documents."""
from __future__ import annotations

from pathlib import Path

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from triple.knowledge.loaders.base import LoadError, ParsedChunk

CHUNK_CHARS = 700
OVERLAP_CHARS = 80
_splitter = RecursiveCharacterTextSplitter(
    chunk_size=CHUNK_CHARS, chunk_overlap=OVERLAP_CHARS, separators=["\n\n", "\n", ". ", "다. ", " ", ""]
)


def _read(path: Path, source: str) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp949"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise LoadError(source, "the file is neither UTF-8 nor CP949 text")
    if "\x00" in text:
        raise LoadError(source, "the file contains NUL bytes; it is not a text file")
    return text


def load_markdown(path: Path, *, source: str, data_dir: Path) -> list[ParsedChunk]:
    text = _read(path, source)
    headers = [("#", "h1"), ("##", "h2"), ("###", "h3")]
    sections = MarkdownHeaderTextSplitter(headers_to_split_on=headers, strip_headers=True).split_text(text)
    chunks: list[ParsedChunk] = []
    for section in sections:
        trail = [section.metadata[h] for _, h in headers if h in section.metadata]
        heading = " > ".join(trail)
        for piece in _splitter.split_text(section.page_content):
            body = f"{heading}\n{piece}" if heading else piece
            metadata: dict[str, str | int | float | bool] = {"section": heading} if heading else {}
            chunks.append(ParsedChunk(body.strip(), f"section={heading}" if heading else "", len(chunks) + 1,
                                      metadata))
    return [c for c in chunks if c.text]


def load_text(path: Path, *, source: str, data_dir: Path) -> list[ParsedChunk]:
    text = _read(path, source)
    chunks: list[ParsedChunk] = []
    for block in [b.strip() for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]:
        for piece in _splitter.split_text(block):
            chunks.append(ParsedChunk(piece.strip(), f"part={len(chunks) + 1}", len(chunks) + 1, {}))
    return _merge_titles(chunks)


def _merge_titles(chunks: list[ParsedChunk]) -> list[ParsedChunk]:
    """A lone title line belongs to the paragraph after it."""
    merged: list[ParsedChunk] = []
    carry = ""
    for chunk in chunks:
        if "\n" not in chunk.text and len(chunk.text) < 60 and not chunk.text.endswith((".", "다.")):
            carry = f"{carry}\n{chunk.text}".strip()
            continue
        text = f"{carry}\n{chunk.text}" if carry else chunk.text
        merged.append(ParsedChunk(text, f"part={len(merged) + 1}", len(merged) + 1,
                                  {"section": carry.splitlines()[-1]} if carry else {}))
        carry = ""
    if carry:
        merged.append(ParsedChunk(carry, f"part={len(merged) + 1}", len(merged) + 1, {}))
    return merged
