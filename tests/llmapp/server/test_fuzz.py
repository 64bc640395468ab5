"""A bounded schemathesis run against a real server: no request the schema allows may cause a 500."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from llmapp.generate import ExtractiveGenerator
from llmapp.server import Limits, ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.server_fixtures import API_KEY, build_hash_kb, running

if importlib.util.find_spec("schemathesis") is None:
    pytest.skip("the fuzz test needs schemathesis: pip install schemathesis", allow_module_level=True)

import schemathesis  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("fuzz") / "home"
    build_hash_kb(home)
    limits = Limits(max_file_bytes=64 * 1024, max_upload_bytes=256 * 1024, max_body_bytes=64 * 1024,
                    max_tokens=64)
    app = create_app(Settings(home=home), ServerSettings(api_key=SecretStr(API_KEY), limits=limits),
                     generator=ExtractiveGenerator())
    with running(app) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(served: str) -> Any:
    return schemathesis.openapi.from_url(served + "/openapi.json", headers=AUTH)


def test_no_server_errors(api_schema: Any) -> None:
    checked = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_500(case: Any) -> None:
            response = case.call(headers=AUTH, timeout=60)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
            if response.status_code >= 400:
                assert set(response.json()["error"]) == {"type", "message"}

        no_500()
        checked += 1
    assert checked >= 12  # every operation of the API was fuzzed


def test_fuzz_left_the_kb_readable(served: str, tmp_path: Path) -> None:
    import httpx

    assert httpx.get(served + "/healthz").status_code == 200
    assert httpx.get(served + "/kbs", headers=AUTH).status_code == 200
