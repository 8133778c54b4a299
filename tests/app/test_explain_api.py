"""The Explanations tab through its API: classify, explain with a configuration and a seed, rate, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from engine.annotations import default_store
from engine.samples import write_natural_images

TINY = {"segmenter": {"name": "grid", "rows": 3, "cols": 3, "bilinear": False}, "smoothing": {"name": "gaussian"},
        "sampler": {"name": "random", "p": 0.5}, "n_samples": 12, "eval_steps": 4}


@pytest.fixture(scope="module")
def cat(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_natural_images(tmp_path_factory.mktemp("explain"), ["chelsea"])[0])


def run(client, image: str, seed: int, config: dict, target: int = -1):  # type: ignore[no-untyped-def]
    return client.predict(handle_file(image), "mobilenet_v2", target, seed, json.dumps(config), False, True, 0.5,
                          api_name="/explain_run")


def srg_of(summary: str) -> float:
    return float(re.search(r"SRG (-?[0-9.]+)", summary).group(1))  # type: ignore[union-attr]


def test_classify_lists_the_top_classes_and_every_class_to_pick(client, cat: str) -> None:  # type: ignore[no-untyped-def]
    preview, top, target = client.predict(handle_file(cat), "mobilenet_v2", api_name="/explain_classify")
    assert Path(preview).is_file()
    assert top["label"] == "Egyptian cat" and len(top["confidences"]) == 5
    assert top["confidences"][0]["confidence"] > 0.5


def test_explain_shows_map_curves_seed_and_follows_the_seed(client, cat: str) -> None:  # type: ignore[no-untyped-def]
    picture, plot, summary, run_id = run(client, cat, 3, TINY)
    assert Path(picture).is_file() and plot["type"] == "matplotlib"
    assert "Egyptian cat" in summary and "seed 3" in summary and "mobilenet_v2 IMAGENET1K_V1" in summary
    assert "9 segments" in summary and f"{1 + 12 + 2 * 4 - 2} model calls" in summary
    assert re.fullmatch(r"[0-9a-f]{32}", run_id)  # the page holds an opaque id, not the facts
    again, other = run(client, cat, 3, TINY)[2], run(client, cat, 4, TINY)[2]
    assert srg_of(again) == srg_of(summary) and srg_of(other) != srg_of(summary)


def test_until_converged_through_the_api(client, cat: str) -> None:  # type: ignore[no-untyped-def]
    until = {**TINY, "sampler": {"name": "orthogonal"}, "until": 0.9, "max_samples": 96}
    summary = run(client, cat, 5, until)[2]
    found = re.search(r"(\d+) samples · r ≈ ([0-9.]+) with the converged map", summary)
    assert found is not None and int(found.group(1)) <= 96
    assert (float(found.group(2)) >= 0.9) == ("(converged)" in summary)
    assert "until r>=0.9 (max 96)" in summary


def test_explaining_another_class_and_rating_the_result(client, cat: str) -> None:  # type: ignore[no-untyped-def]
    _, _, summary, run_id = run(client, cat, 0, TINY, target=281)
    assert "tabby" in summary and "class 281" in summary
    with pytest.raises(AppError, match="annotator name"):
        client.predict("", "A", "plausible", "", run_id, None, api_name="/explain_rate")
    with pytest.raises(AppError, match="Run configuration B first"):
        client.predict("rater", "B", "plausible", "", run_id, None, api_name="/explain_rate")
    with pytest.raises(AppError, match="Run configuration A first"):  # a made-up id stores nothing
        client.predict("rater", "A", "plausible", "", "0" * 32, None, api_name="/explain_rate")
    message = client.predict("rater", "A", "not plausible", "background only", run_id, None,
                             api_name="/explain_rate")
    assert "not plausible" in message
    saved = default_store().annotations("explain-rating", annotator="rater")
    assert saved[-1].label == {"rating": "not plausible", "note": "background only"}
    assert saved[-1].payload["target"] == 281 and saved[-1].payload["seed"] == 0
    assert saved[-1].payload["config"]["n_samples"] == 12
    assert saved[-1].payload["srg"] == pytest.approx(srg_of(summary), abs=5e-4)


def test_a_run_of_another_session_cannot_be_rated(app_url: str, client, cat: str) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client

    run_id = run(client, cat, 0, TINY)[3]
    other = Client(app_url, verbose=False)
    try:
        with pytest.raises(AppError, match="Run configuration A first"):
            other.predict("intruder", "A", "plausible", "", run_id, None, api_name="/explain_rate")
    finally:
        other.close()


def test_bad_configuration_and_bad_image_are_clear_errors(client, cat: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AppError, match="between 1 and 20000"):
        run(client, cat, 0, {**TINY, "n_samples": 0})
    with pytest.raises(AppError, match="CIU needs samples"):
        run(client, cat, 0, {**TINY, "attributer": {"name": "ciu"}})
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(AppError, match="not a readable image"):
        run(client, str(broken), 0, TINY)
    assert "Egyptian cat" in run(client, cat, 0, TINY)[2]  # still answering
