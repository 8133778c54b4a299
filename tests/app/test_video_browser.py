"""The Video harm tab in headless chromium: rate the example clip, then rate with the keyboard shortcuts."""

from __future__ import annotations

import shutil

import pytest

from engine.annotations import default_store
from engine.video.annotate import CLIP_TASK, WINDOW_TASK
from tests.app.test_browser import CHROMIUM_ARGS

pytestmark = pytest.mark.browser


def status_contains(page, text: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"document.querySelector('#vid-rating-status').innerText.includes({text!r})",
                           timeout=30_000)


def test_keyboard_shortcuts_rate_windows_and_the_clip(app_url: str) -> None:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is required (make test installs it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url, wait_until="load")
        page.get_by_role("tab", name="Video harm").first.click()
        page.wait_for_timeout(2000)  # the page's load events (the remembered annotator) have run
        page.locator("#annotator textarea").fill("keyboard")
        page.locator("#annotator textarea").press("Tab")
        page.get_by_text("Use the synthetic example clip").click()
        page.wait_for_function("document.querySelector('#vid-clip video')", timeout=60_000)
        page.locator("#vid-run").click()
        page.wait_for_function("document.querySelector('#vid-summary').innerText.includes('Rating:')",
                               timeout=120_000)
        page.locator("#vid-summary").click()  # focus outside any text box
        page.keyboard.press("Digit2")
        status_contains(page, "as 7")
        page.keyboard.press("Shift+Digit3")
        status_contains(page, "whole clip as 11")
        page.keyboard.press("u")
        status_contains(page, "Undid")
        browser.close()
    store = default_store()
    assert [a.label for a in store.annotations(WINDOW_TASK, annotator="keyboard")] == ["7"]
    assert store.annotations(CLIP_TASK, annotator="keyboard") == []  # undone
