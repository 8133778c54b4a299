"""A refused action in a real browser: a message appears, other outputs keep their values (no "Error" badges)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.app.test_browser import CHROMIUM_ARGS

pytestmark = pytest.mark.browser


def test_refused_checkpoint_upload_leaves_the_models_table_and_dropdown_intact(app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    bad = tmp_path / "random.pth"
    bad.write_bytes(bytes(range(256)) * 4)
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is required (make test installs it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url, wait_until="load")
        page.get_by_role("tab", name="Models", exact=True).first.click()
        table = page.locator("#models-table")
        table.get_by_text("mobilenet_v2", exact=True).filter(visible=True).first.wait_for(timeout=90_000)
        page.get_by_text("Add an image-classifier checkpoint").click()
        page.locator("#checkpoint-file input[type=file]").set_input_files(str(bad))
        page.get_by_text("random.pth").first.wait_for(timeout=15_000)  # uploaded
        page.get_by_role("button", name="Validate and register").click()
        page.get_by_text("random.pth is not a weights file").first.wait_for(timeout=30_000)  # the message
        page.wait_for_timeout(500)
        assert table.get_by_text("mobilenet_v2", exact=True).filter(visible=True).count() >= 1
        for element in ("#models-table", "#models-choice"):
            assert page.locator(element).get_by_text("Error", exact=True).count() == 0, element
        browser.close()
