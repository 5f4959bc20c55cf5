"""The web page in a real headless Chromium against a running server: what a policy officer sees.

The suite starts its own server; to test another one:
    POLICYQA_TEST_URL=http://127.0.0.1:8000 .venv/bin/python -m pytest tests/server/test_browser.py
Optional: POLICYQA_TEST_KEY (an API key put in the page's localStorage before it loads),
POLICYQA_TEST_TIMEOUT_MS (how long to wait for an answer, default 120000).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import playwright.sync_api as playwright_sync  # noqa: E402
import pytest

expect = playwright_sync.expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--headless",
]
ANSWER_TIMEOUT_MS = int(os.environ.get("POLICYQA_TEST_TIMEOUT_MS", "120000"))
UI_TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def live_url(live_server: str) -> str:
    """POLICYQA_TEST_URL points the test at another running server; by default the suite starts its own."""
    return os.environ.get("POLICYQA_TEST_URL", "").strip().rstrip("/") or live_server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)")
    with playwright_sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class Tab:
    """A fresh page (own localStorage) opened on the app, recording JS errors and off-origin requests."""

    def __init__(self, browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
        self.context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        key = os.environ.get("POLICYQA_TEST_KEY", "")
        if key:
            self.context.add_init_script(f"window.localStorage.setItem('policyqa_key', {json.dumps(key)});")
        self.page = self.context.new_page()
        self.page.set_default_timeout(UI_TIMEOUT_MS)
        self.errors: list[str] = []
        self.foreign: list[str] = []
        origin = urlsplit(base_url)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def on_request(request) -> None:  # type: ignore[no-untyped-def]
            u = urlsplit(request.url)
            if u.scheme not in ("data", "blob") and (u.scheme, u.netloc) != (origin.scheme, origin.netloc):
                self.foreign.append(request.url)

        self.page.on("request", on_request)
        self.page.goto(base_url + "/")
        expect(self.page.locator("#question")).to_be_visible()

    def ask(self, question: str):  # type: ignore[no-untyped-def]
        """Type the question, press 发送, and return the locator of the finished assistant message."""
        before = self.page.locator(".message.assistant").count()
        self.page.fill("#question", question)
        self.page.get_by_role("button", name="发送", exact=True).click()
        return self.finished_answer(before)

    def finished_answer(self, before: int):  # type: ignore[no-untyped-def]
        message = self.page.locator(".message.assistant").nth(before)
        expect(message).to_be_attached()
        expect(message).not_to_have_class(re.compile(r"\bpending\b"), timeout=ANSWER_TIMEOUT_MS)
        classes = message.get_attribute("class") or ""
        assert "error" not in classes.split(), f"the page shows an error: {message.inner_text()}"
        return message

    def assert_clean(self) -> None:
        assert not self.errors, f"JavaScript errors on the page: {self.errors}"
        assert not self.foreign, f"the page made requests outside its own origin: {self.foreign}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, live_url: str) -> Iterator[Tab]:  # type: ignore[no-untyped-def]
    t = Tab(browser, live_url)
    yield t
    t.close()


def test_answer_with_citation_chip_opens_source(tab: Tab) -> None:
    answer = tab.ask("2021年我国人工智能市场收支规模是多少？")
    text = answer.locator(".answer-text")
    expect(text).to_contain_text("82亿美元")
    chips = text.locator("button.cite-chip")
    assert chips.count() >= 1, "the answer has no citation chip"
    expect(answer.locator(".sources li")).not_to_have_count(0)  # the numbered sources list under the answer

    text.locator('button.cite-chip[data-n="1"]').first.click()
    panel = tab.page.locator("#source-panel")
    expect(panel.locator(".source-doc")).to_contain_text("《中国人工智能产业报告》")
    passage = panel.locator(".passage")
    mark = passage.locator("mark", has_text="82亿美元").first
    expect(mark).to_be_visible()
    assert mark.text_content() in (passage.text_content() or "")
    tab.assert_clean()


def test_unanswerable_question_is_marked_abstained_with_related_passages(tab: Tab) -> None:
    answer = tab.ask("2023年我国人工智能市场规模是多少？")
    expect(answer).to_have_class(re.compile(r"\babstained\b"))
    expect(answer.locator(".abstained-label")).to_have_text("文档未提及")
    expect(answer.locator(".related-block h3")).to_have_text("相关段落")
    related = answer.locator(".related-item")
    assert related.count() >= 1, "an abstained answer lists no related passages"
    expect(related.first.locator(".related-text")).not_to_be_empty()
    tab.assert_clean()


def test_search_marks_the_matched_text(tab: Tab) -> None:
    tab.page.fill("#search-input", "4130.27亿元")
    tab.page.get_by_role("button", name="查找", exact=True).click()
    marks = tab.page.locator("#search-results .result mark", has_text="4130.27亿元")
    expect(marks.first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    tab.assert_clean()


def test_documents_panel_lists_the_corpus(tab: Tab) -> None:
    titles = tab.page.locator("#doc-list .doc-title")
    tab.page.wait_for_function(
        "document.querySelectorAll('#doc-list .doc-title').length >= 11", timeout=ANSWER_TIMEOUT_MS
    )
    names = titles.all_text_contents()
    assert "中华人民共和国数据安全法" in names, names
    tab.assert_clean()


def test_html_in_a_question_is_shown_as_text(tab: Tab) -> None:
    question = '请问<script>window.__xss=1</script><img src=x onerror="window.__xss=2">是什么意思？'
    answer = tab.page.locator(".message.assistant")
    before = answer.count()
    tab.page.fill("#question", question)
    tab.page.get_by_role("button", name="发送", exact=True).click()
    shown = tab.page.locator(".message.user .bubble").last
    expect(shown).to_have_text(question)
    # whatever the server answers (an abstention or an error message), let it finish rendering
    expect(answer.nth(before)).not_to_have_class(re.compile(r"\bpending\b"), timeout=ANSWER_TIMEOUT_MS)
    assert tab.page.locator("#messages script, #messages img").count() == 0
    assert tab.page.evaluate("typeof window.__xss") == "undefined"
    tab.assert_clean()


def test_enter_sends_and_follow_up_carries_the_conversation(tab: Tab) -> None:
    tab.ask("2020年北京人工智能相关产值规模是多少？")

    box = tab.page.locator("#question")
    box.fill("那深圳呢")
    box.press("Shift+Enter")  # a newline, not a send
    expect(box).to_have_value("那深圳呢\n")
    box.fill("那深圳呢？")
    with tab.page.expect_request(lambda r: r.url.endswith("/v1/chat") and r.method == "POST") as sent:
        box.press("Enter")
    body = json.loads(sent.value.post_data or "{}")
    assert body["stream"] is True
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"] == "2020年北京人工智能相关产值规模是多少？"
    assert body["messages"][-1]["content"] == "那深圳呢？"
    assert body["messages"][1]["content"].strip(), "the previous answer was not sent back"
    expect(box).to_have_value("")
    tab.finished_answer(1)
    tab.assert_clean()
