"""The app in a real browser: headless Debian chromium driven by playwright."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_switch_through_every_tab_and_screenshot(app_url: str) -> None:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is required (make test installs it)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url, wait_until="networkidle")
        tabs = page.get_by_role("tab")
        names = [tabs.nth(i).inner_text().strip() for i in range(tabs.count())]
        assert "Models" in names and "Annotations" in names
        for name in names:
            page.get_by_role("tab", name=name).click()
            selected = page.get_by_role("tab", name=name, selected=True)
            selected.wait_for(timeout=10_000)
            page.wait_for_timeout(300)
            page.screenshot(path=str(SCREENSHOTS / f"tab-{name.lower().replace(' ', '-')}.png"), full_page=True)
        page.get_by_role("tab", name="Models").click()
        page.locator("#weights-table").get_by_text("mobilenet_v2").first.wait_for(timeout=15_000)
        page.screenshot(path=str(SCREENSHOTS / "models.png"), full_page=True)
        browser.close()
