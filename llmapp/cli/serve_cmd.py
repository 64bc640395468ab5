"""`llmapp serve`: the OpenAI-compatible API, the knowledge-base API and the web page, on one port."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmapp.cli.common import settings_from

MiB = 2**20


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    api_key: Annotated[str | None, typer.Option(
        envvar="LLMAPP_API_KEY", help="Clients send 'Authorization: Bearer KEY' [env: LLMAPP_API_KEY].",
        show_default=False)] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="No API key (loopback addresses only).")] = False,
    backend: Annotated[str | None, typer.Option(
        help="Generator backend: llamacpp, transformers, openai, extractive, fake [default: from the model].")]
    = None,
    model: Annotated[str | None, typer.Option(
        help="Model folder, .gguf file, 'smollm2' or a server's model name [default: the shipped SmolLM2].")] = None,
    adapter: Annotated[Path | None, typer.Option(help="PEFT adapter folder (transformers backend).")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL (openai backend).")] = None,
    device: Annotated[str | None, typer.Option(help="torch device [default: cuda if present].")] = None,
    threads: Annotated[int | None, typer.Option(
        min=1, help="CPU threads for generation [default: $LLMAPP_THREADS, llmapp.yaml, else the free cores].",
        show_default=False)] = None,
    k: Annotated[int, typer.Option("-k", help="Passages a knowledge-base chat retrieves.")] = 5,
    mode: Annotated[str, typer.Option(help="Retrieval mode: hybrid, dense or lexical.")] = "hybrid",
    min_score: Annotated[float | None, typer.Option(help="Hits below this score count as nothing found.")] = None,
    max_file_mb: Annotated[int, typer.Option(help="Largest uploaded file, MiB.")] = 50,
    max_upload_mb: Annotated[int, typer.Option(help="Largest upload request, MiB.")] = 200,
    max_files: Annotated[int, typer.Option(help="Most files per upload request.")] = 32,
    max_tokens: Annotated[int, typer.Option(help="Largest max_tokens a chat may ask for.")] = 1024,
    classifier: Annotated[list[str] | None, typer.Option(
        help="NAME=FOLDER: a classifier POST /classify may use (a finetune run or HF classification folder); "
             "repeatable.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve knowledge-base chat: OpenAI-compatible /v1 API, /kbs API and the web page at /."""
    import uvicorn
    from pydantic import SecretStr

    from llmapp.generate import GeneratorConfig
    from llmapp.server import Limits, ServerSettings, create_app

    settings = settings_from(device=device, threads=threads)
    generator = GeneratorConfig(backend=backend, model=model, adapter=adapter, base_url=base_url,
                                device=settings.device, threads=settings.threads)
    limits = Limits(max_file_bytes=max_file_mb * MiB, max_upload_bytes=max_upload_mb * MiB, max_files=max_files,
                    max_tokens=max_tokens)
    key = SecretStr(api_key) if api_key else None
    server = ServerSettings(host=host, port=port, api_key=key, no_auth=no_auth, generator=generator,
                            k=k, mode=mode, min_score=min_score, limits=limits,
                            classifiers=parse_classifiers(classifier or []))
    app = create_app(settings, server)
    typer.echo(f"llmapp: http://{host}:{port}/  (knowledge bases under {settings.home})", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=30)


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
