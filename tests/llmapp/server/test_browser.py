"""The web page end to end in Debian's headless Chromium, driven by Playwright: upload a file, ask a question,
watch the streamed answer, open a citation. A screenshot is saved under the test's tmp folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from llmapp.generate import ExtractiveGenerator
from llmapp.server import ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.server_fixtures import API_KEY, running

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="browser test needs Debian's chromium: apt-get install chromium"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="browser test needs Playwright for Python: pip install playwright "
                              "(no `playwright install`: it drives /usr/bin/chromium)"),
]


def test_upload_ask_stream_and_open_citation(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    home = tmp_path / "home"
    app = create_app(Settings(home=home), ServerSettings(api_key=SecretStr(API_KEY)), generator=ExtractiveGenerator())
    document = tmp_path / "otters.md"
    document.write_text("# Otters\n\nSea otters hold hands while they sleep so they do not drift apart.\n\n"
                        "# 水獭\n\n海獭睡觉时会手拉手，以免漂散。\n", encoding="utf-8")
    with running(app) as url:
        created = httpx.post(f"{url}/kbs", json={"name": "wildlife", "embedder": "hash"},
                             headers={"Authorization": f"Bearer {API_KEY}"})
        assert created.status_code == 201
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(locale="en-US")
            page.goto(url + "/")
            expect(page.locator("#error")).to_contain_text("API key")  # the API refuses a page without the key
            page.fill("#api-key", API_KEY)
            page.dispatch_event("#api-key", "change")
            expect(page.locator("#kb")).to_have_value("wildlife")
            page.set_input_files("#files", str(document))
            page.click("#upload")
            expect(page.locator("#upload-status")).to_contain_text("1 added", timeout=30_000)
            expect(page.get_by_test_id("document")).to_contain_text("uploads/otters.md")
            # two overlapping list refreshes (to zh and back to en, in one tick) must not list the file twice
            page.evaluate("() => { const lang = document.getElementById('lang'); lang.click(); lang.click(); }")
            expect(page.locator("#ask")).to_have_text("Ask")
            page.wait_for_load_state("networkidle")
            expect(page.get_by_test_id("document")).to_have_count(1)

            page.fill("#question", "Why do sea otters hold hands?")
            page.click("#ask")
            answer = page.locator("[data-testid=message-assistant][data-done=true]")
            expect(answer).to_contain_text("drift apart", timeout=30_000)
            page.get_by_test_id("citation").first.click()
            expect(page.locator("#citation")).to_be_visible()
            expect(page.locator("#citation-source")).to_contain_text("otters.md")
            expect(page.locator("#citation-text")).to_contain_text("hold hands")

            page.click("#lang")  # Chinese UI text, and a Chinese question
            expect(page.locator("#ask")).to_have_text("提问")
            expect(page.locator("#upload-status")).to_contain_text("新增 1")  # the status follows the language
            page.fill("#question", "海獭睡觉时做什么？")
            page.click("#ask")
            expect(answer.nth(1)).to_contain_text("手拉手", timeout=30_000)
            page.screenshot(path=str(tmp_path / "web-page.png"), full_page=True)
            browser.close()
    assert (tmp_path / "web-page.png").stat().st_size > 10_000


def test_verified_answer_replaces_the_streamed_draft(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from llmapp.generate import FakeGenerator
    from tests.support.server_fixtures import build_hash_kb

    home = tmp_path / "home"
    home.mkdir()
    build_hash_kb(home)
    draft = "Pandas were first seen on the Moon in 1969 [1]."
    app = create_app(Settings(home=home), ServerSettings(api_key=SecretStr(API_KEY)),
                     generator=FakeGenerator(replies=[draft]))
    with running(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN")
        page.goto(url + "/")
        page.fill("#api-key", API_KEY)
        page.dispatch_event("#api-key", "change")
        expect(page.locator("#kb")).to_have_value("handbook")
        page.fill("#question", "熊猫吃什么？")
        page.click("#ask")
        answer = page.locator("[data-testid=message-assistant][data-done=true]")
        expect(answer).to_contain_text("竹子", timeout=30_000)
        expect(answer).not_to_contain_text("Moon")
        expect(answer).to_have_attribute("data-grounding", "extractive")
        expect(answer.locator(".grounding-note")).to_contain_text("直接摘自文档")
        browser.close()
