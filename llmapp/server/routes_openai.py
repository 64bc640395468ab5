"""OpenAI-compatible endpoints: chat completions (with citations), models and embeddings.

Extra fields, documented in docs/server.md: a chat completion carries `citations` (a list of {n, source,
document_id, doc_id, chunk_id, text, metadata, score}) and `llmapp` ({answered, text, language,
standalone_question, timings}); when streaming, both come in the last chunk, the one with `finish_reason`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from llmapp.server.chat import (
    KB_PREFIX,
    Completion,
    extras,
    finish_reason,
    generation_options,
    in_thread,
    kb_answers,
    plain_answers,
    sse_stream,
    usage_of,
)
from llmapp.server.errors import ApiError
from llmapp.server.schemas import ChatRequest, EmbeddingRequest
from llmapp.server.state import ServerState

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
    def chat_completions(request: ChatRequest) -> JSONResponse | StreamingResponse:
        served = state.generator()
        options = generation_options(request, limits.max_tokens, grounded=request.model.startswith(KB_PREFIX))
        kb: str | None = None
        if request.model.startswith(KB_PREFIX):
            kb = request.model[len(KB_PREFIX):]
            k = request.k or state.server.k
            if k > limits.max_k:
                raise ApiError(400, f"k={k} is over the server's limit of {limits.max_k}")
            run = kb_answers(kbs, served, request, k, options)
        elif request.model in (served.model_id, "default"):
            run = plain_answers(served, request, options)
        else:
            raise ApiError(404, f"no model {request.model!r}: use kb:<knowledge base> or {served.model_id!r} "
                                "(see GET /v1/models)", "model_not_found")
        answers = in_thread(run, None if served.thread_safe else served.lock)
        completion = Completion(request.model)
        if request.stream:
            events = sse_stream(answers, completion, kbs, kb, served.generator, options)
            return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
        *_, final = answers
        body = completion.full(final.text, finish_reason(final, served.generator, options),
                               usage_of(request, final, served.generator), **extras(final, kbs, kb))
        return JSONResponse(body)

    @router.post("/embeddings", summary="Embeddings with a knowledge base's embedder (model kb:<name>)")
    def embeddings(request: EmbeddingRequest) -> dict[str, Any]:
        name = request.model.removeprefix(KB_PREFIX)
        texts = request.texts()
        if not texts or len(texts) > limits.max_embedding_inputs:
            raise ApiError(400, f"input must hold 1 to {limits.max_embedding_inputs} texts, got {len(texts)}")
        embedder = kbs.embedder_of(name)
        vectors = embedder.embed(texts, role=request.input_type)
        tokens = sum(embedder.count_tokens(text) for text in texts)
        return {"object": "list", "model": KB_PREFIX + name,
                "data": [{"object": "embedding", "index": i, "embedding": [round(float(x), 7) for x in vector]}
                         for i, vector in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    return router
