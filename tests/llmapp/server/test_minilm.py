"""The server with the real shipped MiniLM embedder: create, upload, search and chat in English and Chinese."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from llmapp.generate import ExtractiveGenerator
from llmapp.server import ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.server_fixtures import running, wait_job

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

FAQ = ("# Installing\n\nInstall llmapp with pip install llmapp. Python 3.10 or newer is required.\n\n"
       "# Hardware\n\nA GPU is optional: every model also runs on a laptop CPU.\n\n"
       "# 更新知识库\n\n再次运行导入命令即可更新知识库，未改变的文件会被跳过。\n")


def test_minilm_kb_end_to_end(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path / "home"), ServerSettings(no_auth=True), generator=ExtractiveGenerator())
    with running(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        created = client.post("/kbs", json={"name": "faq", "embedder": "minilm"})
        assert created.status_code == 201 and created.json()["embedder"]["name"] == "minilm"
        upload = client.post("/kbs/faq/documents", files=[("files", ("faq.md", FAQ.encode(), "text/markdown"))])
        assert wait_job(client, upload.json()["job"]["id"], timeout=120)["status"] == "succeeded"
        hits = client.post("/kbs/faq/search", json={"query": "do I need a graphics card?", "k": 1}).json()["hits"]
        assert "GPU" in hits[0]["text"]
        answer = client.post("/v1/chat/completions", json={"model": "kb:faq", "messages": [
            {"role": "user", "content": "如何更新知识库？"}]}).json()
        assert "再次运行" in answer["choices"][0]["message"]["content"]
        assert answer["citations"][0]["source"] == "uploads/faq.md"
        vectors = client.post("/v1/embeddings", json={"model": "kb:faq", "input": "hello"}).json()["data"]
        assert len(vectors[0]["embedding"]) == 384
