"""The held-out split is by document and does not depend on where the documents or the knowledge base live."""

from __future__ import annotations

from llmapp.tune.loop import held_out_document, split
from llmapp.tune.queries import PseudoQuery

NAMES = [f"doc-{i}.txt" for i in range(200)]


def _query(source: str) -> PseudoQuery:
    return PseudoQuery("q", "positive", 1, (source, "0"), "sentence")


def test_the_same_documents_in_another_folder_are_split_the_same_way() -> None:
    here = [held_out_document((f"/tmp/a/docs/{n}", "0"), 0.3, 13) for n in NAMES]
    there = [held_out_document((f"/check/work/b/{n}", "0"), 0.3, 13) for n in NAMES]
    windows = [held_out_document((f"C:\\docs\\{n}", "0"), 0.3, 13) for n in NAMES]
    assert here == there == windows
    assert 0.2 < sum(here) / len(NAMES) < 0.4  # the share asked for, roughly


def test_the_seed_changes_the_split_and_no_document_is_on_both_sides() -> None:
    queries = [_query(f"/docs/{n}") for n in NAMES for _ in range(2)]
    training, held = split(queries, 0.3, 13)
    assert {q.document for q in training}.isdisjoint({q.document for q in held})
    assert len(training) + len(held) == len(queries)
    assert [held_out_document(("/d/" + n, "0"), 0.3, 13) for n in NAMES] != \
        [held_out_document(("/d/" + n, "0"), 0.3, 14) for n in NAMES]
