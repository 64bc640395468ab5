"""Load a known model without transformers' "Loading weights" progress bar.

transformers 5 draws a tqdm bar for every model it loads ("Loading weights: 100%|...| 197/197"). For the
embedders and rerankers llmapp loads on every `search`, `ask` and `ingest`, the bar says nothing a user needs
and pushes the answer off the screen, so those loads run inside `quiet_loading()`. The switch is
transformers' own (`transformers.utils.logging.disable_progress_bar`), set for the load and put back after it,
so a fine-tuning job's bars are untouched. Imports transformers only when called.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_DEPTH = 0
_WAS_ENABLED = True


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Inside: transformers draws no progress bar. Nested and concurrent uses restore the state the outermost
    one found."""
    from transformers.utils import logging

    global _DEPTH, _WAS_ENABLED
    with _LOCK:
        if _DEPTH == 0:
            _WAS_ENABLED = logging.is_progress_bar_enabled()
            logging.disable_progress_bar()
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _WAS_ENABLED:
                logging.enable_progress_bar()
