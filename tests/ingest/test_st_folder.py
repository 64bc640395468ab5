"""Common sentence-transformers folders run on transformers alone, with the vectors SentenceTransformer gives.

`ingest.st_folder` must never change a vector: each pooling, with and without Normalize, on texts of different
lengths in one padded batch, is compared bit for bit with the folder loaded by sentence-transformers itself.
Folders it cannot run exactly are left to sentence-transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from ingest.embed import SentenceTransformerEmbedder
from ingest.st_folder import PlainLayout, PlainSentenceModel, plain_layout

TEXTS = ["a knowledge base is a folder with a manifest", "short", "  spaces around  ",
         "run ingest again whenever documents change " * 20]


def st_folder(encoder: Path, folder: Path, pooling: str, normalize: bool, dense: bool = False) -> Path:
    """The tiny encoder saved by sentence-transformers with the given modules (its own modules.json)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    modules: list[torch.nn.Module] = [Transformer(str(encoder), max_seq_length=64), Pooling(32, pooling_mode=pooling)]
    if dense:
        modules.append(Dense(32, 8))
    if normalize:
        modules.append(Normalize())
    SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    return folder


def reference(folder: Path) -> tuple[torch.Tensor, int]:
    """Vectors and sequence limit of the folder loaded by sentence-transformers."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    with torch.inference_mode():
        return model.forward(model.preprocess(TEXTS))["sentence_embedding"], model.max_seq_length


def plain(folder: Path) -> tuple[torch.Tensor, int]:
    from transformers import AutoTokenizer

    layout = plain_layout(folder)
    assert layout is not None
    model = PlainSentenceModel.load(folder, layout, AutoTokenizer.from_pretrained(str(folder)), "cpu")
    with torch.inference_mode():
        return model.forward(model.preprocess(TEXTS))["sentence_embedding"], model.max_seq_length


def same(first: tuple[torch.Tensor, int], second: tuple[torch.Tensor, int]) -> bool:
    return torch.equal(first[0], second[0]) and first[1] == second[1]


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
@pytest.mark.parametrize("normalize", [True, False])
def test_the_same_vectors_as_sentence_transformers(tiny_encoder: Path, tmp_path: Path, pooling: str,
                                                   normalize: bool) -> None:
    folder = st_folder(tiny_encoder, tmp_path / "model", pooling, normalize)
    assert plain_layout(folder) == PlainLayout(pooling, normalize)  # type: ignore[arg-type]
    assert same(plain(folder), reference(folder))
    assert plain(folder)[1] == 64  # sentence-transformers 6 keeps it in tokenizer_config.json


def test_a_folder_without_modules_json_is_mean_pooled_as_sentence_transformers_does(tiny_encoder: Path) -> None:
    assert plain_layout(tiny_encoder) == PlainLayout("mean", False, None)
    assert same(plain(tiny_encoder), reference(tiny_encoder))


def test_the_shipped_minilm_gives_the_same_vectors() -> None:
    from llmcommon.models import minilm_path

    assert plain_layout(minilm_path()) == PlainLayout("mean", True, 256)
    assert same(plain(minilm_path()), reference(minilm_path()))


def test_folders_it_cannot_run_exactly_are_left_to_sentence_transformers(tiny_encoder: Path, tmp_path: Path) -> None:
    with_dense = st_folder(tiny_encoder, tmp_path / "dense", "mean", True, dense=True)
    assert plain_layout(with_dense) is None

    def variant(name: str, edit: str, content: object) -> Path:
        folder = tmp_path / name
        st_folder(tiny_encoder, folder, "mean", True)
        (folder / edit).write_text(content if isinstance(content, str) else json.dumps(content))
        return folder

    config = "sentence_bert_config.json"
    assert plain_layout(variant("lower", config, {"max_seq_length": 64, "do_lower_case": True})) is None
    assert plain_layout(variant("args", config, {"tokenizer_args": {"x": 1}})) is None
    assert plain_layout(variant("remote", config, {"model_args": {"trust_remote_code": True}})) is None
    assert plain_layout(variant("task", config, {"transformer_task": "sequence-classification"})) is None
    assert plain_layout(variant("weighted", "1_Pooling/config.json", {"pooling_mode": "weightedmean"})) is None
    assert plain_layout(variant("two", "1_Pooling/config.json",
                                {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": True})) is None
    assert plain_layout(variant("broken", "modules.json", "[{not json")) is None
    assert plain_layout(variant("adapter", "adapter_config.json", {"peft_type": "LORA"})) is None
    legacy = variant("legacy", "1_Pooling/config.json", {"word_embedding_dimension": 32, "pooling_mode_cls_token": True,
                                                        "pooling_mode_mean_tokens": False})
    assert plain_layout(legacy) == PlainLayout("cls", True)


def test_the_embedder_falls_back_to_sentence_transformers_with_equal_vectors(tiny_encoder: Path,
                                                                              tmp_path: Path) -> None:
    common = st_folder(tiny_encoder, tmp_path / "common", "mean", True)
    other = tmp_path / "other"
    shutil.copytree(common, other)
    (other / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "config_args": {}}))
    plain_embedder = SentenceTransformerEmbedder(common, precision="float32")
    st_embedder = SentenceTransformerEmbedder(other, precision="float32")
    vectors, st_vectors = plain_embedder.embed(TEXTS), st_embedder.embed(TEXTS)
    assert type(plain_embedder._model).__name__ == "PlainSentenceModel"
    assert type(st_embedder._model).__name__ == "SentenceTransformer"
    assert (vectors == st_vectors).all()
