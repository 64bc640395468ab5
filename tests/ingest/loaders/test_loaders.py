"""ingest.loaders: every format, the encodings, the bad inputs, and one contract run against every loader."""

from __future__ import annotations

import codecs
import os
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from ingest.errors import LoadError
from ingest.loaders import (
    LoadOptions,
    decode_text,
    load_file,
    registered_loaders,
    registry,
    supported_extensions,
)
from tests.support import loader_fixtures as fx


def only_doc(path: Path, options: LoadOptions = LoadOptions()):  # type: ignore[no-untyped-def]
    result = load_file(path, options)
    assert result.errors == []
    assert len(result.documents) == 1
    return result.documents[0]


def failure(path: Path, options: LoadOptions = LoadOptions()) -> str:
    with pytest.raises(LoadError) as info:
        load_file(path, options)
    assert info.value.path == str(path)
    return info.value.reason


# --- the contract every registered loader keeps -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(registered_loaders()))
def test_every_loader_keeps_the_contract(name: str, tmp_path: Path) -> None:
    loader = registered_loaders()[name]
    assert loader.extensions, name
    for extension in loader.extensions:
        assert extension in fx.SAMPLES, f"no sample file for {extension}: add one to loader_fixtures.SAMPLES"
        path = fx.SAMPLES[extension](tmp_path)
        result = loader.load(path, LoadOptions())
        assert result.documents and result.errors == []
        ids = [doc.doc_id for doc in result.documents]
        assert len(set(ids)) == len(ids)
        for doc in result.documents:
            assert doc.text.strip() and doc.source == str(path)
            ends = [0]
            for section in doc.sections:
                assert ends[-1] <= section.start < section.end <= len(doc.text), (extension, section)
                ends.append(section.end)


def test_supported_extensions_are_the_registered_ones() -> None:
    assert supported_extensions() == sorted(fx.SAMPLES)


def test_builtins_load_even_when_entry_points_are_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(group: str) -> list[EntryPoint]:
        raise RuntimeError("corrupt METADATA")

    monkeypatch.setattr(registry, "entry_points", broken)
    registry.registered_loaders.cache_clear()
    try:
        assert set(registered_loaders()) == set(registry.BUILTIN_LOADERS)
    finally:
        registry.registered_loaders.cache_clear()


