"""`import llmapp` and `llmapp --help` must stay light: no torch, transformers or faiss."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "faiss", "sentence_transformers")


def imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    return set(out.stdout.split())


def test_import_llmapp_is_light() -> None:
    assert not imported_after("import llmapp") & set(HEAVY)


def test_cli_help_is_light() -> None:
    code = "import sys; sys.argv = ['llmapp', '--help']\nfrom llmapp.cli import app\ntry:\n    app()\nexcept SystemExit:\n    pass"
    modules = imported_after(code)
    assert "llmapp.cli" in modules
    assert not modules & set(HEAVY)
