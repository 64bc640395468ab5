"""Heading paths ("Intro > Install") turned into Sections, shared by the Markdown, HTML and DOCX loaders."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.documents import Section


@dataclass(frozen=True)
class Heading:
    start: int  # character offset of the heading in Document.text
    level: int  # 1 for h1 / "#" / "Heading 1"
    title: str


def heading_sections(headings: list[Heading], text_length: int) -> list[Section]:
    """One Section per heading, from the heading to the next heading (or the end of the text).

    Its metadata is {"heading": "H1 > H2 > ..."}: the titles of the enclosing headings, outermost first.
    """
    sections: list[Section] = []
    path: list[Heading] = []
    for i, heading in enumerate(headings):
        path = [h for h in path if h.level < heading.level] + [heading]
        end = headings[i + 1].start if i + 1 < len(headings) else text_length
        if end > heading.start:
            label = " > ".join(h.title for h in path)
            sections.append(Section(heading.start, end, {"heading": label}))
    return sections
