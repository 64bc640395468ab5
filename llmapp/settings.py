"""One settings object: CLI flags > LLMAPP_* environment variables > llmapp.yaml > defaults.

Build it once at the edge (`Settings.load(...)`) and pass it down; nothing reads a global.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from llmapp.errors import ConfigError, NotFoundError
from llmcommon.names import is_kb_name

CONFIG_FILE = "llmapp.yaml"


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("llmapp"))


class Settings(BaseSettings):
    """Everything configurable. Unknown keys in llmapp.yaml are rejected."""

    model_config = SettingsConfigDict(env_prefix="LLMAPP_", extra="forbid", yaml_file=CONFIG_FILE)

    home: Path = Field(default_factory=default_home, description="Where knowledge bases named by a plain name live.")
    embedder: str | None = Field(
        default=None, description="Embedder for new knowledge bases: 'e5-small' (the default; Chinese and English), "
        "'minilm' (English only) or a sentence-transformers folder."
    )
    chunk_tokens: int | None = Field(
        default=None, ge=16, description="Chunk budget in embedder tokens; default: the embedder's window."
    )
    chunk_overlap: int = Field(default=32, ge=0, description="Tokens shared by consecutive chunks.")
    embed_batch_size: int = Field(default=32, ge=1, le=4096, description="Texts per embedding batch.")
    embed_precision: Literal["auto", "float32", "bfloat16", "float16", "int8"] = Field(
        default="auto",
        description="Embedding forward pass: auto = on a CPU bfloat16 with AMX, else int8 with VNNI, else "
        "bfloat16 where it is measured faster than float32, else float32; float16 on CUDA. bfloat16 vectors agree with "
        "float32 ones to cosine >= 0.9999, int8 ones to >= 0.995 (docs/ingest.md).",
    )
    ann_threshold: int = Field(
        default=200_000, ge=1, description="Vectors from which a knowledge base's dense index is approximate (FAISS "
        "IVF, recall@10 >= 0.97 against exact search) instead of exact; applied at the next ingest."
    )
    device: str | None = Field(default=None, description="torch device (cpu, cuda, cuda:1); default: cuda if present.")
    threads: int | None = Field(
        default=None, ge=1, le=1024,
        description="CPU threads for generation (llama.cpp, transformers on CPU); default: the physical cores "
        "this process may use, minus those other processes keep busy, at most 8.",
    )
    remote_kbs: dict[str, str] = Field(
        default_factory=dict, description="Knowledge bases kept in Milvus, by name: {handbook: "
        "'milvus://HOST:19530/handbook'}; `--kb handbook` (CLI, server) then means that URI (docs/scale.md).",
    )

    @field_validator("remote_kbs")
    @classmethod
    def _check_remote_kbs(cls, value: dict[str, str]) -> dict[str, str]:
        from ingest.milvus.uri import is_milvus_uri

        for name, uri in value.items():
            if not is_kb_name(name) or not is_milvus_uri(uri):
                raise ValueError(f"remote_kbs: {name!r}: {uri!r} must map a knowledge base name to milvus://HOST:PORT/NAME")
        return value

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        return Path(value).expanduser() if isinstance(value, (str, Path)) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings with CLI overrides applied; `None` overrides mean "not given on the command line"."""
        given = {key: value for key, value in overrides.items() if value is not None}
        try:
            return cls(**given)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise ConfigError(f"invalid settings (flags, LLMAPP_* variables or {CONFIG_FILE}):\n{exc}") from exc

    def chosen_chunk_overlap(self) -> int | None:
        """`chunk_overlap` when a flag, LLMAPP_CHUNK_OVERLAP or llmapp.yaml set it, else None: a new knowledge base
        then picks its default (at most a quarter of a chunk) and an existing one keeps the overlap it was built
        with."""
        return self.chunk_overlap if "chunk_overlap" in self.model_fields_set else None

    def kb_location(self, kb: str, must_exist: bool = False) -> Path | str:
        """`kb_path`, or the Milvus URI that `kb` is (milvus://...) or that `remote_kbs` maps the name `kb` to."""
        from ingest.milvus.uri import is_milvus_uri

        uri = kb if is_milvus_uri(kb) else self.remote_kbs.get(kb)
        if uri is None:
            return self.kb_path(kb, must_exist)
        if must_exist:
            from ingest.store.backend import store_exists

            if not store_exists(uri):
                raise NotFoundError(f"no knowledge base at {uri}: create it with `llmapp ingest FILES --kb {kb}`")
        return uri

    def kb_path(self, kb: str, must_exist: bool = False) -> Path:
        """A knowledge base given as a name (a folder under `home`) or as a path."""
        looks_like_path = "/" in kb or "\\" in kb or kb.startswith(".") or kb.startswith("~")
        if looks_like_path:
            path = Path(kb).expanduser()
        elif is_kb_name(kb):
            path = self.home / kb
        else:
            raise ConfigError(
                f"{kb!r} is not a valid knowledge base name: use letters (any script), digits, '_', '-' or '.', "
                "or give a path such as ./my-kb"
            )
        if must_exist and not (path / "manifest.json").is_file():
            raise NotFoundError(f"no knowledge base at {path}: create it with `llmapp ingest FILES --kb {kb}`")
        return path
