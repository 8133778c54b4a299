"""engine.video.probing: group gaps, permutation p-values, and a probe over clips of two groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.video.probing import group_gap, permutation_p_value, probe, read_probe_csv
from engine.video.rater import Rater


def test_gap_and_permutation_p_value() -> None:
    groups = np.array(["a"] * 10 + ["b"] * 10)
    apart = np.r_[np.zeros(10), np.ones(10)]
    assert group_gap(apart, groups) == 1.0
    assert permutation_p_value(apart, groups, permutations=500) < 0.01
    alike = np.tile([0.0, 1.0], 10)
    assert group_gap(alike, groups) == 0.0 and permutation_p_value(alike, groups, permutations=200) == 1.0


def test_probe_reports_each_group(tmp_path: Path, media: dict[str, Path], random_rater: Rater) -> None:
    rows = ["path,group", f"{media['no_audio']},actor-a", f"{media['odd']},actor-a", f"{media['rotated']},actor-b"]
    (tmp_path / "probe.csv").write_text("\n".join(rows))
    result = probe(read_probe_csv(tmp_path / "probe.csv"), random_rater)
    assert [(g.name, g.clips) for g in result.groups] == [("actor-a", 2), ("actor-b", 1)]
    for group in result.groups:
        assert sum(group.level_shares) == pytest.approx(1.0) and 0 <= group.mean_harm_score <= 3
    means = [g.mean_harm_score for g in result.groups]
    assert result.gap == pytest.approx(max(means) - min(means))
    assert set(result.to_json()) >= {"groups", "gap", "p_value", "clips"}


def test_a_probe_needs_two_groups_and_existing_clips(tmp_path: Path, media: dict[str, Path]) -> None:
    (tmp_path / "one.csv").write_text(f"path,group\n{media['odd']},a\n")
    with pytest.raises(InputError, match="two groups"):
        read_probe_csv(tmp_path / "one.csv")
    (tmp_path / "missing.csv").write_text("path,group\nabsent.mp4,a\n")
    with pytest.raises(InputError, match="no clip file"):
        read_probe_csv(tmp_path / "missing.csv")
