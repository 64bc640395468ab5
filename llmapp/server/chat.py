"""Chat completions: `kb:<name>` models answer through the QA chain (the conversation's earlier messages
condense a follow-up, as the chat chain does); other models chat with the generator directly.

Generation runs in its own thread and hands answers over a queue, so a client that disconnects mid-stream
never leaves a backend half-way through a generation, and backends that are not thread-safe (llama.cpp,
transformers) get one generation at a time through `ServedGenerator.lock`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmapp.chains import Answer, ChatChain, ChatHistory, QAChain, Turn
from llmapp.chains.chat import HISTORY_TURNS
from llmapp.chains.qa import QA_OPTIONS
from llmapp.errors import ConfigError
from llmapp.generate import GenerationOptions, Generator, Message, PassageAnswerer
from llmapp.hits import Hit
from llmapp.language import detect_language
from llmapp.server.errors import ApiError, error_body, to_api_error
from llmapp.server.knowledge import KnowledgeBases, document_id
from llmapp.server.schemas import ChatRequest

KB_PREFIX = "kb:"


@dataclass
class ServedGenerator:
    """The server's one generator, its public model id, and the lock that serialises LM backends."""

    generator: Generator
    model_id: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(8))
    history: ChatHistory = field(default_factory=lambda: ChatHistory(Path(":memory:")))

    @property
    def thread_safe(self) -> bool:
        return isinstance(self.generator, PassageAnswerer)  # answers from passages, keeps no model state


class KbSearch:
    """A retriever stand-in that takes the knowledge base's current retriever for each search only."""

    def __init__(self, kbs: KnowledgeBases, name: str) -> None:
        self.kbs = kbs
        self.name = name

    def search(self, query: str, k: int = 5, filters: dict[str, Any] | None = None) -> list[Hit]:
        with self.kbs.retriever(self.name) as retriever:
            hits: list[Hit] = retriever.search(query, k=k, filters=filters)
            return hits

    def embed(self, texts: Sequence[str], role: str = "passage") -> Any:
        """The knowledge base's embedder on `texts`, under the retriever's lock (a tokenizer is not shared
        between threads)."""
        with self.kbs.retriever(self.name) as retriever:
            embedder = getattr(retriever, "embedder", None)
            if embedder is None:
                raise ConfigError(f"knowledge base {self.name!r} is searched without an embedder")
            return embedder.embed(list(texts), role=role)


def generation_options(request: ChatRequest, max_allowed: int, grounded: bool = False) -> GenerationOptions:
    wanted = request.max_completion_tokens or request.max_tokens or min(512, max_allowed)
    if wanted > max_allowed:
        raise ApiError(400, f"max_tokens={wanted} is over the server's limit of {max_allowed}")
    # a knowledge-base answer without stops of its own gets the QA chain's: one paragraph, no repetition loops
    qa = QA_OPTIONS if grounded else GenerationOptions()
    stop = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or qa.stop)
    return GenerationOptions(max_tokens=wanted, temperature=request.temperature or 0.0,
                             top_p=request.top_p or 1.0, stop=stop, seed=request.seed,
                             repetition_penalty=qa.repetition_penalty)


def check_context(request: ChatRequest, generator: Generator, options: GenerationOptions) -> None:
    """400 when the conversation and the answer it asks for cannot fit in the model's context window."""
    window = generator.context_window
    prompt = sum(generator.count_tokens(m.text()) for m in request.messages)
    if prompt + options.max_tokens > window:
        raise ApiError(400, f"the messages have {prompt} tokens and max_tokens is {options.max_tokens}: together "
                            f"over the model's context window of {window} tokens; shorten the conversation",
                       "context_length_exceeded")


def split_conversation(request: ChatRequest) -> tuple[str, list[Turn]]:
    """The last user message (the question) and the user/assistant turns before it."""
    messages = [m for m in request.messages if m.role in ("user", "assistant")]
    if not messages or messages[-1].role != "user" or not messages[-1].text().strip():
        raise ApiError(400, "the last message must be a non-empty user message (the question)")
    turns = [Turn("user" if m.role == "user" else "assistant", m.text()) for m in messages[:-1]]
    return messages[-1].text(), turns[-HISTORY_TURNS:]


def kb_answers(kbs: KnowledgeBases, served: ServedGenerator, request: ChatRequest, k: int,
               options: GenerationOptions) -> Callable[[], Iterator[Answer]]:
    """The QA chain's partial answers and final answer, as a callable run later in the generation thread."""
    name = request.model[len(KB_PREFIX):]
    kbs.open(name)  # 404 now, before any stream starts
    question, turns = split_conversation(request)
    filters = request.filters.as_dict() if request.filters else None

    def run() -> Iterator[Answer]:
        qa = QAChain(KbSearch(kbs, name), served.generator, k=k, options=options)
        standalone = ChatChain(qa, served.history).condense(question, turns)
        search_query = standalone if standalone != question else None
        yield from qa.run(question, filters=filters, search_query=search_query,
                          language=detect_language(question))
    return run


