"""What the routes share: settings, the knowledge bases, the job queue and the served generator."""

from __future__ import annotations

from dataclasses import dataclass

from llmapp.server.chat import ServedGenerator
from llmapp.server.config import ServerSettings
from llmapp.server.jobs import JobQueue
from llmapp.server.knowledge import KnowledgeBases
from llmapp.settings import Settings


@dataclass
class ServerState:
    settings: Settings
    server: ServerSettings
    kbs: KnowledgeBases
    jobs: JobQueue
    served: ServedGenerator | None = None  # set when the app has started (the model is loaded then)

    def generator(self) -> ServedGenerator:
        if self.served is None:
            raise RuntimeError("the generator is opened when the app starts")
        return self.served
