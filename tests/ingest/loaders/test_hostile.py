"""Hostile files against the loaders: refused with a message that names the limit, or contained in a child."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest.errors import LoadError
from ingest.loaders import LoadOptions, load_file
from ingest.loaders.isolated import Sandbox, load_isolated
from tests.support.hostile_files import bomb_docx, many_pages_pdf, nested_html, sparse_single_line


def test_a_zip_bomb_docx_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    bomb = bomb_docx(tmp_path / "bomb.docx", inflated_mib=64)
    assert bomb.stat().st_size < 1 * 2**20
    with pytest.raises(LoadError, match="decompression bomb"):
        load_file(bomb)
    with pytest.raises(LoadError, match="max_unzipped_bytes"):
        load_file(bomb, LoadOptions(max_unzipped_bytes=16 * 2**20, max_zip_ratio=10**6))


def test_a_docx_with_too_many_members_is_refused(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "members.docx"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(50):
            archive.writestr(f"x/{i}.xml", "<a/>")
    with pytest.raises(LoadError, match="max_zip_members"):
        load_file(path, LoadOptions(max_zip_members=20))


def test_a_10000_page_pdf_is_refused_by_its_page_count(tmp_path: Path) -> None:
    pdf = many_pages_pdf(tmp_path / "pages.pdf")
    started = time.monotonic()
    with pytest.raises(LoadError, match="10,000 pages, over max_pages=5,000"):
        load_file(pdf)
    assert time.monotonic() - started < 30


def test_extracted_characters_are_capped(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    for i in range(50):
        document.add_paragraph(f"Paragraph {i} " + "words " * 40)
    path = tmp_path / "long.docx"
    document.save(str(path))
    assert load_file(path).documents
    with pytest.raises(LoadError, match="max_chars"):
        load_file(path, LoadOptions(max_chars=2000))


def test_a_1_gb_single_line_text_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = sparse_single_line(tmp_path / "one-line.txt")
    with pytest.raises(LoadError, match="over the limit"):
        load_file(big)
    with pytest.raises(LoadError, match="over the limit"):
        load_file(big, LoadOptions(max_file_bytes=50 * 2**20))


def test_deeply_nested_html_loads_or_fails_alone(tmp_path: Path) -> None:
    page = nested_html(tmp_path / "deep.html")
    try:
        result = load_isolated(page, LoadOptions(), Sandbox(memory_bytes=1 * 2**30, timeout_s=60))
    except LoadError as exc:  # refused is fine: the point is that it does not take the caller down
        assert str(page) in str(exc)
    else:
        assert "deep text" in result.documents[0].text


def test_the_child_loader_returns_what_load_file_returns(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("# Guide\n\nInstall it.\n\n## More\n\n中文段落。\n", encoding="utf-8")
    assert load_isolated(path, LoadOptions(), Sandbox()) == load_file(path)


def test_a_file_that_needs_too_much_memory_fails_alone(tmp_path: Path) -> None:
    bomb = bomb_docx(tmp_path / "bomb.docx", inflated_mib=400)
    lenient = LoadOptions(max_unzipped_bytes=2**40, max_zip_ratio=10**9)
    with pytest.raises(LoadError, match="needed more than 256 MiB"):
        load_isolated(bomb, lenient, Sandbox(memory_bytes=256 * 2**20))


def test_a_file_that_takes_too_long_is_stopped(tmp_path: Path) -> None:
    pdf = many_pages_pdf(tmp_path / "pages.pdf", pages=3000)
    with pytest.raises(LoadError, match="longer than 0.2 s"):
        load_isolated(pdf, LoadOptions(), Sandbox(timeout_s=0.2))
