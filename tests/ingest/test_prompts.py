"""Query and passage prompts (e5's "query: " / "passage: ") are applied once, and only once, on each side:
ingest (passages), search and coverage probes (queries), zero-shot labels and inputs, embedding fine-tuning."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ingest.embed import HashEmbedder, SentenceTransformerEmbedder
from ingest.pipeline import IngestOptions, ingest
from ingest.store import KnowledgeBase
from llmapp.classify.zero_shot import EmbeddingZeroShot, LabelSpec
from llmapp.retrieve.base import embed_queries
from llmapp.retrieve.coverage import measure_margin
from llmcommon.e5_small import e5_small_folder
from tests.support.e5_fixtures import write_tiny_e5


class Recording(HashEmbedder):
    def __init__(self) -> None:
        super().__init__(32)
        self.prompts = {"query": "Q> ", "passage": "P> "}
        self.seen: list[str] = []

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        return super()._embed_batch(texts)


def once(texts: list[str], prompt: str) -> bool:
    return bool(texts) and all(t.startswith(prompt) and prompt not in t[len(prompt):] for t in texts)


def test_ingest_embeds_passages_and_search_and_probes_embed_queries(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(10):
        (docs / f"{i}.txt").write_text(f"Document {i} says that cats sleep for {i + 10} hours on a sunny day.")
    embedder = Recording()
    ingest(tmp_path / "kb", [docs], embedder, IngestOptions(progress=False))
    assert once(embedder.seen, "P> ") and len(embedder.seen) == 10
    embedder.seen.clear()
    embed_queries(embedder, ["how long do cats sleep?"])
    assert embedder.seen == ["Q> how long do cats sleep?"]
    embedder.seen.clear()
    with KnowledgeBase.open(tmp_path / "kb").snapshot() as snapshot:
        assert measure_margin(snapshot, embedder, "en") is not None
    assert once(embedder.seen, "Q> ") and len(embedder.seen) == 10


def test_zero_shot_labels_and_inputs_use_the_query_prompt() -> None:
    embedder = Recording()
    zero_shot = EmbeddingZeroShot(embedder, [LabelSpec("pos", "good"), LabelSpec("neg", "bad")])
    zero_shot.scores(["great film", "dull film"])
    assert sorted(embedder.seen) == ["Q> bad", "Q> dull film", "Q> good", "Q> great film"]


def test_a_model_folders_prompts_reach_the_forward_pass_once(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    write_tiny_e5(tmp_path / "tiny.bin")
    folder = e5_small_folder(tmp_path / "cache", source=tmp_path / "tiny.bin")
    ours = SentenceTransformerEmbedder(folder, precision="float32")
    reference = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    for role in ("query", "passage"):
        vector = ours.embed(["hello world"], role=role)[0]  # type: ignore[arg-type]
        single = reference.encode(["hello world"], prompt_name=role, normalize_embeddings=True)[0]
        double = reference.encode([f"{role}: hello world"], prompt_name=role, normalize_embeddings=True)[0]
        assert np.allclose(vector, single, atol=1e-5) and not np.allclose(vector, double, atol=1e-3)
    assert ours.max_tokens == 16 - 2 - len(ours.tokenizer("passage: ", add_special_tokens=False)["input_ids"])


def test_embedding_fine_tuning_pairs_get_the_query_and_passage_prompts(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from finetune.tasks.embedding import collator

    write_tiny_e5(tmp_path / "tiny.bin")
    model = SentenceTransformer(str(e5_small_folder(tmp_path / "cache", source=tmp_path / "tiny.bin")),
                                device="cpu", local_files_only=True)
    batch = collator(model, 16)([[{"query": "hello", "positive": "world", "negative": None}]])  # one pre-formed batch
    assert batch["query_input_ids"][0].tolist() == model.tokenizer("query: hello")["input_ids"]
    assert batch["positive_input_ids"][0].tolist() == model.tokenizer("passage: world")["input_ids"]
