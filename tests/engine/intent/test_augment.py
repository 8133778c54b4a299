"""Oversampling, keyboard typos and the Moby thesaurus: balanced, seeded, and as specified."""

from __future__ import annotations

import random

from engine.intent.augment import (
    _KEY_POSITION,
    add_typos,
    default_thesaurus,
    keyboard_neighbours,
    oversample,
    oversample_with_origins,
)
from engine.intent.data import LabelledTexts

DATA = LabelledTexts(("leave the office now", "go home", "quit the job", "book a train", "train to munich"),
                     ("leave", "leave", "leave", "travel", "travel"))


def test_oversampling_fills_every_intent_to_the_largest_and_keeps_originals() -> None:
    balanced = oversample(DATA, seed=0)
    assert balanced.counts() == {"leave": 3, "travel": 3}
    assert balanced.texts[:5] == DATA.texts
    assert balanced.texts[5] == "book a train"  # plain copies cycle through the intent's sentences


def test_every_copy_knows_the_sentence_it_came_from() -> None:
    balanced, origins = oversample_with_origins(DATA, seed=1, synonyms=True)
    assert len(origins) == len(balanced) == 6 and origins[:5] == (0, 1, 2, 3, 4)
    assert origins[5] == 3 and balanced.labels[5] == DATA.labels[3]  # the copy of "book a train"


def test_augmented_copies_are_seeded() -> None:
    first = oversample(DATA, seed=3, synonyms=True, typos=True)
    assert first == oversample(DATA, seed=3, synonyms=True, typos=True)
    assert any(oversample(DATA, seed=s, synonyms=True, typos=True).texts[5] != "book a train" for s in range(5))


def test_typos_use_keys_within_2_1_key_widths() -> None:
    assert set(keyboard_neighbours("g")) >= {"f", "h", "t", "y", "b", "v", "d", "j"}
    for key, neighbours in (("q", keyboard_neighbours("q")), ("m", keyboard_neighbours("m"))):
        row, column = _KEY_POSITION[key]
        assert all(((r - row) ** 2 + (c - column) ** 2) ** 0.5 < 2.1 for r, c in map(_KEY_POSITION.get, neighbours))
    assert keyboard_neighbours("é") == ()


def test_add_typos_changes_one_letter_per_chosen_word() -> None:
    text = "please upgrade my ubuntu machine"
    assert add_typos(text, 0.0, seed=1) == text
    changed = add_typos(text, 1.0, seed=1)
    for before, after in zip(text.split(), changed.split()):
        assert len(before) == len(after) and sum(a != b for a, b in zip(before, after)) == 1
    assert add_typos(text, 1.0, seed=1) == changed
    assert add_typos("😀 привет", 1.0, seed=0) == "😀 привет"  # no keyboard letters: unchanged


def test_thesaurus_gives_mutual_synonyms_closest_first() -> None:
    thesaurus = default_thesaurus()
    assert thesaurus.closest("leave") == ("depart", "withdraw", "quit")
    assert thesaurus.closest("xqzzy") == ()
    replaced = thesaurus.replace_words("leave now", 1.0, random.Random(0))
    assert replaced.split()[0] in ("depart", "withdraw", "quit")
