"""PDF: text per page (pypdf), long pages split further; scanned PDFs without text are refused clearly."""
from __future__ import annotations

from pathlib import Path

from triple.knowledge.loaders.base import LoadError, ParsedChunk
from triple.knowledge.loaders.text import _splitter

MAX_PAGES = 2000


def load_pdf(path: Path, *, source: str, data_dir: Path) -> list[ParsedChunk]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise LoadError(source, "the PDF is encrypted")
        pages = reader.pages
        if len(pages) > MAX_PAGES:
            raise LoadError(source, f"the PDF has more than {MAX_PAGES} pages")
        chunks: list[ParsedChunk] = []
        for number, page in enumerate(pages, start=1):
            try:
                text = (page.extract_text() or "").strip()
            except Exception as exc:  # pypdf raises assorted errors on broken content streams
                raise LoadError(source, f"cannot extract text ({type(exc).__name__})", page=number) from None
            for piece in _splitter.split_text(text) if text else []:
                chunks.append(ParsedChunk(piece.strip(), f"page={number}", len(chunks) + 1, {"page": number}))
    except PyPdfError as exc:
        raise LoadError(source, f"not a readable PDF ({type(exc).__name__})") from None
    if not chunks:
        raise LoadError(source, "the PDF has no extractable text (a scanned document? OCR it first)")
    return chunks
