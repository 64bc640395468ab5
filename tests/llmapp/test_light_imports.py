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
    code = ("import sys; sys.argv = ['llmapp', '--help']\nfrom llmapp.cli import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass")
    modules = imported_after(code)
    assert "llmapp.cli" in modules
    assert not modules & set(HEAVY)


def test_public_names_resolve() -> None:
    import llmapp

    assert set(llmapp.__all__) == set(llmapp._EXPORTS) | {"__version__"}
    for name in llmapp.__all__:
        assert getattr(llmapp, name) is not None, name
    assert callable(llmapp.open_retriever) and callable(llmapp.ingest)


def test_readme_python_example_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The module docstring's example, on a hash-embedded KB and the extractive backend (no model load)."""
    from llmapp import GeneratorConfig, QAChain, Settings, ingest, load_embedder, open_generator, open_retriever

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "keys.md").write_text("# API keys\n\nRotate the API key with `llmapp keys rotate`; the old key "
                                  "stops working after one hour.\n", encoding="utf-8")
    settings = Settings(home=tmp_path / "home")
    ingest(settings.kb_path("handbook"), [docs], load_embedder("hash"))
    chain = QAChain(open_retriever(settings, "handbook"), open_generator(GeneratorConfig(backend="extractive")))
    answer = chain.invoke("How do I rotate the API key?")
    assert "llmapp keys rotate" in answer.text
    assert answer.citations and answer.citations[0].source.endswith("keys.md")
