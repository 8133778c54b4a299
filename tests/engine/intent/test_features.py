"""The featurizer: known trigram answers, preprocessing, TF-IDF and misspelling robustness."""

from __future__ import annotations

import numpy as np
import pytest

from engine.intent.features import Preprocessing, SemhashVectorizer, semhash_tokens, subword_ngrams, subword_trigrams


@pytest.mark.parametrize(("word", "trigrams"), [
    ("video", ["#vi", "vid", "ide", "deo", "eo#"]),
    ("a", ["#a#"]),
    ("?", ["#?#"]),
    ("to", ["#to", "to#"]),
])
def test_words_are_padded_and_cut_into_as_many_trigrams_as_letters(word: str, trigrams: list[str]) -> None:
    assert subword_trigrams(word) == trigrams
    assert len(subword_trigrams(word)) == len(word)


def test_ngram_ranges_give_every_window_of_every_length() -> None:
    assert subword_ngrams("to", (1, 4)) == ["#", "t", "o", "#", "#t", "to", "o#", "#to", "to#", "#to#"]
    assert subword_ngrams("a", (4, 5)) == []  # "#a#" has no window of 4 or 5 letters
    vectorizer = SemhashVectorizer(ngram_range=(2, 3), sublinear_tf=True).fit(["go go", "stop"])
    assert set(vectorizer.vocabulary) == set(subword_ngrams("go", (2, 3)) + subword_ngrams("stop", (2, 3)))
    row = vectorizer.transform(["go go"]).toarray()[0]
    index = vectorizer.index()
    assert row[index["#go"]] > 0 and row[index["#s"]] == 0 and np.isclose(np.linalg.norm(row), 1.0)


def test_sentence_trigrams_follow_the_words_in_order() -> None:
    assert semhash_tokens("my video ?") == ["#my", "my#", "#vi", "vid", "ide", "deo", "eo#", "#?#"]
    assert semhash_tokens("") == []


def test_preprocessing_matches_the_papers_spacy_examples() -> None:
    paper = Preprocessing(lowercase=True, remove_stop_words=True, lemmatize=True)
    # spec §1 and pitfall 5: the notebook's and spaCy >= 2.1's outputs (lower-cased by the vectorizer)
    assert paper("Is it worth upgrading from 12.04 LTS to 13.04") == "worth upgrade 12.04 lts 13.04"
    assert paper("How to record my screen?") == "record screen ?"
    assert Preprocessing()("I want to go") == "i want to go"  # the default keeps stop words
    assert Preprocessing(lowercase=False, lemmatize=False)("Printers, u-bahn!") == "Printers , u-bahn !"


def test_tfidf_rows_are_unit_length_and_vocabulary_comes_from_training_only() -> None:
    vectorizer = SemhashVectorizer().fit(["upgrade ubuntu", "setup printer"])
    assert set(vectorizer.vocabulary) == set(semhash_tokens("upgrade ubuntu setup printer"))
    rows = vectorizer.transform(["upgrade printer", "zzz qqq"])
    assert rows.shape == (2, len(vectorizer.vocabulary))
    assert np.isclose(np.linalg.norm(rows[0].toarray()), 1.0)
    assert rows[1].nnz == 0  # nothing known: unseen trigrams are dropped, never added
    shared = SemhashVectorizer().fit(["upgrade ubuntu", "upgrade printer"])
    index = shared.index()
    # smooth idf: ln((1 + n) / (1 + df)) + 1 with n = 2 documents
    assert shared.idf[index["#up"]] == pytest.approx(1.0)
    assert shared.idf[index["#ub"]] == pytest.approx(np.log(3 / 2) + 1)


def test_one_letter_typo_keeps_most_trigrams_and_the_row_stays_close() -> None:
    clean, typo = set(subword_trigrams("upgrade")), set(subword_trigrams("upgrsde"))
    assert len(clean & typo) / len(clean) > 0.5  # a substitution breaks at most 3 trigrams
    vectorizer = SemhashVectorizer().fit(["how do i upgrade ubuntu", "which printer should i buy",
                                          "shut down the computer"])
    rows = vectorizer.transform(["how do i upgrade ubuntu", "how do i upgrsde ubuntu", "which printer should i buy"])
    similarity = (rows @ rows.T).toarray()
    assert similarity[0, 1] > 0.75
    assert similarity[0, 1] > 3 * similarity[0, 2]
