"""OpenAI-compatible endpoints: chat completions (with citations), models and embeddings.

Extra fields, documented in docs/server.md: a chat completion carries `citations` (a list of {n, source,
document_id, doc_id, chunk_id, text, metadata, score}) and `llmapp` ({answered, text, language,
standalone_question, timings}); when streaming, both come in the last chunk, the one with `finish_reason`.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from llmapp.server.chat import (
    KB_PREFIX,
    Completion,
    check_context,
    extras,
    finish_reason,
    generation_options,
    kb_answers,
    plain_answers,
    sse_stream,
    usage_of,
)
from llmapp.server.errors import ApiError
from llmapp.server.generation import Generation, last_answer, stream_until_disconnect, take_slot
from llmapp.server.schemas import ChatRequest, EmbeddingRequest
from llmapp.server.state import ServerState


def encoded(vector: Any, encoding_format: str) -> Any:
    """A vector as floats, or as base64 of little-endian float32 (what the OpenAI SDK asks for by default)."""
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [round(float(x), 7) for x in vector]


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def openai_router(state: ServerState) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])
    kbs, limits = state.kbs, state.server.limits

    @router.get("/models", summary="Knowledge bases as kb:<name>, and the served model")
    def models() -> dict[str, Any]:
        served = state.generator()
        ids = [KB_PREFIX + name for name in kbs.names()] + [served.model_id]
        return {"object": "list", "data": [{"id": i, "object": "model", "created": 0, "owned_by": "llmapp"}
                                           for i in ids]}

    @router.post("/chat/completions", summary="Chat; model kb:<name> answers from a knowledge base with citations",
                 response_model=None)
    async def chat_completions(request: ChatRequest, http: Request) -> JSONResponse | StreamingResponse:
        served = state.generator()
        options = generation_options(request, limits.max_tokens, grounded=request.model.startswith(KB_PREFIX))
        check_context(request, served.generator, options)
        run, kb = await run_in_threadpool(answers_for, request, options)  # opens the knowledge base: disk
        take_slot(served.slots, limits.max_generations)
        generation = Generation(run, None if served.thread_safe else served.lock, served.slots)
        completion = Completion(request.model)
        if request.stream:
            usage = request if request.stream_options and request.stream_options.include_usage else None
            events = sse_stream(generation.answers(), completion, kbs, kb, served.generator, options, usage)
            return StreamingResponse(stream_until_disconnect(events, generation.cancel),
                                     media_type="text/event-stream", headers=SSE_HEADERS)
        final = await last_answer(generation, http)
        if final is None:  # the client hung up and the generation stopped early: nobody reads this
            raise ApiError(499, "the client closed the request", "client_closed")
        body = completion.full(final.text, finish_reason(final, served.generator, options),
                               usage_of(request, final, served.generator), **extras(final, kbs, kb))
        return JSONResponse(body)

    def answers_for(request: ChatRequest, options: Any) -> tuple[Any, str | None]:
        served = state.generator()
        if request.model.startswith(KB_PREFIX):
            k = request.k or state.server.k
            if k > limits.max_k:
                raise ApiError(400, f"k={k} is over the server's limit of {limits.max_k}")
            return kb_answers(kbs, served, request, k, options), request.model[len(KB_PREFIX):]
        if request.model in (served.model_id, "default"):
            return plain_answers(served, request, options), None
        raise ApiError(404, f"no model {request.model!r}: use kb:<knowledge base> or {served.model_id!r} "
                            "(see GET /v1/models)", "model_not_found")

    @router.post("/embeddings", summary="Embeddings with a knowledge base's embedder (model kb:<name>)")
    def embeddings(request: EmbeddingRequest) -> dict[str, Any]:
        name = request.model.removeprefix(KB_PREFIX)
        texts = request.texts()
        if not texts or len(texts) > limits.max_embedding_inputs:
            raise ApiError(400, f"input must hold 1 to {limits.max_embedding_inputs} texts, got {len(texts)}")
        embedder = kbs.embedder_of(name)
        if request.dimensions is not None and request.dimensions != embedder.dimension:
            raise ApiError(400, f"dimensions={request.dimensions}: this knowledge base's embedder gives "
                                f"{embedder.dimension}-d vectors and cannot shorten them; leave dimensions out")
        vectors = embedder.embed(texts, role=request.input_type)
        tokens = sum(embedder.count_tokens(text) for text in texts)
        return {"object": "list", "model": KB_PREFIX + name,
                "data": [{"object": "embedding", "index": i, "embedding": encoded(vector, request.encoding_format)}
                         for i, vector in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    return router
