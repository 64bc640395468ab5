"""Generation threads: the setting reaches llama.cpp and torch; the default counts usable, idle cores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmapp.cli import app
from llmapp.generate import FakeGenerator, GeneratorConfig, registry
from llmapp.generate import threads as gen_threads
from llmapp.settings import Settings
from tests.support.retrieval_fixtures import build_kb

ROOT = Path(__file__).resolve().parents[3]


def test_default_follows_the_affinity_mask_not_cpu_count() -> None:
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        pytest.skip("needs Linux and two CPUs")
    code = "from llmapp.generate.threads import default_threads; print(default_threads(busy=0.0))"
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "1"


def test_hyper_threads_count_once_and_busy_cores_are_left_out(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for cpu, siblings in {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"}.items():
        folder = tmp_path / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "thread_siblings_list").write_text(siblings + "\n")
    monkeypatch.setattr(gen_threads, "_SYS_CPU", tmp_path)
    monkeypatch.setattr(gen_threads, "usable_cpus", lambda: [0, 1, 2, 3])
    assert gen_threads.physical_cores([0, 1, 2, 3]) == 2
    assert gen_threads.default_threads(busy=0.0) == 2
    assert gen_threads.default_threads(busy=1.1) == 1
    assert gen_threads.default_threads(busy=4.0) == 1  # never 0


def test_a_spinning_process_is_seen_as_busy() -> None:
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs Linux")
    cpu = gen_threads.usable_cpus()[-1]
    spinner = subprocess.Popen(["taskset", "-c", str(cpu), sys.executable, "-c", "while True: pass"])
    try:
        assert gen_threads.busy_cpus([cpu], sample_s=0.5) > 0.8
    finally:
        spinner.kill()
        spinner.wait()


def test_threads_setting_from_env_and_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "llmapp.yaml").write_text("threads: 3\n")
    assert Settings.load().threads == 3
    monkeypatch.setenv("LLMAPP_THREADS", "2")
    assert Settings.load().threads == 2
    assert Settings.load(threads=1).threads == 1


def test_threads_flag_reaches_the_generator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[GeneratorConfig] = []

    def recording(config: GeneratorConfig) -> FakeGenerator:
        seen.append(config)
        return FakeGenerator(replies=["Cats sleep [1]."])

    monkeypatch.setitem(registry._registered, "recording", recording)
    kb = build_kb(tmp_path)
    monkeypatch.setenv("LLMAPP_THREADS", "2")
    for extra, expected in (([], 2), (["--threads", "3"], 3)):
        result = CliRunner().invoke(app, ["ask", "Do cats sleep?", "--kb", str(kb), "--backend", "recording",
                                          "--mode", "lexical", *extra])
        assert result.exit_code == 0, result.output
        assert seen[-1].threads == expected


def test_transformers_backend_sets_torch_threads(tiny_chat_model: Path) -> None:
    import torch

    from llmapp.generate.hf import load_causal_lm

    before = torch.get_num_threads()
    try:
        load_causal_lm(GeneratorConfig(model=str(tiny_chat_model), device="cpu", threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_llamacpp_reads_prompts_and_decodes_on_the_same_threads() -> None:
    pytest.importorskip("llama_cpp")
    from llmapp.generate.llamacpp import LlamaCppGenerator

    generator = LlamaCppGenerator.from_config(GeneratorConfig(backend="llamacpp", threads=1, context_window=256))
    params = generator._llama.context_params
    assert (params.n_threads, params.n_threads_batch) == (1, 1)
