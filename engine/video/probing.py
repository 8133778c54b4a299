"""Discrimination probing: does the rater give different levels to harmless footage depending on who is in it?

VidHarm probed its visual model on matched benign clips: the same everyday scenes acted by different
people, whose true level is Btl for all. Here any such set can be probed: a CSV ``path,group`` (the
group being whatever is compared, e.g. an actor or a perceived demographic). Every clip is rated
like any video (its worst window, by default with the picture alone as VidHarm did); per group the
share of clips at each level and the mean harm score (expected level, 0..3) are reported, with the
largest gap between group means and a permutation p-value for it (how often shuffling the group
labels gives a gap at least as large).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.video.dataset import read_clip_rows
from engine.video.labels import LEVELS, expected_level
from engine.video.rater import Rater
from engine.video.scoring import score, worst_row

MODALITIES = ("video", "fused")


@dataclass(frozen=True)
class GroupResult:
    """One group's clips: how many, the share at each level (``[4]``, sums to 1), the mean harm score."""

    name: str
    clips: int
    level_shares: tuple[float, ...]
    mean_harm_score: float


@dataclass
class ProbeResult:
    """Per-group results, the largest gap between group means and its permutation p-value."""

    groups: list[GroupResult]
    gap: float
    p_value: float
    modality: str
    model: str
    clips: list[dict[str, object]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """Plain values for ``engine.video probe --json``."""
        return {"model": self.model, "modality": self.modality, "gap": round(self.gap, 4),
                "p_value": round(self.p_value, 4),
                "groups": [{"group": g.name, "clips": g.clips, "mean_harm_score": round(g.mean_harm_score, 4),
                            "level_shares": dict(zip(LEVELS, (round(s, 4) for s in g.level_shares)))}
                           for g in self.groups],
                "clips": self.clips}


def read_probe_csv(path: str | Path) -> list[tuple[Path, str]]:
    """``(clip path, group)`` rows of a CSV with header ``path,group`` (paths relative to the CSV).

    Raises:
        InputError: no such header, a missing clip, or fewer than two groups.
    """
    rows = read_clip_rows(path, ("path", "group"))
    items = [(clip, (row["group"] or "").strip() or "(none)") for _, row, clip in rows]
    if len({group for _, group in items}) < 2:
        raise InputError("A probe compares groups: give clips of at least two groups.")
    return items


def group_gap(scores: np.ndarray, groups: np.ndarray) -> float:
    """Largest difference between the mean scores of any two groups."""
    means = [scores[groups == name].mean() for name in np.unique(groups)]
    return float(max(means) - min(means))


def permutation_p_value(scores: np.ndarray, groups: np.ndarray, permutations: int = 2000, seed: int = 0) -> float:
    """Share of label shufflings whose gap is at least the observed one (with the observed one counted)."""
    observed = group_gap(scores, groups)
    rng = np.random.default_rng(seed)
    larger = sum(group_gap(scores, rng.permutation(groups)) >= observed - 1e-12 for _ in range(permutations))
    return (larger + 1) / (permutations + 1)


def probe(items: list[tuple[Path, str]], rater: Rater, modality: str = "video",
          on_clip: Callable[[int, int], None] | None = None) -> ProbeResult:
    """Rate every clip and compare the groups (see the module docstring).

    Args:
        items: ``(clip, group)`` pairs, e.g. from :func:`read_probe_csv`.
        rater: the rater to probe.
        modality: ``video`` (the picture alone, as VidHarm probed) or ``fused``.
        on_clip: ``(clips done, clips)`` after each clip.
    """
    if modality not in MODALITIES:
        raise InputError(f"modality must be one of {', '.join(MODALITIES)}, not {modality!r}.")
    levels, harm, records = [], [], []
    for done, (clip, group) in enumerate(items, 1):
        result = score(clip, rater)
        per_window = result.probabilities(modality)
        worst = worst_row(per_window)
        levels.append(int(per_window[worst].argmax()))
        harm.append(float(expected_level(per_window[worst])))
        records.append({"path": str(clip), "group": group, "rating": LEVELS[levels[-1]],
                        "harm_score": round(harm[-1], 4)})
        if on_clip is not None:
            on_clip(done, len(items))
    names = np.array([group for _, group in items])
    scores, level_array = np.array(harm), np.array(levels)
    groups = []
    for name in sorted(set(names.tolist())):
        chosen = names == name
        shares = tuple(float((level_array[chosen] == level).mean()) for level in range(len(LEVELS)))
        groups.append(GroupResult(name, int(chosen.sum()), shares, float(scores[chosen].mean())))
    return ProbeResult(groups, group_gap(scores, names), permutation_p_value(scores, names), modality, rater.name,
                       records)
