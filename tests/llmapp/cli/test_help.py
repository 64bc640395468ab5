"""Every command's --help: each option described, nothing eaten by markup (" ."), nothing cut ("…")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from llmapp.cli import app


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, group
    for name, command in (getattr(group, "commands", None) or {}).items():
        yield from commands(command, (*path, name))


def options(command: Any) -> list[Any]:
    return [p for p in command.params if getattr(p, "param_type_name", "") == "option"]


ALL = list(commands(typer.main.get_command(app)))


@pytest.mark.parametrize("path", [path for path, _ in ALL], ids=lambda path: " ".join(path) or "llmapp")
def test_help_is_complete(path: tuple[str, ...]) -> None:
    command = dict(ALL)[path]
    undescribed = [p.name for p in options(command) if not p.help and p.name != "help"]
    assert not undescribed, f"options without help: {undescribed}"
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    for line in result.output.splitlines():
        assert not line.rstrip().endswith(" .") and " . " not in line, line
        assert "…" not in line, line
    if any("default:" in (p.help or "") for p in options(command)):
        assert "default:" in result.output
