"""`POST /kbs/{kb}/tune`: `llmapp kb tune` as a background job, its status and report in the jobs API.

The job runs on the knowledge base's own worker (after its queued ingests); progress counts the loop's phases.
Requests keep being answered from the current embedder until the switch commits; the next request after it
opens the new version (llmapp.server.knowledge checks the committed version on every request).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from llmapp.server.jobs import Job
from llmapp.server.state import ServerState


class TuneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(False, description="Stop after the gate's evaluation; change nothing.")
    rollback: bool = Field(False, description="Return to the embedder before the last tuning.")
    full: bool = Field(False, description="Fine-tune every weight instead of a LoRA adapter.")
    sample: int = Field(2000, ge=10, le=50_000, description="Chunks that get a pseudo-query.")
    margin: float = Field(0.005, ge=0.0, le=1.0, description="nDCG@10 gain the tuned embedder must exceed.")
    epochs: float = Field(1.0, gt=0.0, le=20.0)
    batch_size: int = Field(32, ge=2, le=512)
    seed: int = 13


def tune_router(state: ServerState) -> APIRouter:
    router = APIRouter(tags=["knowledge bases"])

    @router.post("/kbs/{kb}/tune", status_code=202,
                 summary="Tune the knowledge base's embedder (or roll it back) in a background job")
    def tune(kb: str, body: TuneRequest) -> dict[str, Any]:
        base = state.kbs.open(kb)  # 404 for an unknown knowledge base, before a job exists
        job = state.jobs.submit("tune", kb, 1 if body.rollback else 6, _step(state, str(base.path), body))
        return {"job": job.to_dict()}

    return router


def _step(state: ServerState, kb: str, body: TuneRequest) -> Any:
    from llmapp.tune.loop import PHASES, TuneOptions, rollback, tune
    from llmapp.tune.training import TrainOptions

    def run(job: Job) -> None:
        if body.rollback:
            job.result = {"rolled_back": True, "version": rollback(state.settings, kb)}
            job.done = 1
            return
        train = TrainOptions(full=body.full, epochs=body.epochs, batch_size=body.batch_size, seed=body.seed)
        options = TuneOptions(sample=body.sample, margin=body.margin, dry_run=body.dry_run, seed=body.seed,
                              train=train)

        def started(name: str) -> None:
            job.done = PHASES.index(name)

        report = tune(state.settings, kb, options, on_phase=started)
        job.done = job.total
        job.result = report.to_dict()

    return run
