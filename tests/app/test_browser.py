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


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is required (make test installs it)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_app(browser, app_url: str):  # type: ignore[no-untyped-def]
    """A fresh page (its own browser storage) showing the app's tabs."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    # not "networkidle": the queue's event stream may stay open; wait for the rendered tabs instead
    page.goto(app_url, wait_until="load")
    page.get_by_role("tablist").first.get_by_role("tab").first.wait_for(timeout=60_000)
    return page


def test_switch_through_every_tab_and_screenshot(browser, app_url: str) -> None:  # type: ignore[no-untyped-def]
    page = open_app(browser, app_url)
    outer = page.get_by_role("tablist").first.get_by_role("tab")
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
    page.close()


def test_compare_shows_a_distance(browser, app_url: str) -> None:  # type: ignore[no-untyped-def]
    page = open_app(browser, app_url)
    page.get_by_role("tab", name="Perceptual similarity").click()
    page.get_by_label("Or pick an example pair").click()
    page.get_by_role("option").first.click()
    page.locator("#sim-file-b").get_by_text(".png").first.wait_for(timeout=30_000)
    page.locator("#sim-compare-button").click()
    result = page.locator("#sim-result")
    result.get_by_text("Distance").wait_for(timeout=120_000)
    distance = float(result.inner_text().split("Distance")[1].split()[0])
    assert distance > 0
    page.screenshot(path=str(SCREENSHOTS / "compare-result.png"), full_page=True)
    page.close()


def test_explain_shows_a_heat_map(browser, app_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from engine.samples import write_natural_images

    image = write_natural_images(tmp_path, ["chelsea"])[0]
    page = open_app(browser, app_url)
    page.get_by_role("tab", name="Explanations").click()
    page.locator("#explain-file input[type=file]").set_input_files(str(image))
    page.locator("#explain-top").get_by_text("Egyptian cat").first.wait_for(timeout=120_000)
    page.get_by_role("button", name="Explain with A", exact=True).click()
    page.locator("#explain-summary-a").get_by_text("SRG").wait_for(timeout=300_000)
    assert page.locator("#explain-map-a img").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "explain-result.png"), full_page=True)
    page.close()


def test_intent_shows_a_prediction(browser, app_url: str) -> None:  # type: ignore[no-untyped-def]
    page = open_app(browser, app_url)
    page.get_by_role("tab", name="Intent").click()
    page.locator("#intent-text textarea").fill("how do I upgrade ubuntu to the new release")
    page.get_by_role("button", name="Classify", exact=True).click()
    page.wait_for_function("document.querySelector('#intent-predicted textarea').value.length > 0",
                           timeout=120_000)
    assert page.locator("#intent-predicted textarea").input_value().strip()
    page.close()


def test_2afc_keyboard_shortcuts_record_and_undo(browser, app_url: str) -> None:  # type: ignore[no-untyped-def]
    from engine.annotations import default_store

    page = open_app(browser, app_url)
    page.locator("#annotator textarea, #annotator input").first.fill("keyboard-judge")
    page.get_by_role("tab", name="Perceptual similarity").click()
    page.get_by_role("tab", name="2AFC annotation").click()
    page.locator("#sim-start").click()
    status = page.locator("#sim-annotate-status")
    status.get_by_text("Judged this session: 0").wait_for(timeout=60_000)
    page.locator("body").click(position={"x": 5, "y": 5})  # keys go to the page, not a text box
    page.keyboard.press("1")
    status.get_by_text("you chose the left image").wait_for(timeout=60_000)
    status.get_by_text("Judged this session: 1").wait_for(timeout=5_000)
    page.keyboard.press("ArrowRight")
    status.get_by_text("you chose the right image").wait_for(timeout=60_000)
    status.get_by_text("Judged this session: 2").wait_for(timeout=5_000)
    page.keyboard.press("u")
    status.get_by_text("Undid your decision").wait_for(timeout=60_000)
    decisions = default_store().annotations("similarity-2afc", annotator="keyboard-judge", include_undone=True)
    assert [d.label["side"] for d in decisions] == ["left", "right"]
    assert [d.undone for d in decisions] == [False, True]
    page.close()


def test_a_name_typed_right_after_loading_is_kept(browser, app_url: str) -> None:  # type: ignore[no-untyped-def]
    page = open_app(browser, app_url)
    box = page.locator("#annotator textarea, #annotator input").first
    box.fill("first-name")
    page.wait_for_timeout(1500)  # the browser saves it
    page.reload(wait_until="load")
    box = page.locator("#annotator textarea, #annotator input").first
    box.wait_for(timeout=60_000)
    box.fill("typed-at-once")  # before or while the saved name is restored
    page.wait_for_timeout(4000)
    assert box.input_value() == "typed-at-once"
    page.close()
