"""A seeded synthetic intent corpus of any size, for scale tests and the trainer's speed goal.

Each intent owns a few made-up keywords; a sentence mixes 1-3 of its intent's keywords with
common filler words, in random order, so the task is learnable but not trivial (filler words are
shared by all intents and some keywords are shared between two intents).
"""

from __future__ import annotations

import random

from engine.intent.data import LabelledTexts

_SYLLABLES = tuple(c + v for c in "bcdfghjklmnprstvwxz" for v in "aeiou")
_FILLER = ("how", "do", "i", "the", "my", "can", "you", "please", "to", "a", "is", "there", "what", "with",
           "for", "on", "it", "want", "need", "help", "me", "when", "next", "from", "way")


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


def synthetic_corpus(n_intents: int = 100, n_sentences: int = 20_000, seed: int = 0,
                     vocabulary_seed: int = 0) -> LabelledTexts:
    """``n_sentences`` sentences spread evenly over ``n_intents`` intents named ``intent_000``...

    The intents' keywords depend on ``vocabulary_seed`` only, the sentences on ``seed``: a test set
    for a training set is the same call with another ``seed``.
    """
    vocabulary_rng = random.Random(vocabulary_seed)
    keywords = [[_word(vocabulary_rng) for _ in range(6)] for _ in range(n_intents)]
    rng = random.Random(seed)
    for index in range(n_intents):  # some overlap between neighbouring intents
        keywords[index].append(keywords[(index + 1) % n_intents][0])
    texts, labels = [], []
    for number in range(n_sentences):
        intent = number % n_intents
        words = rng.sample(keywords[intent], rng.randint(1, 3)) + rng.sample(_FILLER, rng.randint(3, 8))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(f"intent_{intent:03d}")
    return LabelledTexts(tuple(texts), tuple(labels), f"synthetic({n_intents} intents, {n_sentences} sentences)")
