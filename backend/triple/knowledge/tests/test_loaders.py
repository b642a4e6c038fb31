from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from triple.knowledge.loaders import LoadError, load_file

DATA = settings.DATA_DIR


def load(rel: str) -> list:
    return load_file(DATA / rel, source=rel, data_dir=DATA)


def test_csv_rows_repeat_headers_and_turn_the_image_column_into_urls() -> None:
    chunks = load("catalog/products.csv")
    assert len(chunks) == 40
    first = chunks[0]
    assert first.locator == "row=1"
    assert "name: 트리플 돔 2인 텐트" in first.text and "price_krw: 189000" in first.text
    assert "image" not in first.text  # the image column is not text to embed
    assert first.image_urls == ("catalog/images/p001.png",)
    assert first.metadata["category"] == "텐트"


def test_xlsx_rows() -> None:
    chunks = load("catalog/stores.xlsx")
    assert len(chunks) == 12
    assert chunks[0].locator == "row=1" and "store_id: ST01" in chunks[0].text


def test_markdown_is_split_by_heading_and_keeps_the_heading_path() -> None:
    chunks = load("docs/faq_ko.md")
    assert len(chunks) >= 5
    assert all(c.locator.startswith("section=") for c in chunks)
    assert any("배송" in c.locator and "50,000" in c.text for c in chunks)


def test_plain_text_pdf_and_json() -> None:
    assert len(load("docs/warranty_ko.txt")) >= 3
    pdf = load("docs/lantern_manual_ko.pdf")
    assert {c.locator for c in pdf} == {"page=1", "page=2", "page=3"}
    assert any("랜턴" in c.text for c in pdf)  # Korean text really extracted
    events = load("docs/events.json")
    assert len(events) == 8 and events[0].locator == "record=1"


def test_malformed_csv_names_the_file_and_the_row(tmp_path: Path) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_text('id,name,price\n1,ok,100\n2,"unterminated,200\n3,fine,300\n', encoding="utf-8")
    with pytest.raises(LoadError) as info:
        load_file(bad, source="broken.csv", data_dir=tmp_path)
    assert "broken.csv" in str(info.value) and "row" in str(info.value)


def test_csv_with_a_short_row_names_that_row(tmp_path: Path) -> None:
    bad = tmp_path / "short.csv"
    bad.write_text("id,name,price\n1,ok,100\n2,missing\n", encoding="utf-8")
    with pytest.raises(LoadError, match=r"short\.csv \(row 2\): expected 3 columns, found 2"):
        load_file(bad, source="short.csv", data_dir=tmp_path)


def test_korean_excel_csv_in_cp949_is_read(tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_bytes("상품,가격\n랜턴,39000\n".encode("cp949"))
    chunks = load_file(path, source="legacy.csv", data_dir=tmp_path)
    assert chunks[0].text == "상품: 랜턴\n가격: 39000"


def test_pdf_without_text_is_refused_clearly(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    path = tmp_path / "scan.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    with pytest.raises(LoadError, match="no extractable text"):
        load_file(path, source="scan.pdf", data_dir=tmp_path)


def test_image_paths_outside_the_data_directory_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "evil.csv"
    path.write_text("name,image\nx,../../etc/passwd.png\n", encoding="utf-8")
    chunks = load_file(path, source="evil.csv", data_dir=tmp_path)
    assert chunks[0].image_urls == ()
