"""Builders for loader test files: every fixture is generated in a tmp folder, one builder per format."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path

GBK_TEXT = (
    "知识库问答系统可以从本地文档中检索相关段落，并根据检索结果生成带引用的回答。\n"
    "我们在中文和英文的测试集上评估了它的效果，结果表明混合检索优于单一的向量检索。\n"
)
BIG5_TEXT = (
    "知識庫問答系統可以從本地文件中檢索相關段落，並根據檢索結果產生帶引用的回答。\n"
    "我們在中文和英文的測試集上評估了它的效果，結果顯示混合檢索優於單一的向量檢索。\n"
)
MARKDOWN = """# Guide

Intro paragraph.

```bash
# this is a shell comment, not a heading
echo hi
```

## Install

Run pip.

### From source

Clone it.

# Reference

Details.
"""
HTML = """<!doctype html>
<html><head><title>The  Page</title><style>body { color: red }</style>
<script>var secret = "tracking";</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<header>Site banner</header>
<h1>Retrieval</h1>
<p>Dense retrieval   uses <b>vectors</b>.<br>Second line.</p>
<!-- a comment -->
<h2>Lexical</h2>
<div>BM25 counts <i>terms</i>.</div>
<pre>def f():
    return 1</pre>
<aside>Related links</aside>
<form><input name="q"> Search</form>
<footer>Copyright footer</footer>
<script>console.log("late script")</script>
</body></html>
"""


def write_txt(tmp: Path) -> Path:
    path = tmp / "notes.txt"
    path.write_bytes(b"First line.\r\nSecond line.\rThird line.\n")
    return path


def write_markdown(tmp: Path, suffix: str = ".md") -> Path:
    path = tmp / f"guide{suffix}"
    path.write_text(MARKDOWN, encoding="utf-8")
    return path


def write_html(tmp: Path, suffix: str = ".html") -> Path:
    path = tmp / f"page{suffix}"
    path.write_text(HTML, encoding="utf-8")
    return path


def write_pdf(tmp: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Two pages")
    pdf.set_font("Helvetica", size=12)
    for text in ("Page one is about dense retrieval.", "Page two is about lexical retrieval."):
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    path = tmp / "two_pages.pdf"
    pdf.output(str(path))
    return path


def write_scanned_pdf(tmp: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")  # a page with marks but no text, like a scan
    path = tmp / "scanned.pdf"
    pdf.output(str(path))
    return path


def write_docx(tmp: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Handbook", level=0)
    document.add_heading("Introduction", level=1)
    document.add_paragraph("This handbook explains the system.")
    document.add_heading("Setup", level=2)
    document.add_paragraph("Install the package.")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([["name", "value"], ["k", "10"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_heading("Usage", level=1)
    document.add_paragraph("Ask questions.")
    path = tmp / "handbook.docx"
    document.save(str(path))
    return path


def write_csv(tmp: Path, suffix: str = ".csv") -> Path:
    sep = "\t" if suffix == ".tsv" else ","
    rows = [
        ["id", "title", "text", "lang"],
        ["a1", "First", "Alpha body.", "en"],
        ["a2", "", "Beta body.", "en"],
    ]
    path = tmp / f"rows{suffix}"
    path.write_text("\n".join(sep.join(row) for row in rows) + "\n", encoding="utf-8")
    return path


def write_jsonl(tmp: Path) -> Path:
    path = tmp / "corpus.jsonl"
    path.write_text(
        '{"_id": "doc1", "title": "Aspirin", "text": "Aspirin reduces fever.", "metadata": {"year": 2001}}\n'
        '{"_id": "doc2", "title": "", "text": "Ibuprofen is an NSAID."}\n',
        encoding="utf-8",
    )
    return path


def write_gbk(tmp: Path) -> Path:
    path = tmp / "gbk.txt"
    path.write_bytes(GBK_TEXT.encode("gbk"))
    return path


def write_big5(tmp: Path) -> Path:
    path = tmp / "big5.txt"
    path.write_bytes(BIG5_TEXT.encode("big5"))
    return path


def write_utf16_le_bom(tmp: Path) -> Path:
    path = tmp / "utf16.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "Grüße, 世界\r\nline two".encode("utf-16-le"))
    return path


# One sample per supported extension: the contract test fails when a loader has none.
SAMPLES: dict[str, Callable[[Path], Path]] = {
    ".txt": write_txt,
    ".md": write_markdown,
    ".markdown": lambda tmp: write_markdown(tmp, ".markdown"),
    ".html": write_html,
    ".htm": lambda tmp: write_html(tmp, ".htm"),
    ".pdf": write_pdf,
    ".docx": write_docx,
    ".csv": write_csv,
    ".tsv": lambda tmp: write_csv(tmp, ".tsv"),
    ".jsonl": write_jsonl,
}