def test_a_plugin_registers_like_the_builtins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "rst_plugin.py").write_text(textwrap.dedent("""
        from ingest.documents import Document
        from ingest.loaders import LoadResult

        class RstLoader:
            extensions = (".rst",)

            def load(self, path, options):
                return LoadResult([Document(str(path), str(path), path.read_text())])
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = [
        EntryPoint("rst", "rst_plugin:RstLoader", registry.GROUP),
        EntryPoint("broken", "no_such_module_xyz:Loader", registry.GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: plugins)
    registry.registered_loaders.cache_clear()
    try:
        assert ".rst" in supported_extensions() and ".pdf" in supported_extensions()
        (tmp_path / "a.rst").write_text("Title\n=====\n")
        assert only_doc(tmp_path / "a.rst").text == "Title\n=====\n"
    finally:
        registry.registered_loaders.cache_clear()


# --- whole-file formats ----------------------------------------------------------------------------


def test_txt_newlines_and_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fx.write_txt(tmp_path)
    monkeypatch.chdir(tmp_path)
    doc = only_doc(Path(path.name))
    assert doc.text == "First line.\nSecond line.\nThird line.\n"
    assert doc.doc_id == doc.source == str(path) and doc.metadata["format"] == "txt"


def test_markdown_heading_paths_ignore_code_fences(tmp_path: Path) -> None:
    doc = only_doc(fx.write_markdown(tmp_path))
    assert doc.text == fx.MARKDOWN and doc.title == "Guide"
    labels = [s.metadata["heading"] for s in doc.sections]
    assert labels == ["Guide", "Guide > Install", "Guide > Install > From source", "Reference"]
    first = doc.sections[0]
    assert "# this is a shell comment" in doc.text[first.start : first.end]
    assert doc.text[doc.sections[1].start :].startswith("## Install")


def test_html_drops_page_chrome_and_keeps_structure(tmp_path: Path) -> None:
    doc = only_doc(fx.write_html(tmp_path))
    assert doc.title == "The Page"
    noise_words = ("tracking", "late script", "Home", "Site banner", "Related links", "Search", "Copyright")
    for noise in (*noise_words, "color"):
        assert noise not in doc.text, noise
    assert doc.text.startswith("Retrieval\n\nDense retrieval uses vectors.\nSecond line.\n\nLexical")
    assert "def f():\n    return 1" in doc.text  # <pre> verbatim
    assert [s.metadata["heading"] for s in doc.sections] == ["Retrieval", "Retrieval > Lexical"]
    assert doc.text[doc.sections[1].start :].startswith("Lexical\n\nBM25 counts terms.")


def test_pdf_gives_one_section_per_page(tmp_path: Path) -> None:
    doc = only_doc(fx.write_pdf(tmp_path))
    assert [s.metadata for s in doc.sections] == [{"page": 1}, {"page": 2}]
    pages = [doc.text[s.start : s.end] for s in doc.sections]
    assert "Page one is about dense retrieval." in pages[0] and "Page two" in pages[1]
    assert doc.text == "\n\n".join(pages) and doc.title == "Two pages"


def test_scanned_pdf_says_ocr_is_not_supported(tmp_path: Path) -> None:
    reason = failure(fx.write_scanned_pdf(tmp_path))
    assert "OCR is not supported" in reason


def test_encrypted_pdf_asks_for_decryption(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(fx.write_pdf(tmp_path)).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as out:
        writer.write(out)
    assert "encrypted PDF" in failure(path)


@pytest.mark.parametrize("content", [b"%PDF-1.4\n%garbage that is not a pdf\n", "truncated"])
def test_corrupt_pdf_is_a_load_error(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "broken.pdf"
    if content == "truncated":
        data = fx.write_pdf(tmp_path).read_bytes()
        content = data[: len(data) // 3]
    assert isinstance(content, bytes)
    path.write_bytes(content)
    reason = failure(path)
    assert "PDF" in reason


def test_docx_headings_and_tables(tmp_path: Path) -> None:
    doc = only_doc(fx.write_docx(tmp_path))
    assert doc.title == "Handbook"
    assert [s.metadata["heading"] for s in doc.sections] == ["Introduction", "Introduction > Setup", "Usage"]
    assert "name\tvalue\nk\t10" in doc.text
    setup = doc.sections[1]
    assert doc.text[setup.start : setup.end].startswith("Setup\n\nInstall the package.")


def test_corrupt_docx_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    assert "not a .docx" in failure(path)


# --- row formats -----------------------------------------------------------------------------------


def test_csv_rows_become_documents(tmp_path: Path) -> None:
    result = load_file(fx.write_csv(tmp_path))
    first, second = result.documents
    assert (first.doc_id, first.title, first.text) == ("a1", "First", "First\n\nAlpha body.")
    assert first.metadata == {"lang": "en"}
    assert (second.doc_id, second.text) == ("a2", "Beta body.")


def test_tsv_without_id_column_numbers_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("content\tsource\nOne, with a comma.\tweb\nTwo.\tbook\n", encoding="utf-8")
    docs = load_file(path).documents
    assert [(d.doc_id, d.text, d.metadata) for d in docs] == [
        ("1", "One, with a comma.", {"source": "web"}),
        ("2", "Two.", {"source": "book"}),
    ]


def test_csv_bad_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        'id,text\n1,"multi\nline body"\n2,\n3,good\n4,too,many\n3,again\n', encoding="utf-8"
    )
    result = load_file(path)
    assert [d.doc_id for d in result.documents] == ["1", "3"]
    assert result.documents[0].text == "multi\nline body"
    errors = {e.line: e.reason for e in result.errors}
    assert set(errors) == {4, 6, 7}
    assert "empty text field 'text'" in errors[4]
    assert "3 fields" in errors[6] and "duplicate id '3'" in errors[7]


def test_csv_without_text_column_names_the_columns_and_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("question,answer\nwhy?,because\n", encoding="utf-8")
    reason = failure(path)
    assert "'question', 'answer'" in reason and "text_field" in reason
    docs = load_file(path, LoadOptions(text_field="answer")).documents
    assert docs[0].text == "because" and docs[0].metadata == {"question": "why?"}


def test_unknown_option_column_is_a_file_error(tmp_path: Path) -> None:
    assert "id_field='key'" in failure(fx.write_csv(tmp_path), LoadOptions(id_field="key"))


def test_beir_corpus_jsonl_needs_no_options(tmp_path: Path) -> None:
    first, second = load_file(fx.write_jsonl(tmp_path)).documents
    assert (first.doc_id, first.title, first.text) == ("doc1", "Aspirin", "Aspirin\n\nAspirin reduces fever.")
    assert first.metadata == {"year": 2001}
    assert (second.doc_id, second.title, second.text) == ("doc2", "", "Ibuprofen is an NSAID.")


def test_jsonl_bad_lines_keep_the_good_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"id": 7, "text": "seven"}\n{"id": 8, "text": \n\n[1, 2]\n{"id": 9, "body": "no text key"}\n'
        '{"id": 10, "text": ""}\n{"id": 11, "text": "eleven"}\n',
        encoding="utf-8",
    )
    result = load_file(path)
    assert [(d.doc_id, d.text) for d in result.documents] == [("7", "seven"), ("11", "eleven")]
    errors = {e.line: e.reason for e in result.errors}
    assert set(errors) == {2, 4, 5, 6}
    assert "malformed JSON" in errors[2] and "JSON object" in errors[4]
    assert "no 'text' field" in errors[5] and "empty text" in errors[6]


# --- encodings -------------------------------------------------------------------------------------


def test_gbk_and_big5_are_decoded_not_swapped(tmp_path: Path) -> None:
    assert only_doc(fx.write_gbk(tmp_path)).text == fx.GBK_TEXT
    assert only_doc(fx.write_big5(tmp_path)).text == fx.BIG5_TEXT


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF16_LE + "Grüße, 世界\r\nline two".encode("utf-16-le"),
        codecs.BOM_UTF16_BE + "Grüße, 世界\r\nline two".encode("utf-16-be"),
        "Grüße, 世界\r\nline two".encode("utf-8-sig"),
        "Grüße, 世界\r\nline two".encode("utf-32"),
        "Grüße, 世界\r\nline two".encode("utf-16-le"),  # no BOM: found by its NUL pattern
    ],
)
def test_boms_and_utf16(tmp_path: Path, data: bytes) -> None:
    assert decode_text(data, tmp_path / "x.txt") == "Grüße, 世界\nline two"


def test_bom_file_loads(tmp_path: Path) -> None:
    assert only_doc(fx.write_utf16_le_bom(tmp_path)).text == "Grüße, 世界\nline two"


@pytest.mark.parametrize("data", [bytes(range(256)) * 8, b"\x01\x02\x03\x04abc\x05\x06\x07\x08" * 100])
def test_binary_named_txt(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(data)
    assert failure(path) == "binary content, not text"


def test_undecodable_text_names_the_encodings_tried(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Café au lait, s'il vous plaît.".encode("latin-1"))
    reason = failure(path)
    assert "UTF-8" in reason and "GB18030" in reason and "Big5" in reason


def test_implausible_chinese_decoding_is_refused_not_mojibake(tmp_path: Path) -> None:
    path = tmp_path / "kana.txt"  # Japanese kana in GB18030 bytes: decodable, but not Chinese prose
    path.write_bytes("これはひらがなとカタカナのテストです。ファイルはシフトではない。".encode("gb18030"))
    assert "implausible" in failure(path)


# --- limits and bad input --------------------------------------------------------------------------


def test_empty_and_whitespace_files(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "blank.txt").write_text(" \n\n\t\n")
    assert failure(tmp_path / "empty.md") == "empty file"
    assert "empty file" in failure(tmp_path / "blank.txt")


def test_over_long_line_says_how_long_and_how_to_raise_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "minified.txt"
    path.write_bytes(b"x" * 20_000_000)
    with pytest.raises(LoadError) as info:
        load_file(path)
    assert info.value.line == 1
    assert "20,000,000 characters" in info.value.reason and "raise max_line_chars" in info.value.reason
    assert len(only_doc(path, LoadOptions(max_line_chars=20_000_000)).text) == 20_000_000


def test_over_long_line_in_the_middle_is_located(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = ['{"text": "short"}'] * 1000 + ['{"text": "' + "y" * 300 + '"}'] + ['{"text": "short"}'] * 5
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(LoadError) as info:
        load_file(path, LoadOptions(max_line_chars=200))
    assert info.value.line == 1001 and "312 characters" in info.value.reason
    assert len(load_file(path, LoadOptions(max_line_chars=312)).documents) == 1006


def test_file_over_max_file_bytes(tmp_path: Path) -> None:
    reason = failure(fx.write_txt(tmp_path), LoadOptions(max_file_bytes=10))
    assert "over the limit of 10 bytes" in reason and "max_file_bytes" in reason


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = fx.write_txt(tmp_path)
    path.chmod(0)
    try:
        assert "permission denied" in failure(path)
    finally:
        path.chmod(0o600)


def test_missing_unknown_and_directory_paths(tmp_path: Path) -> None:
    assert failure(tmp_path / "gone.txt") == "no such file or directory"
    (tmp_path / "data.xyz").write_text("x")
    reason = failure(tmp_path / "data.xyz")
    assert "unsupported file type '.xyz'" in reason and ".md" in reason
    (tmp_path / "folder.md").mkdir()
    assert "is a directory" in failure(tmp_path / "folder.md")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    assert failure(tmp_path / "dangling.txt") == "broken symlink"


def test_options_reject_nonsense_limits() -> None:
    with pytest.raises(ValueError, match="max_line_chars"):
        LoadOptions(max_line_chars=0)
