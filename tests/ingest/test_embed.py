"""Embedders: order kept through length-sorted batches, unit vectors, precision choices agree with float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.embed import HashEmbedder, SentenceTransformerEmbedder, autocast_dtype, load_embedder
from ingest.errors import KnowledgeBaseError

TEXTS = [
    "A knowledge base is a folder with a manifest, a docstore and two indexes.",
    "Short.",
    "知识库是一个文件夹，其中包括清单、文档库和两个索引。",
    "Run llmapp ingest again whenever your documents change; unchanged files are skipped after a quick size "
    "and modification-time check, and a changed file replaces exactly its own chunks in every index.",
    "",
]


def test_batches_sorted_by_length_keep_the_callers_order() -> None:
    embedder = HashEmbedder(32)
    together = embedder.embed(TEXTS, batch_size=2)
    one_by_one = np.stack([embedder.embed([text])[0] for text in TEXTS])
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 32)


def test_unknown_precision_is_refused_with_the_choices(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    with pytest.raises(KnowledgeBaseError, match="float32"):
        SentenceTransformerEmbedder(tmp_path, precision="int3")  # type: ignore[arg-type]


def test_autocast_choice() -> None:
    import torch

    assert autocast_dtype("float32", "cuda") is None
    assert autocast_dtype("auto", "cuda") is torch.float16
    assert autocast_dtype("bfloat16", "cpu") is torch.bfloat16
    assert autocast_dtype("auto", "mps") is None


@pytest.mark.slow
def test_minilm_precisions_agree_and_order_is_kept() -> None:
    exact = load_embedder("minilm", device="cpu", precision="float32")
    reduced = load_embedder("minilm", device="cpu", precision="bfloat16")
    a = exact.embed(TEXTS, batch_size=2)
    b = reduced.embed(TEXTS, batch_size=2)
    assert a.shape == (len(TEXTS), 384)
    assert np.min(np.sum(a * b, axis=1)) > 0.999
    # each row is its own text's vector, whatever batch it was sorted into
    single = exact.embed([TEXTS[3]])[0]
    assert float(a[3] @ single) > 0.9999
    # the sort key is the token count, not characters: Chinese packs more tokens per character
    lengths = exact._lengths(TEXTS)  # special tokens included ([CLS] ... [SEP]): what the model sees
    specials = exact.tokenizer.num_special_tokens_to_add()
    assert lengths[1] < lengths[0] and lengths[4] == specials == 2


@pytest.mark.slow
def test_linear_weights_stored_in_bfloat16_give_autocasts_vectors_bit_for_bit() -> None:
    import torch

    reduced = load_embedder("minilm", device="cpu", precision="bfloat16")
    vectors = np.stack([reduced.embed([text], role="query")[0] for text in TEXTS[:4]])  # one shape per text
    linear = [module for module in reduced._load().modules() if isinstance(module, torch.nn.Linear)]
    assert linear and all(module.weight.dtype == torch.bfloat16 for module in linear)
    norms = [module for module in reduced._load().modules() if isinstance(module, torch.nn.LayerNorm)]
    assert norms and all(module.weight.dtype == torch.float32 for module in norms)

    exact = load_embedder("minilm", device="cpu", precision="float32")
    model = exact._load()  # float32 weights, cast by autocast on every forward pass
    assert all(module.weight.dtype == torch.float32 for module in model.modules()
               if isinstance(module, torch.nn.Linear))
    expected = []
    for text in TEXTS[:4]:
        features = model.preprocess([text])
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            expected.append(model.forward(features)["sentence_embedding"].float().numpy()[0])
    expected_unit = np.stack(expected) / np.linalg.norm(np.stack(expected), axis=1, keepdims=True)
    np.testing.assert_array_equal(vectors, expected_unit)
