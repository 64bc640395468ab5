"""Batch text classification: fine-tuned or plain sequence classifiers, and zero-shot, over texts or files.

    from llmapp.classify import Classifier
    classifier = Classifier.from_pretrained("runs/sst2")        # a finetune run folder or a HF model folder
    for p in classifier.predict(["great film", "dull"], batch_size=64):
        print(p.label, p.score)

Files: `classify_file(scorer, input, output, OutputSpec(text_column="text"), model_facts={})` streams a
.csv/.tsv/.jsonl/.parquet file into an output file, resumable (see `llmapp.classify.job`).
Importing this package imports no model library.
"""

from llmapp.classify.job import Summary, classify_file
from llmapp.classify.model import Classifier, agreement
from llmapp.classify.predictions import Prediction, to_predictions
from llmapp.classify.rows import OutputSpec, classify_rows
from llmapp.classify.zero_shot import EmbeddingZeroShot, LlmZeroShot, parse_labels

__all__ = [
    "Classifier",
    "EmbeddingZeroShot",
    "LlmZeroShot",
    "OutputSpec",
    "Prediction",
    "Summary",
    "agreement",
    "classify_file",
    "classify_rows",
    "parse_labels",
    "to_predictions",
]
