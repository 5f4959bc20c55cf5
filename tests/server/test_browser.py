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
import time
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


def test_search_counts_the_exact_matches_and_lists_related_passages_after(tab: Tab) -> None:
    tab.page.fill("#search-input", "4130.27亿元")
    tab.page.get_by_role("button", name="查找", exact=True).click()
    summary = tab.page.locator("#search-results .search-summary")
    expect(summary).to_have_text(re.compile(r"^[1-9]\d* 个段落包含“4130\.27亿元”$"), timeout=ANSWER_TIMEOUT_MS)
    count = int((summary.text_content() or "").split(" ")[0])
    exact = tab.page.locator("#search-results .result.exact")
    expect(exact).to_have_count(count)
    for i in range(count):
        expect(exact.nth(i).locator(".exact-badge")).to_have_text("完全匹配")
        expect(exact.nth(i).locator("mark", has_text="4130.27亿元")).to_be_visible()
    expect(tab.page.locator("#search-results .search-related")).to_have_text("相关段落")
    assert tab.page.locator("#search-results .related-results .result").count() >= 1
    assert tab.page.locator("#search-results .related-results .exact-badge").count() == 0
    tab.assert_clean()


# -- example chips -------------------------------------------------------------------------------------


def test_example_chips_are_stand_alone_and_a_follow_up_appears_only_after_its_question(tab: Tab) -> None:
    chips = tab.page.locator("#examples .example")
    names = chips.all_text_contents()
    assert len(names) >= 3 and "那深圳呢？" not in names, names
    assert tab.page.get_by_role("button", name="那深圳呢？").count() == 0

    # an unrelated question offers no follow-up
    tab.page.locator("#examples .example", has_text="《数据安全法》从什么时候开始施行？").click()
    tab.finished_answer(0)
    assert tab.page.get_by_role("button", name="那深圳呢？").count() == 0

    tab.page.locator("#examples .example", has_text="2020年北京人工智能相关产值规模是多少？").click()
    tab.finished_answer(1)
    follow = tab.page.locator(".follow-ups").get_by_role("button", name="那深圳呢？")
    expect(follow).to_be_visible()
    with tab.page.expect_request(lambda r: r.url.endswith("/v1/chat") and r.method == "POST") as sent:
        follow.click()
    body = json.loads(sent.value.post_data or "{}")
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    assert users[-2:] == ["2020年北京人工智能相关产值规模是多少？", "那深圳呢？"]
    answer = tab.finished_answer(2)
    expect(answer.locator(".answer-text")).to_contain_text("深圳")
    # once used, or once the conversation moves on, the follow-up chip is gone
    expect(tab.page.get_by_role("button", name="那深圳呢？")).to_have_count(0)
    tab.assert_clean()


# -- API docs without a network ---------------------------------------------------------------------------


LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.mark.parametrize(("path", "shows"), [("/docs", "/v1/ask"), ("/redoc", "Answer one question with citations")])
def test_api_docs_render_with_the_network_blocked(browser, live_url: str, path: str, shows: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context()
    blocked: list[str] = []

    def only_loopback(route) -> None:  # type: ignore[no-untyped-def]
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(live_url + path)
        expect(page.get_by_text(shows, exact=True).first).to_be_visible(timeout=30_000)
        if path == "/docs":  # every operation is listed, not just the first
            for op in ("/v1/chat", "/v1/search", "/v1/documents", "/readyz"):
                expect(page.get_by_text(op, exact=True).first).to_be_visible()
    finally:
        context.close()
    assert not blocked, f"{path} asked for assets off this machine: {blocked}"
    assert not errors, errors


# -- first start: the page waits for the index ------------------------------------------------------------


@pytest.fixture
def indexing_server(tmp_path: Path) -> Iterator[str]:
    """A real server started on an empty index with five laws: it answers at once and indexes in the background."""
    import shutil
    import subprocess
    import sys

    import httpx

    from tests.conftest import CORPUS, free_port, stop_server

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in sorted(p.name for p in (CORPUS / "policies").iterdir())[:5]:
        shutil.copy(CORPUS / "policies" / name, corpus)
    port = free_port()
    env = {**os.environ, "POLICYQA_INDEX_DIR": str(tmp_path / "index"), "POLICYQA_CORPUS_DIR": str(corpus)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None and time.time() < deadline, "the server did not start"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        stop_server(proc)


def test_first_start_shows_indexing_progress_then_lets_the_user_ask(browser, indexing_server: str) -> None:  # type: ignore[no-untyped-def]
    t = Tab(browser, indexing_server)
    try:
        status = t.page.locator("#index-status-text")
        expect(status).to_have_text(re.compile(r"^正在建立索引… \d{1,3}%$"), timeout=60_000)
        expect(t.page.locator("#index-status-detail")).to_contain_text("文档")
        expect(t.page.get_by_role("button", name="发送", exact=True)).to_be_disabled()
        percents = set()
        deadline = time.monotonic() + 2 * ANSWER_TIMEOUT_MS / 1000
        while t.page.locator("#index-status").is_visible():
            text = status.text_content() or ""
            if text.startswith("正在建立索引"):
                percents.add(int(re.sub(r"\D", "", text)))
            assert time.monotonic() < deadline, f"still not ready: {text}"
            t.page.wait_for_timeout(500)
        assert len(percents) >= 2, f"the percentage never moved: {percents}"
        # ready: the banner is gone, no error was shown, the documents are listed and a question is answered
        expect(t.page.locator("#doc-list .doc-title")).to_have_count(5, timeout=ANSWER_TIMEOUT_MS)
        assert t.page.locator(".message.error, .error-text").count() == 0
        answer = t.ask("《数据安全法》从什么时候开始施行？")
        expect(answer.locator(".answer-text")).to_contain_text("2021年9月1日")
        t.assert_clean()
    finally:
        t.close()
