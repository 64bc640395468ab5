"""Prompt templates: YAML files filled with sandboxed Jinja2, loaded by name and language.

A template is `prompts/<name>.<language>.yaml` (`qa.en.yaml`, `qa.zh.yaml`):

    description: what it is for
    variables: [question, passages]      # exactly what render() takes
    system: ...Jinja2...                 # optional
    user: ...Jinja2...
    texts: {no_answer: ...}              # fixed strings used with it (optional)

Rendering passes anything but exactly the declared variables, or a template that uses a name it does not
declare, raises `PromptError` naming the template and the variable. A user folder (`--prompts DIR`) overrides
shipped templates file by file; `<name>.yaml` there serves every language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from llmapp.errors import ConfigError
from llmapp.generate.base import Message
from llmapp.language import LANGUAGES, Language, detect_language

BUILTINS = ("qa", "condense", "summarise", "classify_zero_shot")


class PromptError(ConfigError):
    """A template is missing, malformed, or was given the wrong variables."""


class _TemplateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    variables: list[str]
    system: str | None = None
    user: str
    texts: dict[str, str] = {}


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    language: Language
    origin: str  # the file it came from, for error messages
    variables: tuple[str, ...]
    system: str | None
    user: str
    texts: dict[str, str] = field(default_factory=dict)

    def render(self, **values: Any) -> list[Message]:
        """The chat messages, with every declared variable filled in."""
        missing = [v for v in self.variables if v not in values]
        unknown = sorted(set(values) - set(self.variables))
        if missing or unknown:
            what = "; ".join(filter(None, [
                f"missing variable(s) {', '.join(missing)}" if missing else "",
                f"unknown variable(s) {', '.join(unknown)} (declared: {', '.join(self.variables)})"
                if unknown else "",
            ]))
            raise PromptError(f"prompt {self.name!r} ({self.origin}): {what}")
        messages: list[Message] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self._fill("system", self.system, values)})
        messages.append({"role": "user", "content": self._fill("user", self.user, values)})
        return messages

    def text(self, key: str) -> str:
        if key not in self.texts:
            raise PromptError(f"prompt {self.name!r} ({self.origin}) has no texts.{key}; add it under `texts:`")
        return self.texts[key]

    def _fill(self, part: str, source: str, values: dict[str, Any]) -> str:
        import jinja2

        try:
            return _environment().from_string(source).render(**values).strip()
        except jinja2.UndefinedError as exc:
            raise PromptError(f"prompt {self.name!r} ({self.origin}), {part}: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise PromptError(f"prompt {self.name!r} ({self.origin}), {part}: {exc}") from exc


class PromptLibrary:
    """Templates by (name, language): the user's folder first, then the shipped `prompts` package."""

    def __init__(self, folder: Path | None = None) -> None:
        if folder is not None and not folder.is_dir():
            raise PromptError(f"prompt folder {folder} does not exist")
        self.folder = folder
        self._cache: dict[tuple[str, str], PromptTemplate] = {}

    def get(self, name: str, language: Language) -> PromptTemplate:
        key = (name, language)
        if key not in self._cache:
            self._cache[key] = self._load(name, language)
        return self._cache[key]

    def for_text(self, name: str, text: str) -> PromptTemplate:
        """The template in the language `text` is written in."""
        return self.get(name, detect_language(text))

    def names(self) -> list[str]:
        found = {_stem(entry.name) for entry in self._shipped.iterdir() if entry.name.endswith(".yaml")}
        if self.folder is not None:
            found |= {_stem(path.name) for path in self.folder.glob("*.yaml")}
        return sorted(found)

    @cached_property
    def _shipped(self) -> Traversable:
        return files("prompts")

    def _load(self, name: str, language: Language) -> PromptTemplate:
        if language not in LANGUAGES:
            raise PromptError(f"no language {language!r}; prompts exist for {', '.join(LANGUAGES)}")
        for candidate in self._candidates(name, language):
            if candidate.is_file():
                return parse_template(name, language, candidate.read_text(encoding="utf-8"), str(candidate))
        where = f"{self.folder} or the shipped prompts" if self.folder else "the shipped prompts"
        raise PromptError(f"no prompt {name}.{language}.yaml in {where}; known: {', '.join(self.names())}")

    def _candidates(self, name: str, language: str) -> list[Traversable]:
        user = [self.folder / f"{name}.{language}.yaml", self.folder / f"{name}.yaml"] if self.folder else []
        return [*user, self._shipped / f"{name}.{language}.yaml"]


def parse_template(name: str, language: Language, source: str, origin: str) -> PromptTemplate:
    """A template from YAML text; checks that every name it uses is declared in `variables`."""
    try:
        data = _TemplateFile.model_validate(yaml.safe_load(source))
    except (yaml.YAMLError, ValidationError) as exc:
        raise PromptError(f"prompt {name!r} ({origin}) is not a valid template file: {exc}") from exc
    for part, text in (("system", data.system), ("user", data.user)):
        undeclared = sorted(_names_used(text, name, origin) - set(data.variables)) if text else []
        if undeclared:
            raise PromptError(
                f"prompt {name!r} ({origin}), {part}: uses undeclared variable(s) {', '.join(undeclared)}; "
                "add them to `variables:`"
            )
    return PromptTemplate(name, language, origin, tuple(data.variables), data.system, data.user, data.texts)


def _names_used(text: str, name: str, origin: str) -> set[str]:
    import jinja2
    from jinja2 import meta

    try:
        return set(meta.find_undeclared_variables(_environment().parse(text)))
    except jinja2.TemplateSyntaxError as exc:
        raise PromptError(f"prompt {name!r} ({origin}) line {exc.lineno}: {exc.message}") from exc


@lru_cache(maxsize=1)
def _environment() -> Any:
    """A sandboxed environment (templates cannot reach Python internals) where undefined names fail loudly."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def _stem(filename: str) -> str:
    return filename.split(".", 1)[0]
