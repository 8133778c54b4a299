"""Shipped and user models in the registry, and the correction loop through the annotation store."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.annotations import AnnotationStore
from engine.errors import InputError
from engine.intent import catalog
from engine.intent.data import LabelledTexts
from engine.intent.model import IntentModel, evaluate
from engine.intent.persistence import MODEL_FILE
from engine.registry import Registry


def test_shipped_models_register_with_provenance_and_reach_their_test_scores(
        chatbot: tuple[LabelledTexts, LabelledTexts]) -> None:
    registry = Registry()
    names = catalog.register_models(registry)
    assert names[:3] == ["intent:askubuntu", "intent:chatbot", "intent:webapplications"]
    spec = registry.spec("intent:chatbot")
    assert spec.task == "intent" and spec.labels == ("DepartureTime", "FindConnection")
    assert "ChatbotCorpus.json (train)" in spec.provenance and "test micro-F1" in spec.provenance
    assert not registry.is_loaded("intent:chatbot")
    model = registry.get("intent:chatbot").model
    assert evaluate(model, chatbot[1]).accuracy >= 0.97


def test_user_models_get_unique_names_and_broken_files_are_skipped(webapps_model: IntentModel) -> None:
    registry = Registry()
    first = catalog.save_user_model(webapps_model, registry, "my model")
    second = catalog.save_user_model(webapps_model, registry, "my model")
    assert (first, second) == ("intent:my-model", "intent:my-model-2")
    broken = catalog.user_models_dir() / "broken"
    broken.mkdir()
    (broken / MODEL_FILE).write_bytes(b"not a model")
    fresh = Registry()
    names = catalog.register_models(fresh)
    assert {first, second} <= set(names) and "intent:broken" not in names
    with pytest.raises(InputError, match="name made of"):
        catalog.save_user_model(webapps_model, registry, "???")
    assert catalog.corrected_name("intent:chatbot") == "chatbot-corrected"
    assert catalog.corrected_name("intent:chatbot-corrected-2") == "chatbot-corrected"


def test_corrections_are_stored_and_retraining_learns_them(webapps_model: IntentModel, tmp_path: Path) -> None:
    store = AnnotationStore(tmp_path / "annotations.sqlite")
    text = "move my playlists to another streaming service"
    before = webapps_model.predict(text).intent
    target = "Export Data" if before != "Export Data" else "Sync Accounts"
    catalog.record_decision(store, "intent:webapplications", text, before, target, "ana")
    catalog.record_decision(store, "intent:webapplications", "alternative to gmail", "Find Alternative",
                            "Find Alternative", "ana")
    catalog.record_decision(store, "intent:other", "play some jazz", "Music", "Music", "ana")  # other label set
    stored = store.annotations("intent")
    assert [a.label["decision"] for a in stored] == ["correct", "accept", "accept"]
    corrections = catalog.standing_corrections(store, webapps_model.labels)
    assert dict(zip(corrections.texts, corrections.labels)) == {text: target,
                                                                "alternative to gmail": "Find Alternative"}
    retrained = catalog.retrain_with_corrections(webapps_model, corrections, "webapps+corrections")
    assert retrained.predict(text).intent == target
    assert len(retrained.training) == len(webapps_model.training) + 2
    assert retrained.info.parent == webapps_model.info.name and retrained.info.corrections == 2
    assert retrained.info.train_seconds < 10
    with pytest.raises(InputError, match="accept or correct a few"):
        catalog.retrain_with_corrections(webapps_model, LabelledTexts((), ()), "empty")


def test_shipped_models_carry_their_selection_report() -> None:
    for name in ("intent:chatbot", "intent:askubuntu", "intent:webapplications"):
        info = catalog.stored_info(name)
        assert info is not None and info.selection is not None and info.typo_curve is not None
        rows = info.selection["candidates"]
        assert [row["status"] for row in rows].count("selected") == 1
        assert info.selection["winner"] in info.selection["reason"]
        assert info.typo_curve["model"]["rates"] == [0.0, 0.05, 0.1, 0.15, 0.2]
    assert catalog.stored_info("intent:nothing-here") is None
