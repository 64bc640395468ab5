"""The Python API: Classifier.from_pretrained(path).predict(texts) on plain folders and finetune run folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmapp.classify import Classifier, agreement, to_predictions
from llmapp.errors import ModelError, NotFoundError
from tests.support.classify_fixtures import LABELS, save_folder, save_run, sentences


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_folder(tmp_path_factory.mktemp("tiny-cls"))


def reference_scores(path: Path, texts: list[str]) -> np.ndarray:
    """One text at a time, no padding at all: what batching must reproduce."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    with torch.no_grad():
        return np.stack([torch.softmax(model(**tokenizer(t, return_tensors="pt")).logits[0], -1).numpy()
                         for t in texts])


def test_predict_matches_unbatched_model_in_input_order(folder: Path) -> None:
    texts = sentences(70, seed=3)
    classifier = Classifier.from_pretrained(folder)
    predictions = classifier.predict(texts, batch_size=8)
    expected = reference_scores(folder, texts)
    assert [p.label for p in predictions] == [LABELS[i] for i in expected.argmax(1)]
    np.testing.assert_allclose([p.score for p in predictions], expected.max(1), atol=1e-5)
    # windows smaller than the input: still one result per text, in order
    np.testing.assert_allclose(classifier.scores(texts, batch_size=5, window=16), expected, atol=1e-5)


def test_top_k_and_threshold() -> None:
    scores = np.array([[0.125, 0.75, 0.125], [0.5, 0.125, 0.375]])
    first, second = to_predictions(scores, LABELS, top_k=2, threshold=0.3)
    assert (first.label, first.top, first.labels) == ("shipping", (("shipping", 0.75), ("billing", 0.125)),
                                                      ("shipping",))
    assert second.labels == ("billing", "other")
    assert to_predictions(scores, LABELS)[0].top == ()


def test_multi_label_model_uses_sigmoid(tmp_path: Path) -> None:
    classifier = Classifier.from_pretrained(save_folder(tmp_path, multi_label=True))
    assert classifier.multi_label
    scores = classifier.scores(sentences(10))
    assert not np.allclose(scores.sum(axis=1), 1.0)
    assert ((scores >= 0) & (scores <= 1)).all()


def test_run_folder_matches_peft_model(folder: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run = save_run(tmp_path / "run", folder)
    texts = sentences(20, seed=5)
    classifier = Classifier.from_pretrained(run)
    assert classifier.labels == LABELS and classifier.max_length == 64
    peft_model = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(folder),
                                           run / "adapter").eval()
    tokenizer = AutoTokenizer.from_pretrained(run / "tokenizer")
    with torch.no_grad():
        expected = torch.softmax(peft_model(**tokenizer(texts, padding=True, return_tensors="pt")).logits, -1)
    np.testing.assert_allclose(classifier.scores(texts), expected.numpy(), atol=1e-5)
    # the adapter changed the predictions: the run is not silently the base model
    assert not np.allclose(Classifier.from_pretrained(folder).scores(texts), expected.numpy(), atol=1e-3)


def test_int8_quantises_the_encoder_and_agrees(folder: Path) -> None:
    import torch

    fp32 = Classifier.from_pretrained(folder)
    int8 = fp32.quantized()
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    layer = int8.model.bert.encoder.layer[0]
    assert isinstance(layer.attention.self.query, DynamicLinear)
    assert isinstance(layer.intermediate.dense, torch.nn.Linear)  # kept fp32: outlier-sensitive
    assert isinstance(int8.model.classifier, torch.nn.Linear)  # the head stays fp32
    assert isinstance(fp32.model.bert.encoder.layer[0].attention.self.query, torch.nn.Linear)  # a copy
    assert agreement(fp32, int8, sentences(300, seed=9)) >= 0.97


def test_calibrated_int8_quantises_every_encoder_layer_behind_smoothing_scales(folder: Path) -> None:
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    fp32 = Classifier.from_pretrained(folder)
    calibrated = fp32.quantized(calibration=sentences(200, seed=3))
    layer = calibrated.model.bert.encoder.layer[0]
    for smoothed in (layer.attention.self.query, layer.intermediate.dense, layer.output.dense):
        assert isinstance(smoothed.linear, DynamicLinear)
        assert smoothed.inverse_scale.shape == (smoothed.linear.in_features,)
    assert isinstance(calibrated.model.classifier, torch.nn.Linear)  # the head stays fp32
    assert isinstance(fp32.model.bert.encoder.layer[0].intermediate.dense, torch.nn.Linear)  # fp32 untouched
    assert agreement(fp32, calibrated, sentences(300, seed=9)) >= 0.97


def test_smoothing_alone_leaves_the_layer_unchanged() -> None:
    import torch

    from llmcommon.int8 import _smooth

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 4))
    x = torch.randn(5, 8) * torch.tensor([1, 1, 50, 1, 1, 1, 1, 1.0])  # one outlier channel
    before = model(x)
    assert _smooth(model, {"0": x.abs().amax(0)}) == ["0"]
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-5)
    assert model[0].inverse_scale[2] < model[0].inverse_scale[0]  # the outlier channel is divided the most


def test_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        Classifier.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(ModelError, match="config.json"):
        Classifier.from_pretrained(tmp_path)
