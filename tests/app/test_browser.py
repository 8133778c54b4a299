"""The app in a real browser: headless Debian chromium driven by playwright."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def shoot(page, name: str, parent: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Select tab ``name`` (inside ``parent``), check it is selected and save a screenshot."""
    page.get_by_role("tab", name=name, exact=True).first.click()
    page.get_by_role("tab", name=name, exact=True, selected=True).first.wait_for(timeout=15_000)
    page.wait_for_timeout(300)
    stem = "-".join(part.lower().replace(" ", "-") for part in filter(None, (parent, name)))
    page.screenshot(path=str(SCREENSHOTS / f"tab-{stem}.png"), full_page=True)


def test_switch_through_every_tab_and_screenshot(app_url: str) -> None:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is required (make test installs it)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # not "networkidle": the queue's event stream may stay open; wait for the rendered tabs instead
        page.goto(app_url, wait_until="load")
        outer = page.get_by_role("tablist").first.get_by_role("tab")
        outer.first.wait_for(timeout=60_000)
        names = [outer.nth(i).inner_text().strip() for i in range(outer.count())]
        assert "Models" in names and "Annotations" in names
        for name in names:
            shoot(page, name)
            inner = page.locator(".tabs .tabs").get_by_role("tab")  # views inside this tab, if any
            for view in [inner.nth(i).inner_text().strip() for i in range(inner.count()) if inner.nth(i).is_visible()]:
                shoot(page, view, parent=name)
        page.get_by_role("tab", name="Models").click()
        page.locator("#weights-table").get_by_text("mobilenet_v2").first.wait_for(timeout=15_000)
        page.screenshot(path=str(SCREENSHOTS / "models.png"), full_page=True)
        browser.close()
