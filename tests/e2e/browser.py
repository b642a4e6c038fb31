"""Driving the Streamlit UI in headless Chromium (Debian's /usr/bin/chromium, never a downloaded browser).

Shared by the end-to-end test and scripts/screenshot.py.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
ANSWER_TIMEOUT_MS = 90_000
ANSWER_META = '[data-testid="stCaptionContainer"]:has-text("🤖")'


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, *, width: int = 1400, height: int = 1000) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="ko-KR",
                                  device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def wait_for_app(page: Page) -> None:
    """Streamlit has rendered and finished its script run (the chat box is there, nothing is running)."""
    page.wait_for_selector('[data-testid="stSidebar"]', timeout=60_000)
    wait_idle(page)


def wait_idle(page: Page, timeout_ms: int = ANSWER_TIMEOUT_MS) -> None:
    """Wait until the script run has finished: no "running" indicator and no element still marked stale."""
    page.wait_for_timeout(300)  # let a rerun that was just triggered begin
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"],'
                  + '[data-testid="stStatusWidgetRunningManIcon"]')
              && !document.querySelector('[data-stale="true"]')""",
        timeout=timeout_ms,
    )
    page.wait_for_timeout(300)


def ask(page: Page, question: str) -> None:
    """Type a question into the chat box, send it, and wait for the streamed answer to be kept."""
    answers = page.locator(f'[data-testid="stChatMessage"] {ANSWER_META}')
    before = answers.count()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    # A kept answer carries its meta line (providers, timings); it appears once streaming has finished.
    expect(answers).to_have_count(before + 1, timeout=ANSWER_TIMEOUT_MS)
    wait_idle(page)


def open_sources(page: Page) -> None:
    """Expand the last answer's sources."""
    page.locator('[data-testid="stExpander"] summary').last.click()
    page.wait_for_timeout(300)
