"""Typo robustness curves and the generated banking-style corpus."""

from __future__ import annotations

from engine.intent.banking import INTENTS, banking_corpus
from engine.intent.data import LabelledTexts
from engine.intent.robustness import perturb, sample, sentence_curve, typo_curve, word_tfidf_baseline
from engine.intent.synthetic import synthetic_corpus

DATA = LabelledTexts(("delete my account now", "find an alternative to gmail", "export my contacts please"),
                     ("delete", "alternative", "export"))


def test_perturbation_is_seeded_and_rate_zero_changes_nothing() -> None:
    assert perturb(DATA.texts, 0.0) == list(DATA.texts)
    assert perturb(DATA.texts, 0.2, seed=3) == perturb(DATA.texts, 0.2, seed=3)
    heavy = perturb(DATA.texts, 1.0)
    assert all(a != b and len(a.split()) == len(b.split()) for a, b in zip(heavy, DATA.texts))


def test_curves_of_known_predictors() -> None:
    oracle = dict(zip(DATA.texts, DATA.labels))
    exact = typo_curve(lambda texts: [oracle.get(t, "?") for t in texts], DATA, rates=(0.0, 1.0))
    assert exact == {"rates": [0.0, 1.0], "accuracy": [1.0, 0.0], "n": 3}  # only exact strings are known
    constant = sentence_curve(lambda texts: ["delete"] * len(texts), "anything at all", rates=(0.0, 0.5))
    assert constant["kept"] == [1.0, 1.0] and constant["intent"] == "delete"
    assert len(sample(synthetic_corpus(3, 900), limit=500)) == 500


def test_word_tfidf_baseline_loses_more_to_typos_than_on_clean_text() -> None:
    train = synthetic_corpus(n_intents=5, n_sentences=500, seed=0)
    test = synthetic_corpus(n_intents=5, n_sentences=200, seed=1)
    curve = typo_curve(word_tfidf_baseline(train), test, rates=(0.0, 0.5))
    assert curve["accuracy"][0] > 0.9 and curve["accuracy"][1] < curve["accuracy"][0] - 0.05


def test_banking_corpus_is_seeded_unbalanced_and_holds_back_a_phrasing_for_test() -> None:
    train = banking_corpus(2_000, seed=0)
    assert len(INTENTS) == 77 and len(train.intents) == 77 and len(train) == 2_000
    assert train == banking_corpus(2_000, seed=0) and train != banking_corpus(2_000, seed=1)
    counts = train.counts().values()
    assert max(counts) > 1.5 * min(counts)
    held_back = INTENTS["card_arrival"][1][-1].split("{t}")[0].lower()  # "how do i track my "
    assert not any(held_back in t.lower() for t in train.texts)
    assert any(held_back in t.lower() for t in banking_corpus(2_000, seed=2, test=True).texts)
