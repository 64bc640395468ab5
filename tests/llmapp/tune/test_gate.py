"""The gate's rule: a gain above the margin with a bootstrap interval above zero promotes; anything else keeps."""

from __future__ import annotations

from llmapp.tune.gate import compare, decide, paired_bootstrap


def _rows(values: list[float]) -> list[dict[str, float]]:
    return [{"ndcg@10": v, "recall@10": v} for v in values]


def test_paired_bootstrap_of_a_steady_gain_is_above_zero() -> None:
    gain, low, high = paired_bootstrap([0.5] * 40, [0.6] * 40)
    assert abs(gain - 0.1) < 1e-9 and low > 0 and high > 0


def test_a_worse_tuned_model_is_not_promoted() -> None:
    decision = decide([compare("pseudo-queries", _rows([0.8, 0.9] * 20), _rows([0.7, 0.8] * 20))], margin=0.005)
    assert not decision.promote and "not above the margin" in decision.reason


def test_a_noisy_gain_is_not_promoted_because_its_interval_reaches_zero() -> None:
    before = _rows([0.5] * 30)
    after = _rows([1.0, 0.0] * 14 + [1.0, 1.0])
    decision = decide([compare("pseudo-queries", before, after)], margin=0.01)
    assert not decision.promote and "interval reaches 0" in decision.reason


def test_a_clear_gain_is_promoted_unless_another_set_got_significantly_worse() -> None:
    better = compare("your questions", _rows([0.4, 0.5] * 20), _rows([0.6, 0.6] * 20))
    assert decide([better], margin=0.01).promote
    worse = compare("pseudo-queries", _rows([0.9] * 40), _rows([0.5] * 40))
    decision = decide([better, worse], margin=0.01)
    assert not decision.promote and "pseudo-queries got significantly worse" in decision.reason
    assert decision.to_dict()["sets"]["your questions"]["ndcg@10_gain"] == 0.15


def test_no_queries_means_no_promotion() -> None:
    assert not decide([compare("pseudo-queries", [], [])], margin=0.01).promote
