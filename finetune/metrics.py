"""Task metrics, written out so their definitions are visible: accuracy, macro-F1 and the confusion matrix;
ROUGE-L (LCS-based F-measure) and exact match; recall@k and MRR for retrieval pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmcommon.cjk import terms


def classification_metrics(gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over all labels, per-label F1, confusion matrix (rows gold, columns predicted)."""
    assert len(gold) == len(predicted), "one prediction per gold label"
    size = len(labels)
    matrix = [[0] * size for _ in range(size)]
    for g, p in zip(gold, predicted, strict=True):
        matrix[g][p] += 1
    per_label: dict[str, float] = {}
    for i, name in enumerate(labels):
        tp = matrix[i][i]
        fp = sum(matrix[r][i] for r in range(size)) - tp
        fn = sum(matrix[i]) - tp
        per_label[name] = 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
    correct = sum(matrix[i][i] for i in range(size))
    return {
        "accuracy": correct / len(gold) if gold else 0.0,
        "macro_f1": sum(per_label.values()) / size if size else 0.0,
        "f1_per_label": per_label,
        "confusion_matrix": {"labels": list(labels), "matrix": matrix},
        "count": len(gold),
    }


def _tokens(text: str) -> list[str]:
    """Lower-cased words; each CJK character is one token (ROUGE on Chinese without a segmenter)."""
    return terms(text)


def _lcs(a: list[str], b: list[str]) -> int:
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (beta = 1) between two texts."""
    pred, ref = _tokens(prediction), _tokens(reference)
    common = _lcs(pred, ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def generation_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-L and exact match (after trimming and collapsing whitespace)."""
    assert len(predictions) == len(references), "one prediction per reference"
    if not references:
        return {"rougeL": 0.0, "exact_match": 0.0, "count": 0}

    def norm(text: str) -> str:
        return " ".join(text.split())

    rouge = sum(rouge_l(p, r) for p, r in zip(predictions, references, strict=True))
    exact = sum(norm(p) == norm(r) for p, r in zip(predictions, references, strict=True))
    return {
        "rougeL": rouge / len(references),
        "exact_match": exact / len(references),
        "count": len(references),
    }


def retrieval_metrics(ranks: Sequence[int], ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """recall@k and MRR from the 1-based rank of each query's positive passage among all candidates."""
    if not ranks:
        return {"mrr": 0.0, "count": 0}
    result: dict[str, float] = {f"recall@{k}": sum(r <= k for r in ranks) / len(ranks) for k in ks}
    result["mrr"] = sum(1.0 / r for r in ranks) / len(ranks)
    result["count"] = len(ranks)
    return result
