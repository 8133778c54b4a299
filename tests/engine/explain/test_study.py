"""The configuration study on a toy model: the paper's grid, pruning, resuming, the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.explain import study


def test_paper_grid_has_three_variants_by_eight_samplers() -> None:
    chosen = study.settings("paper", large_n=4000)
    assert len(chosen) == 24
    assert {s.segmentation for s in chosen} == {"grid+bilinear", "grid+gaussian", "slic+gaussian"}
    assert [s.sampler_name for s in chosen[:8]] == ["random-4000", "random-400", "random-M", "shap-4000", "shap-400",
                                                    "shap-M", "single+none", "inverse+none"]
    assert len(study.settings("grid", large_n=4000)) == 5 * 3


def test_rows_for_every_compatible_rule_and_map_type_and_resume(quadrant_classifier, white_image) -> None:  # type: ignore[no-untyped-def]
    chosen = study.settings("paper", large_n=40)
    rows = list(study.run_image("white.png", white_image, quadrant_classifier, chosen, set(), seed=0))
    # per variant: 6 random/shap settings x 4 rules + 2 single-feature settings x 5 rules (CIU or inverse CIU), x 2 maps
    assert len(rows) == 3 * (6 * 4 + 2 * 5) * 2
    frame = pd.DataFrame(rows)
    assert set(frame.loc[frame["attributer"] == "ciu", "sampler"]) == {"single+none"}
    assert set(frame.loc[frame["attributer"] == "ciu-inverse", "sampler"]) == {"inverse+none"}
    assert (frame.loc[frame["sampler"] == "random-40", "n_samples"] == 40).all()
    single_rows = frame[frame["sampler"] == "single+none"]
    assert (single_rows["n_samples"] == single_rows["n_segments"] + 1).all()
    assert (frame["target"] == 0).all() and frame["srg"].between(-1, 1).all()
    single = frame[(frame["sampler"] == "single+none") & (frame["segmentation"] == "grid+gaussian")
                   & (frame["attribution"] == "segment")]
    assert single["srg"].nunique() == 1  # every rule ranks leave-one-out samples alike (spec 3.3)
    done = {tuple(row[k] for k in study.FIELDS[:5]) for row in rows}
    assert list(study.run_image("white.png", white_image, quadrant_classifier, chosen, done, seed=0)) == []
    summary = study.summarise(frame)
    assert "## segmentation x attribution" in summary and "Headline" in summary and "of 1 images" in summary
    assert np.isfinite(frame["srg"]).all()
