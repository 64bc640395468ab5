"""POST /classify and GET /classifiers: batch labelling with the classifiers `llmapp serve` was started with.

Clients name a classifier (`--classifier NAME=FOLDER`); a path never comes from a request. Each classifier
loads on first use and is then shared; predictions run in FastAPI's worker threads.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from llmapp.server.errors import ApiError
from llmapp.server.schemas import ClassifyRequest
from llmapp.server.state import ServerState


class Classifiers:
    """The configured classifiers, loaded once each, on first use."""

    def __init__(self, folders: dict[str, Path], device: str | None = None) -> None:
        self.folders = dict(folders)
        self.device = device
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self.folders)

    def get(self, name: str) -> Any:
        if name not in self.folders:
            known = ", ".join(self.names()) or "none: start the server with --classifier NAME=FOLDER"
            raise ApiError(404, f"no classifier {name!r}; available: {known}")
        with self._lock:
            if name not in self._loaded:
                from llmapp.classify import Classifier

                self._loaded[name] = Classifier.from_pretrained(self.folders[name], device=self.device)
            return self._loaded[name]


def classify_router(state: ServerState) -> APIRouter:
    router = APIRouter(tags=["classification"])
    classifiers = Classifiers(state.server.classifiers, device=state.settings.device)
    limits = state.server.limits

    @router.get("/classifiers", summary="Classifiers this server can run (names only)")
    def list_classifiers() -> dict[str, Any]:
        return {"classifiers": classifiers.names()}

    @router.post("/classify", summary="Label texts with a configured classifier")
    def classify(body: ClassifyRequest) -> dict[str, Any]:
        if len(body.texts) > limits.max_classify_texts:
            raise ApiError(400, f"{len(body.texts)} texts is over the server's limit of {limits.max_classify_texts}"
                                " per request")
        empty = [i for i, text in enumerate(body.texts) if not text.strip()]
        if empty:
            raise ApiError(400, f"texts[{empty[0]}] is empty; every text needs some content")
        classifier = classifiers.get(body.model)
        predictions = classifier.predict(body.texts, top_k=body.top_k, threshold=body.threshold)
        return {
            "model": body.model,
            "labels": list(classifier.labels),
            "predictions": [_shown(p, body.top_k, body.threshold) for p in predictions],
        }

    return router


def _shown(prediction: Any, top_k: int, threshold: float | None) -> dict[str, Any]:
    shown: dict[str, Any] = {"label": prediction.label, "score": round(prediction.score, 6)}
    if top_k > 1:
        shown["top"] = [{"label": label, "score": round(score, 6)} for label, score in prediction.top]
    if threshold is not None:
        shown["labels"] = list(prediction.labels)
    return shown
