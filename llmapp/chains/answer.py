"""What a chain returns: `Answer{text, answered, citations, hits, timings}`.

While streaming, a chain yields partial answers (`final=False`, the new text in `delta`, no citations yet:
the generator's draft) and then one final answer: the verified text, in which every sentence is cited to a
passage that supports it (`llmapp.chains.grounding`), and which says how it was grounded: `generated` (the
generator's supported sentences), `extractive` (the passages' own sentences) or `none` (not found).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from llmapp.chains.grounding import CheckedSentence, Grounding
from llmapp.hits import Hit
from llmapp.language import Language


@dataclass(frozen=True)
class Citation:
    n: int  # the number the answer text uses: [n]
    source: str
    doc_id: str
    chunk_id: int
    text: str  # the passage as it was given to the generator
    attributed: bool = False  # True: the generator did not cite this passage for the sentences it supports
    support: float | None = None  # the best support score of the sentences shown with this citation


@dataclass(frozen=True)
class Timings:
    retrieve_ms: float
    first_token_ms: float | None  # from the start of the call to the first answer text
    total_ms: float
    tokens_per_s: float | None  # decoding speed after the first token; None when under two tokens

    def to_dict(self) -> dict[str, float | None]:
        return {key: (round(value, 2) if value is not None else None) for key, value in asdict(self).items()}


@dataclass
class Answer:
    question: str
    text: str
    answered: bool  # False when nothing relevant was retrieved and the text says so
    language: Language
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    timings: Timings | None = None
    standalone_question: str | None = None  # the condensed follow-up a chat chain searched with
    final: bool = True
    delta: str = ""  # partial answers only: the text added since the previous one
    grounding: Grounding | None = None  # final answers: generated | extractive | none
    sentences: list[CheckedSentence] = field(default_factory=list)  # the draft's sentences, checked

    def to_dict(self) -> dict[str, Any]:
        """The `--json` shape: {"answer", "answered", "grounding", "sentences", "citations", "hits", ...}."""
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "answer": self.text,
            "answered": self.answered,
            "grounding": self.grounding,
            "sentences": [s.to_dict() for s in self.sentences],
            "language": self.language,
            "citations": [asdict(c) for c in self.citations],
            "hits": [hit.to_dict() for hit in self.hits],
            "timings": self.timings.to_dict() if self.timings else None,
        }
