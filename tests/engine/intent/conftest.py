"""Shared fixtures for the intent engine tests: the official corpus splits and one trained model."""

from __future__ import annotations

import pytest

from engine.intent.catalog import CORPORA_DIR as CORPORA
from engine.intent.data import LabelledTexts, corpus_path, read_labelled
from engine.intent.model import IntentModel, fit


@pytest.fixture(scope="session")
def chatbot() -> tuple[LabelledTexts, LabelledTexts]:
    """Chatbot corpus (train, test) from the official split."""
    path = corpus_path(CORPORA, "chatbot")
    return read_labelled(path, "train"), read_labelled(path, "test")


@pytest.fixture(scope="session")
def webapps() -> tuple[LabelledTexts, LabelledTexts]:
    """WebApplications corpus (train, test): 8 intents, tiny and unbalanced."""
    path = corpus_path(CORPORA, "webapplications")
    return read_labelled(path, "train"), read_labelled(path, "test")


@pytest.fixture(scope="session")
def webapps_model(webapps: tuple[LabelledTexts, LabelledTexts]) -> IntentModel:
    """The default pipeline trained on WebApplications' training split."""
    return fit(webapps[0])
