"""`llmapp serve`: the OpenAI-compatible API, the knowledge-base API and the web page, on one port."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmapp.cli.common import settings_from

if TYPE_CHECKING:
    from pydantic import SecretStr

MiB = 2**20


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    api_key: Annotated[str | None, typer.Option(
        envvar="LLMAPP_API_KEY", help="Admin key (everything); clients send 'Authorization: Bearer KEY'. Prefer "
        "the environment or --api-key-file: a flag is visible in `ps` [env: LLMAPP_API_KEY].",
        show_default=False)] = None,
    api_key_file: Annotated[Path | None, typer.Option(help="Read the admin key from this file's first line.")]
    = None,
    chat_key: Annotated[str | None, typer.Option(
        envvar="LLMAPP_CHAT_KEY", help="Chat key: chat, search, read; no uploads or deletes "
        "[env: LLMAPP_CHAT_KEY].", show_default=False)] = None,
    chat_key_file: Annotated[Path | None, typer.Option(help="Read the chat key from this file's first line.")]
    = None,
    no_auth: Annotated[bool, typer.Option(
        "--no-auth", help="Run without keys (loopback addresses only); without a key it is required.")] = False,
    allowed_host: Annotated[list[str] | None, typer.Option(
        help="A host name clients may reach the server by besides loopback names (behind a proxy); "
             "repeatable.")] = None,
    backend: Annotated[str | None, typer.Option(
        help="Generator backend: llamacpp, transformers, openai, extractive, fake [default: from the model].")]
    = None,
    model: Annotated[str | None, typer.Option(
        help="Model folder, .gguf file, 'smollm2' or a server's model name [default: the shipped SmolLM2].")] = None,
    adapter: Annotated[Path | None, typer.Option(help="PEFT adapter folder (transformers backend).")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL (openai backend).")] = None,
    device: Annotated[str | None, typer.Option(help="torch device [default: cuda if present].")] = None,
    k: Annotated[int, typer.Option("-k", help="Passages a knowledge-base chat retrieves.")] = 5,
    mode: Annotated[str, typer.Option(help="Retrieval mode: hybrid, dense or lexical.")] = "hybrid",
    min_score: Annotated[float | None, typer.Option(help="Hits below this score count as nothing found.")] = None,
    max_file_mb: Annotated[int, typer.Option(help="Largest uploaded file, MiB.")] = 50,
    max_upload_mb: Annotated[int, typer.Option(help="Largest upload request, MiB.")] = 200,
    max_files: Annotated[int, typer.Option(help="Most files per upload request.")] = 32,
    max_tokens: Annotated[int, typer.Option(help="Largest max_tokens a chat may ask for.")] = 1024,
    max_generations: Annotated[int, typer.Option(
        help="Chats generating or waiting for the model at once; more get 429 with Retry-After.")] = 8,
    classifier: Annotated[list[str] | None, typer.Option(
        help="NAME=FOLDER: a classifier POST /classify may use (a finetune run or HF classification folder); "
             "repeatable.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve knowledge-base chat: OpenAI-compatible /v1 API, /kbs API and the web page at /."""
    import uvicorn

    from llmapp.generate import GeneratorConfig
    from llmapp.server import Limits, ServerSettings, create_app

    settings = settings_from(device=device)
    generator = GeneratorConfig(backend=backend, model=model, adapter=adapter, base_url=base_url, device=device)
    limits = Limits(max_file_bytes=max_file_mb * MiB, max_upload_bytes=max_upload_mb * MiB, max_files=max_files,
                    max_tokens=max_tokens, max_generations=max_generations)
    key, chat = read_key(api_key, api_key_file), read_key(chat_key, chat_key_file)
    server = ServerSettings(host=host, port=port, api_key=key, chat_key=chat, no_auth=no_auth,
                            allowed_hosts=tuple(allowed_host or ()), generator=generator,
                            k=k, mode=mode, min_score=min_score, limits=limits,
                            classifiers=parse_classifiers(classifier or []))
    app = create_app(settings, server)
    typer.echo(f"llmapp: http://{host}:{port}/  (knowledge bases under {settings.home})", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=30)


def read_key(value: str | None, file: Path | None) -> SecretStr | None:
    """A key from the flag/environment or from the first line of a file (not both)."""
    from pydantic import SecretStr

    from llmapp.errors import ConfigError

    if value and file is not None:
        raise ConfigError(f"a key was given both directly and as a file ({file}): give one of them")
    if file is not None:
        try:
            lines = file.expanduser().read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read the key file {file}: {exc.strerror}") from None
        value = lines[0].strip() if lines else ""
        if not value:
            raise ConfigError(f"the key file {file} is empty: put the key on its first line")
    return SecretStr(value) if value else None


def parse_classifiers(specs: list[str]) -> dict[str, Path]:
    """`NAME=FOLDER` pairs; the folder must exist now, not at the first request."""
    from llmapp.errors import ConfigError

    found: dict[str, Path] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise ConfigError(f"--classifier {spec!r}: write NAME=FOLDER, e.g. --classifier tickets=runs/tickets")
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(f"--classifier {name}: {path} is not a folder")
        found[name.strip()] = path
    return found
