"""The held-out split is by document and does not depend on where the documents or the knowledge base live."""

from __future__ import annotations

from llmapp.tune.loop import held_out_document, split
from llmapp.tune.queries import PseudoQuery

NAMES = [f"doc-{i}.txt" for i in range(200)]


def _query(source: str) -> PseudoQuery:
    return PseudoQuery("q", "positive", 1, (source, "0"), "sentence")


def test_the_same_documents_in_another_folder_are_split_the_same_way() -> None:
    def coins(folder: str, separator: str = "/") -> list[bool]:  # a plain file's doc id is its path too
        return [held_out_document((f"{folder}{separator}{n}", f"{folder}{separator}{n}"), 0.3, 13) for n in NAMES]

    here, there, windows = coins("/tmp/a/docs"), coins("/check/work/b"), coins("C:\\docs", "\\")
    assert here == there == windows
    rows = [held_out_document((f"/x/{n}", f"/x/{n}#row-{i}"), 0.3, 13) for i, n in enumerate(NAMES)]
    assert rows == [held_out_document((f"/y/z/{n}", f"/y/z/{n}#row-{i}"), 0.3, 13) for i, n in enumerate(NAMES)]
    assert 0.2 < sum(here) / len(NAMES) < 0.4  # the share asked for, roughly
    # the rows of one JSONL file are documents of their own, each with its own coin
    assert len({held_out_document(("/a/x.jsonl", str(i)), 0.3, 13) for i in range(40)}) == 2


def test_the_seed_changes_the_split_and_no_document_is_on_both_sides() -> None:
    queries = [_query(f"/docs/{n}") for n in NAMES for _ in range(2)]
    training, held = split(queries, 0.3, 13)
    assert {q.document for q in training}.isdisjoint({q.document for q in held})
    assert len(training) + len(held) == len(queries)
    assert [held_out_document(("/d/" + n, "0"), 0.3, 13) for n in NAMES] != \
        [held_out_document(("/d/" + n, "0"), 0.3, 14) for n in NAMES]
