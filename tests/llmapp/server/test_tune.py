"""`POST /kbs/{kb}/tune` runs as a job in the jobs API; its failures are user errors with a reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from llmapp.generate.extractive import ExtractiveGenerator
from llmapp.server import ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.server_fixtures import API_KEY, build_hash_kb, running, wait_job


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    home = tmp_path_factory.mktemp("tune-server") / "home"
    home.mkdir()
    build_hash_kb(home)
    app = create_app(Settings(home=home), ServerSettings(api_key=SecretStr(API_KEY)), generator=ExtractiveGenerator())
    with running(app) as url, httpx.Client(base_url=url, timeout=60,
                                           headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        yield http


def test_rollback_of_an_untuned_kb_is_a_failed_job_with_the_reason(client: httpx.Client) -> None:
    response = client.post("/kbs/handbook/tune", json={"rollback": True})
    assert response.status_code == 202 and response.json()["job"]["kind"] == "tune"
    job = wait_job(client, response.json()["job"]["id"])
    assert job["status"] == "failed" and "never tuned" in job["error"]
    assert "$LLMAPP_HOME" in job["error"] and str(Path.home()) not in job["error"]


def test_tuning_runs_its_phases_as_a_job_and_stops_with_the_reason(client: httpx.Client) -> None:
    """The hash embedder has no weights: the job gets through queries and negatives, then says so."""
    job = wait_job(client, client.post("/kbs/handbook/tune", json={"dry_run": True}).json()["job"]["id"])
    assert job["status"] == "failed" and "no model folder to tune" in job["error"]
    assert job["progress"]["done"] == 2 and job["progress"]["total"] == 6
    assert client.get("/jobs", params={"kb": "handbook"}).json()["jobs"][0]["kind"] == "tune"


def test_unknown_kb_and_bad_options_are_refused_before_a_job(client: httpx.Client) -> None:
    assert client.post("/kbs/nope/tune", json={}).status_code == 404
    assert client.post("/kbs/handbook/tune", json={"margin": -1}).status_code == 422
    assert client.post("/kbs/handbook/tune", json={"epoch": 2}).status_code == 422
