"""`llmapp ask`, `llmapp chat` and `llmapp models list`: answers with citations from a knowledge base.

Thin commands over `llmapp.chains` and `llmapp.generate`; the libraries are imported inside the commands so
`llmapp --help` stays light.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmapp.cli.common import print_json, settings_from

if TYPE_CHECKING:
    from llmapp.chains import Answer, QAChain
    from llmapp.settings import Settings

models_app = typer.Typer(help="Models available locally: generators and the shipped multilingual embedder.",
                         no_args_is_help=True, rich_markup_mode=None)

KbOpt = Annotated[str, typer.Option("--kb", help="Knowledge base: a name, a path or milvus://HOST:PORT/NAME.")]
BackendOpt = Annotated[
    str | None, typer.Option(help="llamacpp, transformers, openai or extractive; default: from the model.")
]
ModelOpt = Annotated[
    str | None, typer.Option(help="Model folder, .gguf file, 'smollm2' (default), or a server's model name.")
]
AdapterOpt = Annotated[Path | None, typer.Option(help="PEFT adapter folder (transformers backend).")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="OpenAI-compatible server, e.g. http://localhost:8000/v1")]
ApiKeyOpt = Annotated[
    str | None, typer.Option(help="Key for --base-url (default: $LLMAPP_OPENAI_API_KEY or $OPENAI_API_KEY).")
]
KOpt = Annotated[int, typer.Option("-k", help="Passages to retrieve.")]
MinScoreOpt = Annotated[float | None, typer.Option(help="Drop passages scoring below this (higher is better).")]
RelativeOpt = Annotated[float | None, typer.Option(
    min=0.0, max=1.0, help="Drop passages scoring below this share of the best one's score (default 0.5; 0: all k)."
)]
ModeOpt = Annotated[str, typer.Option(help="Retrieval: hybrid, dense or lexical.")]
MaxTokensOpt = Annotated[int, typer.Option(help="Longest answer, in tokens.")]
TemperatureOpt = Annotated[float, typer.Option(help="0 = greedy (deterministic).")]
PromptsOpt = Annotated[Path | None, typer.Option(help="Folder of prompt templates overriding the shipped ones.")]
DeviceOpt = Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 (transformers backend).")]
ThreadsOpt = Annotated[int | None, typer.Option(
    min=1, help="CPU threads for generation [default: $LLMAPP_THREADS, llmapp.yaml, else the free cores].",
    show_default=False)]


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
    app.command("chat")(chat)
    app.add_typer(models_app, name="models")


def ask(
    question: Annotated[str, typer.Argument(help="The question, in English or Chinese.")],
    kb: KbOpt,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    adapter: AdapterOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    device: DeviceOpt = None,
    threads: ThreadsOpt = None,
    k: KOpt = 5,
    min_score: MinScoreOpt = None,
    min_relative_score: RelativeOpt = None,
    mode: ModeOpt = "hybrid",
    max_tokens: MaxTokensOpt = 256,
    temperature: TemperatureOpt = 0.0,
    prompts: PromptsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer, citations, hits and timings.")] = False,
) -> None:
    """Answer a question from a knowledge base, streaming the answer, then its numbered sources."""
    settings = settings_from(device=device, threads=threads)
    chain = _qa_chain(settings, kb, k, (min_score, min_relative_score), mode, prompts, max_tokens, temperature,
                      _generator_config(settings, backend, model, adapter, base_url, api_key))
    try:
        final = _answer(chain.run(question), stream=not as_json)
    finally:
        _close(chain.retriever)
    if as_json:
        print_json({**final.to_dict(), "backend": chain.generator.name, "model": chain.generator.model})
        return
    _print_sources(final)


def chat(
    kb: KbOpt,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    adapter: AdapterOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    device: DeviceOpt = None,
    threads: ThreadsOpt = None,
    k: KOpt = 5,
    min_score: MinScoreOpt = None,
    min_relative_score: RelativeOpt = None,
    mode: ModeOpt = "hybrid",
    max_tokens: MaxTokensOpt = 256,
    temperature: TemperatureOpt = 0.0,
    prompts: PromptsOpt = None,
    conversation: Annotated[str, typer.Option(help="Conversation id: history is kept per id.")] = "default",
    history: Annotated[Path | None, typer.Option(help="History database (default: HOME/chat.sqlite).")] = None,
) -> None:
    """Chat with a knowledge base: follow-up questions, streaming; Ctrl-C cancels an answer; /sources, /reset,
    /exit (or Ctrl-D)."""
    from llmapp.chains import ChatChain, ChatHistory

    settings = settings_from(device=device, threads=threads)
    qa = _qa_chain(settings, kb, k, (min_score, min_relative_score), mode, prompts, max_tokens, temperature,
                   _generator_config(settings, backend, model, adapter, base_url, api_key))
    session = ChatChain(qa, ChatHistory(history or settings.home / "chat.sqlite"))
    typer.secho(f"chatting with {kb} ({qa.generator.name}: {qa.generator.model}); /sources /reset /exit",
                fg=typer.colors.BLUE, err=True)
    last: Answer | None = None
    try:
        while (line := _read_line()) is not None:
            if line in ("/exit", "/quit"):
                break
            if line == "/reset":
                typer.echo(f"forgot {session.reset(conversation)} turns", err=True)
            elif line == "/sources":
                _print_sources(last) if last else typer.echo("no answer yet", err=True)
            elif line:
                last = _cancellable(session.run(line, conversation)) or last
    finally:
        session.history.close()
        _close(qa.retriever)


@models_app.command("list")
def list_models(
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """Shipped models, converted caches and (with --base-url) a server's models."""
    from llmapp.generate.models import list_models as find_models

    found = find_models(base_url=base_url, api_key=api_key)
    if as_json:
        print_json([m.to_dict() for m in found])
        return
    for info in found:
        state = "ready" if info.ready else "unavailable"
        typer.secho(f"{info.name:<24} {info.kind:<7} {state:<12} {','.join(info.backends)}", bold=True)
        typer.echo(f"    {info.location}" + (f"  ({info.note})" if info.note else ""))


