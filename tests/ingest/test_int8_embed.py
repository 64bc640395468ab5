"""int8 embedding: vectors close to float32, each depending on its own text alone, activation ranges measured once
on fixed texts and cached (a damaged cache is measured again), and `auto` choosing it only where it pays."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ingest import embed as embed_module
from ingest import int8 as int8_module
from ingest.embed import SentenceTransformerEmbedder, encoder_of, load_embedder, uses_int8
from ingest.errors import KnowledgeBaseError
from llmcommon.e5_small import e5_small_folder
from tests.support.e5_fixtures import write_tiny_e5

TEXTS = ["hello world", "你好 world", "A hello", "world hello world hello", "你好你好 A", "h e l l o"]


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMAPP_CACHE", str(tmp_path / "cache"))
    write_tiny_e5(tmp_path / "tiny.bin")
    return e5_small_folder(tmp_path / "models", source=tmp_path / "tiny.bin")


def ranges_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "int8-ranges").glob("*.safetensors"))


def test_int8_vectors_agree_with_float32_and_each_depends_on_its_text_alone(tiny: Path) -> None:
    import torch

    exact = SentenceTransformerEmbedder(tiny, precision="float32").embed(TEXTS)
    int8 = SentenceTransformerEmbedder(tiny, precision="int8")
    together = int8.embed(TEXTS)
    assert np.min(np.sum(exact * together, axis=1)) > 0.99
    assert not np.array_equal(exact, together)  # it did run in int8
    encoder = encoder_of(int8._load())
    assert not [name for name, module in encoder.named_modules() if type(module) is torch.nn.Linear]
    alone = np.stack([int8.embed([text])[0] for text in TEXTS])
    np.testing.assert_array_equal(together, alone)  # the same bits whatever shares the batch
    np.testing.assert_array_equal(int8.embed(TEXTS[::-1])[::-1], together)
    assert int8.embed(["hello"], role="query").shape == (1, int8.dimension)


def test_ranges_are_measured_once_and_a_damaged_cache_is_measured_again(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    first = SentenceTransformerEmbedder(tiny, precision="int8").embed(TEXTS)
    [cached] = ranges_files(tmp_path)

    def refuse(*args: object) -> None:
        raise AssertionError("the cached ranges should have been used")

    with monkeypatch.context() as patch:
        patch.setattr(int8_module, "calibration_maxima", refuse)
        np.testing.assert_array_equal(SentenceTransformerEmbedder(tiny, precision="int8").embed(TEXTS), first)

    cached.write_bytes(b"not a safetensors file")
    with caplog.at_level(logging.WARNING, logger="ingest.int8"):
        again = SentenceTransformerEmbedder(tiny, precision="int8").embed(TEXTS)
    np.testing.assert_array_equal(again, first)
    assert "measuring them again" in caplog.text
    assert ranges_files(tmp_path) == [cached] and cached.stat().st_size > 1000  # rewritten whole

    # new weights (another modification time) are a new key: never the old model's ranges
    weights = next(tiny.glob("*.safetensors"))
    weights.touch()
    SentenceTransformerEmbedder(tiny, precision="int8").embed(TEXTS[:1])
    assert len(ranges_files(tmp_path)) == 2


def test_auto_takes_int8_on_a_cpu_with_vnni_and_bfloat16_with_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from ingest.embed import autocast_dtype, cpu_auto_precision

    def cpu(vnni: bool, amx: bool, fast_bf16: bool) -> None:
        monkeypatch.setattr(embed_module, "cpu_has_vnni", lambda: vnni)
        monkeypatch.setattr(embed_module, "cpu_has_amx", lambda: amx)
        monkeypatch.setattr(embed_module, "cpu_prefers_bf16", lambda: fast_bf16)

    for vnni, amx, fast_bf16, expected in [(True, False, False, "int8"), (True, False, True, "int8"),
                                           (True, True, True, "bfloat16"), (False, False, True, "bfloat16"),
                                           (False, False, False, "float32")]:
        cpu(vnni, amx, fast_bf16)
        assert cpu_auto_precision() == expected
        assert uses_int8("auto", "cpu") is (expected == "int8")
        assert autocast_dtype("auto", "cpu") is (torch.bfloat16 if expected == "bfloat16" else None)
    cpu(True, False, False)
    assert uses_int8("int8", "cpu") and not uses_int8("auto", "cuda") and not uses_int8("float32", "cpu")
    assert not uses_int8("bfloat16", "cpu")
    with pytest.raises(KnowledgeBaseError, match="CPU only"):
        uses_int8("int8", "cuda")


@pytest.mark.slow
def test_e5_small_in_int8_keeps_its_vectors_and_rankings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMAPP_CACHE", str(tmp_path / "cache"))
    passages = ["LoRA freezes the pretrained weights and trains two low-rank matrices per layer.",
                "知识库把每篇文档切成片段，并为每个片段计算向量。",
                "The Great Wall of China is more than 20,000 kilometres long.",
                "今天天气很好，我们去公园散步吧。"]
    queries = ["What does LoRA train?", "长城有多长？", "如何为文档计算向量？"]
    exact, int8 = load_embedder("e5-small", precision="float32"), load_embedder("e5-small", precision="int8")
    p32, p8 = exact.embed(passages), int8.embed(passages)
    q32, q8 = exact.embed(queries, role="query"), int8.embed(queries, role="query")
    assert np.min(np.sum(p32 * p8, axis=1)) > 0.995 and np.min(np.sum(q32 * q8, axis=1)) > 0.995
    scores8, scores32 = q8 @ p8.T, q32 @ p32.T
    assert np.abs(scores8 - scores32).max() < 0.01  # near-ties far down a ranking may swap, nothing more
    assert list(scores8.argmax(1)) == list(scores32.argmax(1))
    assert scores8[0].argmax() == 0 and scores8[2].argmax() == 1


def test_a_failed_quantisation_leaves_no_float32_model_behind(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(*args: object) -> None:
        raise MemoryError("measuring the ranges")

    embedder = SentenceTransformerEmbedder(tiny, precision="int8")
    with monkeypatch.context() as patch:
        patch.setattr(int8_module, "calibration_maxima", out_of_memory)
        with pytest.raises(MemoryError):
            embedder.embed(TEXTS)
    assert embedder._model is None  # a server reusing this embedder must not embed in float32 as "int8"
    expected = SentenceTransformerEmbedder(tiny, precision="int8").embed(TEXTS)
    np.testing.assert_array_equal(embedder.embed(TEXTS), expected)
