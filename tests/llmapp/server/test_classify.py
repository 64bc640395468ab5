"""POST /classify and GET /classifiers against a real server, with tiny classifiers built in the test: the
answers equal the Python API's, limits and unknown names are JSON errors, and the API key guards both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from llmapp.classify import Classifier
from llmapp.cli.serve_cmd import parse_classifiers
from llmapp.errors import ConfigError
from llmapp.generate import FakeGenerator
from llmapp.server import Limits, ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.classify_fixtures import LABELS, save_folder, save_run, sentences
from tests.support.server_fixtures import API_KEY, running

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("classifiers")
    base = save_folder(root / "plain")
    return {"plain": base, "run": save_run(root / "run", base)}


@pytest.fixture(scope="module")
def url(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = ServerSettings(api_key=SecretStr(API_KEY), classifiers=models, limits=Limits(max_classify_texts=8))
    app = create_app(Settings(home=tmp_path_factory.mktemp("home")), server, generator=FakeGenerator())
    with running(app) as base_url:
        yield base_url


def test_predictions_equal_the_python_api(url: str, models: dict[str, Path]) -> None:
    texts = sentences(6, seed=3)
    for name, folder in models.items():
        response = httpx.post(f"{url}/classify", json={"model": name, "texts": texts, "top_k": 2}, headers=AUTH)
        assert response.status_code == 200, response.text
        body = response.json()
        expected = Classifier.from_pretrained(folder).predict(texts, top_k=2)
        assert body["labels"] == LABELS
        assert [p["label"] for p in body["predictions"]] == [p.label for p in expected]
        for got, want in zip(body["predictions"], expected, strict=True):
            assert got["score"] == pytest.approx(want.score, abs=1e-5)
            assert [t["label"] for t in got["top"]] == [label for label, _ in want.top]


def test_classifiers_are_listed_by_name_only(url: str) -> None:
    body = httpx.get(f"{url}/classifiers", headers=AUTH).json()
    assert body == {"classifiers": ["plain", "run"]}


def test_bad_requests_are_json_errors(url: str) -> None:
    unknown = httpx.post(f"{url}/classify", json={"model": "../../etc", "texts": ["hi"]}, headers=AUTH)
    assert unknown.status_code == 404 and "available: plain, run" in unknown.json()["error"]["message"]
    too_many = httpx.post(f"{url}/classify", json={"model": "plain", "texts": ["a"] * 9}, headers=AUTH)
    assert too_many.status_code == 400 and "limit of 8" in too_many.json()["error"]["message"]
    empty = httpx.post(f"{url}/classify", json={"model": "plain", "texts": ["fine", "  "]}, headers=AUTH)
    assert empty.status_code == 400 and "texts[1]" in empty.json()["error"]["message"]
    no_texts = httpx.post(f"{url}/classify", json={"model": "plain", "texts": []}, headers=AUTH)
    assert no_texts.status_code == 422
    no_key = httpx.post(f"{url}/classify", json={"model": "plain", "texts": ["hi"]})
    assert no_key.status_code == 401


def test_serve_option_parsing(tmp_path: Path) -> None:
    assert parse_classifiers([f"tickets={tmp_path}"]) == {"tickets": tmp_path.resolve()}
    with pytest.raises(ConfigError, match="NAME=FOLDER"):
        parse_classifiers(["tickets"])
    with pytest.raises(ConfigError, match="not a folder"):
        parse_classifiers([f"tickets={tmp_path / 'missing'}"])


def test_a_run_whose_base_model_has_gone_is_a_user_error_not_a_500(models: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    base = shutil.copytree(models["plain"], tmp_path / "base")
    orphan = save_run(tmp_path / "orphan", base)
    shutil.rmtree(base)
    server = ServerSettings(api_key=SecretStr(API_KEY), classifiers={"orphan": orphan})
    app = create_app(Settings(home=tmp_path / "home"), server, generator=FakeGenerator())
    with running(app) as base_url:
        response = httpx.post(f"{base_url}/classify", json={"model": "orphan", "texts": ["hi"]}, headers=AUTH)
    assert response.status_code == 400, response.text
    assert "base model" in response.json()["error"]["message"] and "is gone" in response.json()["error"]["message"]
