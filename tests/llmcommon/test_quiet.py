"""quiet_loading turns transformers' progress bars off for a load and puts the user's setting back."""

from __future__ import annotations

from transformers.utils import logging

from llmcommon.quiet import quiet_loading


def test_bars_are_off_inside_and_restored_after() -> None:
    logging.enable_progress_bar()
    with quiet_loading():
        with quiet_loading():
            assert not logging.is_progress_bar_enabled()
        assert not logging.is_progress_bar_enabled()
    assert logging.is_progress_bar_enabled()


def test_a_user_who_turned_bars_off_keeps_them_off() -> None:
    logging.disable_progress_bar()
    try:
        with quiet_loading():
            pass
        assert not logging.is_progress_bar_enabled()
    finally:
        logging.enable_progress_bar()
