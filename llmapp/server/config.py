"""Server settings: where it listens, who may call it, and the limits every request is held to.

Built once by `llmapp serve` (or a test) and passed to `create_app`; nothing reads a global. Exposure rules:
an API key is required whenever the server binds to anything but loopback, and `no_auth` is refused there.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from llmapp.errors import ConfigError
from llmapp.generate import GeneratorConfig

log = logging.getLogger(__name__)

MiB = 2**20


class Limits(BaseModel):
    """What one request may ask for. Each limit is named in the error that enforces it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_file_bytes: int = Field(default=50 * MiB, ge=1, description="Bytes per uploaded file.")
    max_upload_bytes: int = Field(default=200 * MiB, ge=1, description="Bytes per upload request (all files).")
    max_files: int = Field(default=32, ge=1, description="Files per upload request.")
    max_body_bytes: int = Field(default=1 * MiB, ge=1024, description="Bytes of any other request body.")
    max_tokens: int = Field(default=1024, ge=1, description="Largest max_tokens a chat completion may ask for.")
    max_k: int = Field(default=50, ge=1, description="Most hits a search or a chat may retrieve.")
    max_embedding_inputs: int = Field(default=256, ge=1, description="Texts per /v1/embeddings request.")
    max_classify_texts: int = Field(default=1024, ge=1, description="Texts per POST /classify request.")
    load_memory_bytes: int = Field(default=2 * 2**30, ge=64 * MiB,
                                   description="Address space of the child process that reads one uploaded file.")
    load_timeout_s: float = Field(default=120.0, gt=0, description="Seconds the child may take to read one file.")
    max_concurrent: int = Field(default=64, ge=1, description="Requests served at once; more get 503.")
    max_concurrent_uploads: int = Field(default=4, ge=1, description="Uploads received at once; more get 429.")
    max_generations: int = Field(default=8, ge=1, description="Chats generating or waiting; more get 429.")
    jobs_kept: int = Field(default=500, ge=10, description="Finished jobs remembered for GET /jobs/{id}.")


class ServerSettings(BaseModel):
    """How `llmapp serve` runs. `api_key` is the admin key (everything); `chat_key` may chat, search and read
    but not upload, delete or create. Without keys the server only starts with `no_auth` on loopback."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_key: SecretStr | None = None
    chat_key: SecretStr | None = None
    no_auth: bool = False
    allowed_hosts: tuple[str, ...] = Field(
        default=(), description="Host names clients may use besides loopback ones (e.g. behind a proxy).")
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    k: int = Field(default=5, ge=1, description="Passages a knowledge-base chat retrieves by default.")
    mode: str = Field(default="hybrid", description="Retrieval mode: hybrid, dense or lexical.")
    min_score: float | None = Field(default=None, description="Hits below this score count as nothing found.")
    limits: Limits = Field(default_factory=Limits)
    classifiers: dict[str, Path] = Field(
        default_factory=dict,
        description="Models POST /classify may use, by name: a finetune run folder or a HF classification folder. "
        "Clients name them; they never send paths.",
    )

    def check_exposure(self) -> None:
        """Refuse settings that would put an unauthenticated server on the network, or run keyless by accident."""
        loopback = is_loopback(self.host)
        if self.no_auth and (self.api_key is not None or self.chat_key is not None):
            raise ConfigError("--no-auth and an API key contradict each other: give one of them")
        if self.no_auth and not loopback:
            raise ConfigError(f"--no-auth is only allowed on a loopback address (127.0.0.1, ::1), not {self.host}")
        if self.api_key is None and not self.no_auth:
            where = "exposes the server to the network" if not loopback else "would run without a key"
            raise ConfigError(
                f"binding to {self.host} {where}: set an admin key with LLMAPP_API_KEY or --api-key-file FILE "
                "(clients send it as 'Authorization: Bearer KEY'), or pass --no-auth to run open on loopback"
            )
        for label, key in (("API key", self.api_key), ("chat key", self.chat_key)):
            if key is not None and len(key.get_secret_value()) < 8:
                raise ConfigError(f"the {label} is too short: use at least 8 characters (e.g. `openssl rand -hex 16`)")
        if self.chat_key is not None and self.api_key is not None and \
                self.chat_key.get_secret_value() == self.api_key.get_secret_value():
            raise ConfigError("the chat key equals the admin key: give the chat key its own value")
        if self.no_auth:
            log.warning("--no-auth: anyone who can reach %s:%s can use this server", self.host, self.port)

    @property
    def auth_required(self) -> bool:
        return self.api_key is not None


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses; hostnames other than localhost count as exposed."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