def plain_answers(served: ServedGenerator, request: ChatRequest,
                  options: GenerationOptions) -> Callable[[], Iterator[Answer]]:
    """The generator on the conversation as given, wrapped as answers without citations."""
    messages: list[Message] = [
        {"role": "system" if m.role == "developer" else m.role, "content": m.text()}  # type: ignore[typeddict-item]
        for m in request.messages
    ]
    question = split_conversation(request)[0]
    language = detect_language(question)

    def run() -> Iterator[Answer]:
        text = ""
        for piece in served.generator.stream(messages, **options.__dict__):
            text += piece
            yield Answer(question, text, True, language, final=False, delta=piece)
        yield Answer(question, text, True, language)
    return run


# --- OpenAI wire format ----------------------------------------------------------------------------------

def citations_of(answer: Answer, kbs: KnowledgeBases, kb: str | None) -> list[dict[str, Any]]:
    """Citations as the API returns them: the passage, its source and where in it (page, heading)."""
    if kb is None:
        return []
    metadata = {hit.chunk_id: hit for hit in answer.hits}
    out = []
    for c in answer.citations:
        hit = metadata.get(c.chunk_id)
        out.append({"n": c.n, "source": kbs.display_source(kb, c.source), "document_id": document_id(c.source),
                    "doc_id": c.doc_id, "chunk_id": c.chunk_id, "text": c.text,
                    "metadata": hit.metadata if hit else {}, "score": round(hit.score, 4) if hit else None,
                    "support": round(c.support, 4) if c.support is not None else None, "attributed": c.attributed})
    return out


@dataclass
class Completion:
    """One chat completion's identity and the facts its final message reports."""

    model: str
    id: str = field(default_factory=lambda: "chatcmpl-" + uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return "data: " + json.dumps(body, ensure_ascii=False) + "\n\n"

    def usage_chunk(self, usage: dict[str, int]) -> str:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [], "usage": usage}
        return "data: " + json.dumps(body) + "\n\n"

    def full(self, text: str, finish: str, usage: dict[str, int], **extra: Any) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": finish}], "usage": usage, **extra}


def extras(answer: Answer, kbs: KnowledgeBases, kb: str | None, draft: str | None = None) -> dict[str, Any]:
    """The documented extra fields: `citations` and `llmapp` (answered, the verified text, how it was grounded,
    each draft sentence's support, timings...). `replaces_draft`: the streamed draft differs from `text`."""
    return {"citations": citations_of(answer, kbs, kb),
            "llmapp": {"answered": answer.answered, "text": answer.text, "language": answer.language,
                       "grounding": answer.grounding, "sentences": [s.to_dict() for s in answer.sentences],
                       "replaces_draft": draft is not None and draft.strip() != answer.text.strip(),
                       "standalone_question": answer.standalone_question,
                       "timings": answer.timings.to_dict() if answer.timings else None}}


def usage_of(request: ChatRequest, answer: Answer, generator: Generator) -> dict[str, int]:
    prompt = sum(generator.count_tokens(m.text()) for m in request.messages)
    completion = generator.count_tokens(answer.text) if answer.text else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def finish_reason(answer: Answer, generator: Generator, options: GenerationOptions) -> str:
    if answer.answered and answer.text and generator.count_tokens(answer.text) >= options.max_tokens:
        return "length"
    return "stop"


def sse_stream(answers: Iterator[Answer], completion: Completion, kbs: KnowledgeBases, kb: str | None,
               generator: Generator, options: GenerationOptions, usage_for: ChatRequest | None = None) -> Iterator[str]:
    """SSE events in OpenAI's chunk format: the draft as content deltas, then a last chunk with finish_reason,
    citations and `llmapp`, whose `text` is the verified answer that replaces the draft. With `usage_for`
    (stream_options.include_usage), one more chunk with empty `choices` carries `usage`."""
    yield completion.chunk({"role": "assistant", "content": ""})
    draft = ""
    try:
        for answer in answers:
            if not answer.final:
                if answer.delta:
                    draft += answer.delta
                    yield completion.chunk({"content": answer.delta})
                continue
            if not draft:  # nothing was streamed (no passages found): the answer is the only content
                yield completion.chunk({"content": answer.text})
                draft = answer.text
            yield completion.chunk({}, finish_reason(answer, generator, options),
                                   **extras(answer, kbs, kb, draft))
            if usage_for is not None:
                yield completion.usage_chunk(usage_of(usage_for, answer, generator))
    except Exception as exc:  # headers are gone: the error travels as an event in the error shape
        error = to_api_error(exc, kbs.settings.home)
        yield "data: " + json.dumps(error_body(error.type, error.message), ensure_ascii=False) + "\n\n"
    yield "data: [DONE]\n\n"