def _generator_config(settings: Settings, backend: str | None, model: str | None, adapter: Path | None,
                      base_url: str | None, api_key: str | None) -> Any:
    from pydantic import SecretStr

    from llmapp.generate import GeneratorConfig

    key = SecretStr(api_key) if api_key else None
    return GeneratorConfig(backend=backend, model=model, adapter=adapter, base_url=base_url, api_key=key,
                           device=settings.device, threads=settings.threads)


def _qa_chain(settings: Settings, kb: str, k: int, floors: tuple[float | None, float | None], mode: str,
              prompts: Path | None, max_tokens: int, temperature: float, generator_config: Any) -> QAChain:
    from llmapp.chains import QAChain
    from llmapp.chains.qa import QA_OPTIONS
    from llmapp.generate import open_generator
    from llmapp.prompts import PromptLibrary
    from llmapp.retrieve import open_retriever

    library = PromptLibrary(prompts)
    options = replace(QA_OPTIONS, max_tokens=max_tokens, temperature=temperature)
    min_score, relative = floors
    retriever = open_retriever(settings, kb, min_score=min_score, mode=mode)
    chain = QAChain(retriever, open_generator(generator_config), library, k=k, options=options)
    if relative is not None:
        chain.min_relative_score = relative
    return chain


def _answer(parts: Any, stream: bool) -> Answer:
    """Stream the draft to stdout (when asked), then the verified answer when it differs; return the final one."""
    final = None
    draft = ""
    for part in parts:
        if not part.final:
            draft += part.delta
            if stream:
                sys.stdout.write(part.delta)
                sys.stdout.flush()
            continue
        final = part
    assert final is not None, "a chain always ends with a final answer"
    if stream:
        _show_verified(final, draft)
    return final


def _show_verified(final: Answer, draft: str) -> None:
    """After the draft: the verified text when grounding changed it, and how the answer was grounded."""
    if not draft:
        sys.stdout.write(final.text + "\n")
        return
    sys.stdout.write("\n")
    if final.text.strip() != draft.strip():
        dropped = sum(s.status == "dropped" for s in final.sentences)
        # nothing dropped: the text changed otherwise (its source language named, a citation moved)
        why = (f"; {dropped} sentence(s) of the draft left out: unsupported, or not answering the question"
               if dropped else "")
        typer.secho(f"-- verified answer (grounding: {final.grounding}{why}):", dim=True)
        sys.stdout.write(final.text + "\n")


def _cancellable(parts: Any) -> Answer | None:
    """Stream one chat answer; Ctrl-C stops it (nothing is stored in the history) and the prompt returns."""
    try:
        return _answer(parts, stream=True)
    except KeyboardInterrupt:
        parts.close()  # ends the generation now (the transformers worker thread too), not at garbage collection
        sys.stdout.write("\n")
        typer.secho("(cancelled; /exit or Ctrl-D to quit)", fg=typer.colors.YELLOW, err=True)
        return None


def _print_sources(answer: Answer) -> None:
    if not answer.hits:  # nothing retrieved: the answer text said so
        return
    if not answer.citations:
        typer.secho("(no passage cited; closest: " + ", ".join(h.source for h in answer.hits) + ")", dim=True)
        return
    typer.secho(f"Sources (grounding: {answer.grounding}):", bold=True)
    for cite in answer.citations:
        matched = " (matched: the answer did not cite it)" if cite.attributed else ""
        support = f" support {cite.support:.2f}" if cite.support is not None else ""
        typer.echo(f"  [{cite.n}] {cite.source}{matched}{support}: " + cited_excerpt(cite.text, cite.n, answer.text))


def cited_excerpt(passage: str, n: int, answer: str, width: int = 160) -> str:
    """`width` characters of the passage from where the answer's text cited as [n] starts in it (an extractive
    sentence is the passage's own words), so the line shows what backs the answer, not the chunk's first words
    (often the end of an earlier section); the passage's start when the cited text is not found in it."""
    flat = " ".join(passage.split())
    parts = re.split(r"\[(\d+)\]", answer)
    for before, marker in zip(parts[0::2], parts[1::2], strict=False):
        cited = " ".join(before.split()) if int(marker) == n else ""
        # from each sentence or clause start: the cited text may follow a lead-in ("From a Chinese passage of F: ")
        for start in [0, *(m.end() for m in re.finditer(r"[:：。.!?！？]\s*", cited))]:
            probe = cited[start : start + 24].strip()
            at = flat.find(probe) if len(probe) >= 8 else -1
            if at > 0:
                return "…" + flat[at : at + width]
            if at == 0:
                return flat[:width]
    return flat[:width]


def _read_line() -> str | None:
    typer.secho("> ", nl=False, fg=typer.colors.GREEN, err=True)
    line = sys.stdin.readline()
    return None if line == "" else line.strip()


def _close(retriever: Any) -> None:
    close = getattr(retriever, "close", None)
    if callable(close):
        close()
