"""The Contexts view through the app's API: random contexts, training, trying and estimating contexts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from engine.annotations import default_store
from engine.similarity.annotate import record
from engine.similarity.contexts.distortions import DISTORTIONS
from engine.similarity.contexts.judgements import context_triplet
from tests.conftest import wait_for_job

SIX = sorted(DISTORTIONS)



def test_random_context_is_a_permutation(client) -> None:  # type: ignore[no-untyped-def]
    *order, status = client.predict(3, api_name="/contexts_random")
    assert sorted(order) == SIX and "seed 3" in status
    again = client.predict(3, api_name="/contexts_random")
    assert list(again[:6]) == order


def test_train_registers_an_adapted_metric_that_can_be_tried(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    order = ["blur", "darken", "hue", "rotate", "translate", "zoom-in"]
    job_id = client.predict(*order, None, "mobilenet_v2", "lin", 1, 1, 8, 0.01, api_name="/contexts_train")
    job = wait_for_job(client, job_id)
    summary, name = job["result"]["summary"], job["result"]["name"]
    assert job["state"] == "done" and job["kind"] == "contexts-train" and job["total"] >= 1
    assert summary["ranking"] == order and 0 <= summary["after_accuracy"] <= 1
    assert len(summary["per_pair"]) == 15
    assert name.startswith("context:blur-dark")
    paths = []
    for index, value in enumerate((60, 200)):
        path = tmp_path / f"{index}.png"
        Image.fromarray(np.full((40, 50, 3), value, dtype=np.uint8)).save(path)
        paths.append(handle_file(str(path)))
    text, _ = client.predict(name, *paths, api_name="/contexts_try")
    assert "**Adapted**" in text and "**Baseline**" in text
    adapted_distance = text.split("**Adapted**")[1].split(": ")[1].split()[0]
    # the adapted metric is selectable in the Compare view too (its settings replace the controls')
    markdown, *_ = client.predict(*paths, "64 x 64 (BAPPS)", "alexnet", ["relu1"], "sort", False, "exact", "random",
                                  None, name, api_name="/similarity_compare")
    compared = float(markdown.split("### Distance ")[1].split()[0])
    assert compared == pytest.approx(float(adapted_distance), abs=1e-4) and "mobilenet_v2 spatial" in markdown
    with pytest.raises(AppError, match="two images"):
        client.predict(name, None, None, api_name="/contexts_try")


def test_bad_context_is_refused(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AppError, match="repeated: blur"):
        client.predict("blur", "blur", "hue", "rotate", "translate", "zoom-in", None, "mobilenet_v2", "lin", 1, 1, 8,
                       0.01, api_name="/contexts_train")


def test_context_estimated_from_judgements(client) -> None:  # type: ignore[no-untyped-def]
    store = default_store()
    preferred = {"zoom-in": 0, "blur": 1, "darken": 2, "translate": 3, "hue": 4, "rotate": 5}
    for seed in range(200):
        triplet = context_triplet(seed, size=32)
        first, second = triplet.source.removeprefix("context distortions: p0 ").split(";")[0].split(", p1 ")
        closer = "p0" if preferred[first] < preferred[second] else "p1"
        record(store, triplet, ["p0", "p1"], "left" if closer == "p0" else "right", "judge")
    *order, status = client.predict(api_name="/contexts_from_judgements")
    assert order == sorted(preferred, key=preferred.get)
    assert "200 judgements" in status
