"""Helpers that `llmapp`, `ingest` and `finetune` all need, in one home.

Dependency rule (enforced by the import-linter contract in pyproject.toml, run by `make lint-imports` in CI):
`llmcommon` imports none of `llmapp`, `ingest` or `finetune`; all three may import it. `ingest` and `finetune`
never import `llmapp` and never each other. A helper that two of the packages need belongs here, not in a copy.

Modules: `errors` (the one user-error base class), `cjk` (what counts as Chinese text, and the term splitter),
`cpu` (CPU feature flags), `models` (the shipped SmolLM2 and MiniLM, and the cache of converted models),
`names` (the knowledge-base name pattern), `version` (the package version, read from its metadata).
Nothing here imports torch or transformers at import time.
"""
