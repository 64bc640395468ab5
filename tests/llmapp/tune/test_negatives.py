"""The false-negative guard: a mined passage scoring above the positive, or a near-duplicate of it, is dropped;
the knowledge base's hybrid search mines the rest."""

from __future__ import annotations

from pathlib import Path

from llmapp.hits import Hit
from llmapp.tune.negatives import MiningReport, mine, near_duplicate, pick_negative
from llmapp.tune.queries import PseudoQuery
from tests.support.retrieval_fixtures import EN, build_kb

QUERY = PseudoQuery("when do the trucks come", "Garbage trucks come on Tuesday mornings.", 1, ("a.txt", "a.txt"),
                    "sentence")


def _hit(chunk_id: int, score: float, text: str, source: str) -> Hit:
    return Hit(rank=0, score=score, text=text, source=source, doc_id=source, chunk_id=chunk_id, ordinal=0,
               span=(0, len(text)))


def test_a_passage_scoring_above_the_positive_is_dropped() -> None:
    report = MiningReport()
    hits = [_hit(5, 0.9, "Refuse lorries pass on Tuesdays.", "b.txt"), _hit(1, 0.8, "Garbage trucks...", "a.txt"),
            _hit(6, 0.5, "Tomatoes grow best in sunny gardens.", "c.txt")]
    assert pick_negative(QUERY, hits, report) == "Tomatoes grow best in sunny gardens."
    assert report.dropped_above_positive == 1


def test_a_near_duplicate_of_the_positive_is_dropped() -> None:
    report = MiningReport()
    hits = [_hit(1, 0.9, "Garbage trucks...", "a.txt"),
            _hit(5, 0.8, "Garbage trucks come on Tuesday mornings!", "copy.txt"),
            _hit(6, 0.5, "Tomatoes grow best in sunny gardens.", "c.txt")]
    assert pick_negative(QUERY, hits, report) == "Tomatoes grow best in sunny gardens."
    assert report.dropped_near_duplicate == 1


def test_no_negative_when_the_positive_is_not_found_or_only_its_document_is() -> None:
    report = MiningReport()
    assert pick_negative(QUERY, [_hit(5, 0.9, "Tomatoes grow", "b.txt")], report) is None
    assert report.positive_not_found == 1
    same_doc = [_hit(1, 0.9, "Garbage trucks...", "a.txt"), _hit(2, 0.5, "Another part of a.", "a.txt")]
    assert pick_negative(QUERY, same_doc, MiningReport()) is None


def test_near_duplicate_works_for_chinese_and_english() -> None:
    assert near_duplicate("大熊猫主要以竹子为食。", "大熊猫主要以竹子为食，生活在四川的山区。")
    assert not near_duplicate("长城是中国古代的军事防御工程。", "大熊猫主要以竹子为食。")
    assert near_duplicate("Cats sleep most of the day", "cats sleep most of the day and hunt at dusk")


def test_mining_with_the_knowledge_base_hybrid_search(tmp_path: Path) -> None:
    from llmapp.retrieve import open_retriever
    from llmapp.settings import Settings

    kb = build_kb(tmp_path, EN)
    with open_retriever(Settings(home=tmp_path / "home"), str(kb)) as retriever:
        hit = retriever.search("tomatoes sunny gardens watering", k=1)[0]
        query = PseudoQuery("tomatoes sunny gardens watering", hit.text, hit.chunk_id, (hit.source, hit.doc_id),
                            "keyphrase")
        triples, report = mine(retriever, [query])
    assert triples[0].query == query.text and triples[0].negative not in (None, hit.text)
    assert report.with_negative == 1
