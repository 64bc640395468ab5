"""Knowledge-base management: create, list, info, delete; upload, list and delete documents; search; jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse

from llmapp.server.errors import ApiError
from llmapp.server.knowledge import document_id
from llmapp.server.schemas import CreateKb, SearchRequest
from llmapp.server.state import ServerState
from llmapp.server.uploads import Incoming, check_upload, ingest_step, remove_step, sanitise_name, save_uploads


def kb_router(state: ServerState) -> APIRouter:
    router = APIRouter(tags=["knowledge bases"])
    kbs, jobs, limits = state.kbs, state.jobs, state.server.limits

    @router.get("/kbs", summary="List knowledge bases")
    def list_kbs() -> dict[str, Any]:
        return {"knowledge_bases": [{"name": name, "busy": jobs.busy(name)} for name in kbs.names()]}

    @router.post("/kbs", status_code=201, summary="Create an empty knowledge base")
    def create_kb(body: CreateKb) -> dict[str, Any]:
        return kbs.create(body.name, body.embedder, body.chunk_tokens)

    @router.get("/kbs/{kb}", summary="Documents, chunks, vectors, embedder and size of a knowledge base")
    def kb_info(kb: str) -> dict[str, Any]:
        return {**kbs.info(kb), "busy": jobs.busy(kb)}

    @router.delete("/kbs/{kb}", summary="Delete a knowledge base and everything in it")
    def delete_kb(kb: str) -> dict[str, Any]:
        if jobs.busy(kb):
            raise ApiError(409, f"knowledge base {kb!r} has jobs queued or running; delete it when they are done")
        kbs.delete(kb)
        return {"deleted": kb}

    @router.get("/kbs/{kb}/documents", summary="The source files of a knowledge base")
    def list_documents(kb: str) -> dict[str, Any]:
        return {"kb": kb, "documents": kbs.documents(kb)}

    @router.post("/kbs/{kb}/documents", status_code=202,
                 summary="Upload files (multipart field 'files', repeatable); ingested by a background job")
    def upload(kb: str, files: list[UploadFile] = File(...)) -> dict[str, Any]:
        base = kbs.open(kb)
        from ingest.loaders import supported_extensions

        incoming = [Incoming(sanitise_name(f.filename or ""), f.file, _size(f)) for f in files]
        check_upload(incoming, limits, supported_extensions())
        saved = save_uploads(incoming, kbs.uploads(kb))
        embedder = kbs.embedder(base.manifest.embedder.name)
        job = jobs.submit("ingest", kb, len(saved), ingest_step(base.path, saved, embedder, limits),
                          {"files": [path.name for path in saved]})
        return {"job": job.to_dict(), "files": [path.name for path in saved]}

    @router.delete("/kbs/{kb}/documents/{doc}", status_code=202,
                   summary="Remove a document (a source file and its chunks) through a background job")
    def delete_document(kb: str, doc: str) -> dict[str, Any]:
        source, sha256 = kbs.source_of(kb, doc)
        job = jobs.submit("remove", kb, 1, remove_step(kbs.open(kb), source, sha256),
                          {"source": source, "sha256": sha256})
        return {"job": job.to_dict(), "document": {"id": document_id(source),
                                                   "source": kbs.display_source(kb, source)}}

    @router.post("/kbs/{kb}/search", summary="The best chunks for a query (the CLI's hits)")
    def search(kb: str, body: SearchRequest) -> dict[str, Any]:
        if body.k > limits.max_k:
            raise ApiError(400, f"k={body.k} is over the server's limit of {limits.max_k}")
        filters = body.filters.as_dict() if body.filters else None
        with kbs.retriever(kb) as retriever:
            hits = retriever.search(body.query, k=body.k, filters=filters)
            mode = retriever.mode
        return {"kb": kb, "mode": mode, "hits": [_shown(kbs, kb, hit.to_dict()) for hit in hits]}

    @router.get("/jobs", summary="Recent jobs, newest first")
    def list_jobs(kb: str | None = None) -> dict[str, Any]:
        return {"jobs": [job.to_dict() for job in jobs.list(kb)]}

    @router.get("/jobs/{job_id}", summary="A job's status, progress and result (the ingest report)")
    def get_job(job_id: str) -> JSONResponse:
        job = jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id!r} (the server remembers its latest {jobs.kept} jobs)")
        return JSONResponse(job.to_dict())

    return router


def _size(upload: UploadFile) -> int:
    if upload.size is not None:
        return upload.size
    upload.file.seek(0, 2)
    size = upload.file.tell()
    upload.file.seek(0)
    return size


def _shown(kbs: Any, kb: str, hit: dict[str, Any]) -> dict[str, Any]:
    hit["document_id"] = document_id(hit["source"])
    hit["source"] = kbs.display_source(kb, hit["source"])
    return hit
