"""The four Swedish age levels VidHarm rates, in ordinal order, and how label strings map onto them.

The Swedish Media Council rates the risk of harm to children (mainly violence, threats, fear and
anxiety), not taste: Btl (all ages), 7, 11 and 15. They are ordered, so besides accuracy the
ordinal distance between a prediction and the truth matters: level ``k`` sits at position
``ORDINAL_STEP * k`` (0, 4, 8, 12), as in the VidHarm evaluation code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.errors import InputError

LEVELS: tuple[str, ...] = ("Btl", "7", "11", "15")
ORDINAL_STEP = 4.0
POSITIONS = np.arange(len(LEVELS), dtype=np.float64) * ORDINAL_STEP
# What the VidHarm files and people write for each level (compared case-insensitively).
_ALIASES = {"btl": 0, "bt": 0, "barntillåten": 0, "all": 0, "0": 0, "7": 1, "11": 2, "15": 3}
VIDHARM_CODES: tuple[str, ...] = ("bt", "7", "11", "15")  # the strings of the published split files


def level_index(label: Any) -> int:
    """The level index 0..3 of a label as found in VidHarm files or typed by a person.

    Accepts ``"Btl"``, ``"bt"``, ``"BT"``, ``"7"``, ``"11"``, ``"15"``, the integers 7/11/15 and
    VidHarm's two-rater lists such as ``["11", "11"]`` (the first entry is taken; the published
    refined splits always repeat the same label).

    Raises:
        InputError: the label is none of these.
    """
    if isinstance(label, (list, tuple)):
        if not label:
            raise InputError("An empty label list: expected e.g. [\"11\", \"11\"].")
        label = label[0]
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        label = str(int(label))
    key = str(label).strip().lower()
    if key not in _ALIASES:
        raise InputError(f"Unknown age level {label!r}: use one of {', '.join(LEVELS)} (or VidHarm's 'bt').")
    return _ALIASES[key]


def level_name(index: int) -> str:
    """The display name of level ``index`` (0..3)."""
    return LEVELS[int(index)]


def expected_level(probabilities: np.ndarray) -> np.ndarray:
    """The expected level, a continuous harm score in 0..3, of probabilities ``[..., 4]``."""
    return np.asarray(probabilities, dtype=np.float64) @ np.arange(len(LEVELS), dtype=np.float64)


def as_mapping(probabilities: Sequence[float]) -> dict[str, float]:
    """``{"Btl": p0, "7": p1, "11": p2, "15": p3}`` rounded to 6 decimals (for JSON output)."""
    return {name: round(float(value), 6) for name, value in zip(LEVELS, probabilities)}
