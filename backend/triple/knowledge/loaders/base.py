from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ParsedChunk:
    text: str
    locator: str
    ordinal: int
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)
    image_urls: tuple[str, ...] = ()


class LoadError(Exception):
    """A file could not be parsed. The message names the file and, where known, the row or page."""

    def __init__(self, source: str, detail: str, *, row: int | None = None, page: int | None = None) -> None:
        where = f" (row {row})" if row is not None else f" (page {page})" if page is not None else ""
        super().__init__(f"{source}{where}: {detail}")
        self.source = source
        self.detail = detail
        self.row = row
        self.page = page
