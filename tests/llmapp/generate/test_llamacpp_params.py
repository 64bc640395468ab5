"""The AMX work-around: weight repacking is switched off only while one model loads, then restored."""

import pytest

from llmapp.generate.llamacpp import _weight_repacking

low = pytest.importorskip("llama_cpp.llama_cpp")


def test_repacking_is_off_while_loading_and_restored_after() -> None:
    original = low.llama_model_default_params
    with _weight_repacking(enabled=False):
        params = low.llama_model_default_params()
        assert getattr(params, "use_extra_bufts", False) is False
    assert low.llama_model_default_params is original
    if hasattr(original(), "use_extra_bufts"):
        assert original().use_extra_bufts is True


def test_enabled_leaves_the_defaults_alone() -> None:
    original = low.llama_model_default_params
    with _weight_repacking(enabled=True):
        assert low.llama_model_default_params is original
