from __future__ import annotations

import pytest

from llmapp.chains import check_citations


@pytest.mark.parametrize(
    ("text", "count", "expected", "cited", "dropped"),
    [
        ("Blue [1].", 2, "Blue [1].", [1], []),
        ("Blue [1][2] and green [1, 2].", 2, "Blue [1][2] and green [1][2].", [1, 2], []),
        ("Made up [7]. Real [2].", 2, "Made up. Real [2].", [2], [7]),
        ("Mixed [2, 9] here", 3, "Mixed [2] here", [2], [9]),
        ("蓝色【1】，绿色[2，3]。", 3, "蓝色 [1]，绿色[2][3]。".replace(" [1]", "[1]"), [1, 2, 3], []),
        ("No markers at all.", 3, "No markers at all.", [], []),
        ("Zero [0] is not a passage.", 3, "Zero is not a passage.", [], [0]),
    ],
)
def test_only_existing_passages_survive(text: str, count: int, expected: str, cited: list[int],
                                        dropped: list[int]) -> None:
    checked = check_citations(text, count)
    assert (checked.text, checked.cited, checked.dropped) == (expected, cited, dropped)
