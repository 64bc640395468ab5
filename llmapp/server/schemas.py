"""Request bodies. The OpenAI-compatible ones ignore unknown fields (clients send `n`, `user`,
`presence_penalty`...); llmapp's own endpoints reject them, so a typo is an error rather than silently ignored."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Filters(_Strict):
    """Only chunks that match: a source glob, document ids, metadata values (see docs/retrieval.md)."""

    source: str | None = Field(default=None, max_length=512, examples=["*.pdf"])
    doc_id: list[str] | str | None = None
    metadata: dict[str, str | int | float | bool] | None = None

    def as_dict(self) -> dict[str, Any] | None:
        raw = self.model_dump(exclude_none=True)
        return raw or None


class CreateKb(_Strict):
    name: str = Field(min_length=1, max_length=64, examples=["handbook", "员工手册"])
    embedder: str | None = Field(default=None, description="'e5-small' (default: Chinese and English), 'minilm' "
                                 "(English only) or 'hash[:DIM]' (tests).")
    chunk_tokens: int | None = Field(default=None, ge=16, le=8192)


class SearchRequest(_Strict):
    query: str = Field(min_length=1, max_length=4000)
    k: int = Field(default=5, ge=1)
    filters: Filters | None = None


class ClassifyRequest(_Strict):
    model: str = Field(min_length=1, max_length=128, description="A classifier the server was started with.",
                       examples=["tickets"])
    texts: list[str] = Field(min_length=1, description="Texts to label, in order.")
    top_k: int = Field(default=1, ge=1, le=100, description="Also return the k best labels with their scores.")
    threshold: float | None = Field(default=None, ge=0.0, le=1.0,
                                    description="Multi-label models: every label scoring at least this.")


class TextPart(_Lenient):
    type: Literal["text"]
    text: str


class ChatMessage(_Lenient):
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatRequest(_Lenient):
    """OpenAI chat completion request. `model`: `kb:<name>` answers from that knowledge base with citations;
    the served model's id (see GET /v1/models) chats without retrieval."""

    model: str = Field(min_length=1, max_length=200, examples=["kb:handbook"])
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    k: int | None = Field(default=None, ge=1, description="llmapp: passages to retrieve (kb models).")
    filters: Filters | None = Field(default=None, description="llmapp: retrieval filters (kb models).")

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value


class EmbeddingRequest(_Lenient):
    model: str = Field(min_length=1, max_length=200, examples=["kb:handbook"])
    input: str | list[str]
    encoding_format: Literal["float"] = "float"
    input_type: Literal["query", "passage"] = Field(
        default="passage", description="What the texts are, for models with prompts (e5: 'query: '/'passage: '): "
        "'passage' for texts to search, 'query' for questions. An extension to OpenAI's API.")

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)
