"""Request bodies. The OpenAI-compatible ones ignore unknown fields (clients send `n`, `user`,
`presence_penalty`...); llmapp's own endpoints reject them, so a typo is an error rather than silently ignored."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


MAX_FILTER_IDS = 1000  # doc_id values in one filter: each becomes a bound SQL parameter
MAX_FILTER_KEYS = 16


class Filters(_Strict):
    """Only chunks that match: a source glob, document ids, metadata values (see docs/retrieval.md)."""

    source: str | None = Field(default=None, max_length=512, examples=["*.pdf"])
    doc_id: list[Annotated[str, Field(max_length=512)]] | Annotated[str, Field(max_length=512)] | None = Field(
        default=None, max_length=MAX_FILTER_IDS)
    metadata: dict[Annotated[str, Field(pattern=r"^[\w.-]{1,64}$")], str | int | float | bool] | None = Field(
        default=None, max_length=MAX_FILTER_KEYS)

    @field_validator("metadata")
    @classmethod
    def _short_values(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value and any(len(str(v)) > 512 for v in value.values()):
            raise ValueError("metadata values are at most 512 characters")
        return value

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


class StreamOptions(_Lenient):
    include_usage: bool = Field(default=False, description="End the stream with a chunk that carries `usage`.")


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
    n: int = Field(default=1, ge=1, le=1, description="Choices per request: only 1 is served (else a 400).")
    stream_options: StreamOptions | None = None
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
    encoding_format: Literal["float", "base64"] = "float"  # base64: the OpenAI SDK's default (little-endian f32)
    dimensions: int | None = Field(default=None, ge=1, description="Must equal the embedder's dimension if given.")
    input_type: Literal["query", "passage"] = Field(
        default="passage", description="What the texts are, for models with prompts (e5: 'query: '/'passage: '): "
        "'passage' for texts to search, 'query' for questions. An extension to OpenAI's API.")

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)
