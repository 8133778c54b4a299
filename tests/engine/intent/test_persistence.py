"""Saving and loading intent models: identical predictions, and hostile files refused without running them."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from engine.errors import InputError, WorkbenchError
from engine.intent import persistence
from engine.intent.data import LabelledTexts
from engine.intent.model import IntentConfig, IntentModel, fit

SENTENCES = ["How do I delete my account?", "alternative to gmail", "delte my acount", "😀", "sync my contacts"]


def test_round_trip_gives_identical_predictions(webapps_model: IntentModel, tmp_path: Path) -> None:
    path = persistence.save(webapps_model, tmp_path / "model.safetensors")
    loaded = persistence.load(path)
    assert np.array_equal(loaded.probabilities(SENTENCES), webapps_model.probabilities(SENTENCES))
    assert loaded.labels == webapps_model.labels and loaded.config == webapps_model.config
    assert loaded.training == webapps_model.training
    before, after = webapps_model.predict(SENTENCES[0]), loaded.predict(SENTENCES[0])
    assert [c.ngram for c in after.contributions] == [c.ngram for c in before.contributions]
    assert [c.weight for c in after.contributions] == pytest.approx([c.weight for c in before.contributions], rel=1e-5)
    info, config, labels = persistence.read_info(path)
    assert info.n_train == 30 and config == webapps_model.config and labels == webapps_model.labels


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(_Exploit.marker),))

    marker = Path()


def test_a_pickle_disguised_as_a_model_is_refused_and_never_runs(tmp_path: Path) -> None:
    _Exploit.marker = tmp_path / "pwned"
    disguised = tmp_path / "model.safetensors"
    disguised.write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(InputError, match="not a Workbench intent model"):
        persistence.load(disguised)
    assert not _Exploit.marker.exists()


def test_foreign_or_tampered_safetensors_are_refused(webapps_model: IntentModel, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weights": np.zeros((2, 2), dtype=np.float32)}, str(foreign), metadata={"format": "other"})
    with pytest.raises(InputError, match="format tag"):
        persistence.load(foreign)
    good = persistence.save(webapps_model, tmp_path / "good.safetensors")
    with safe_open(str(good), framework="np") as handle:
        metadata = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    tampered = tmp_path / "tampered.safetensors"
    vocabulary = json.loads(metadata["vocabulary"])[:-1]
    save_file(tensors, str(tampered), metadata={**metadata, "vocabulary": json.dumps(vocabulary)})
    with pytest.raises(InputError, match="tensor shapes"):
        persistence.load(tampered)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="not a Workbench intent model"):
        persistence.load(empty)


def test_ngram_range_fusion_and_calibration_survive_a_round_trip(webapps: tuple[LabelledTexts, ...],
                                                                 tmp_path: Path) -> None:
    model = fit(webapps[0], IntentConfig(ngram_min=1, ngram_max=5, sublinear_tf=True, classifier="linear_svm",
                                         oversample=False, synonyms=False, oos_threshold=0.3))
    model.temperature = 4.5
    loaded = persistence.load(persistence.save(model, tmp_path / "model.safetensors"))
    assert loaded.temperature == 4.5 and loaded.config == model.config
    assert loaded.probability_kind == "calibrated probability"
    assert np.array_equal(loaded.probabilities(SENTENCES), model.probabilities(SENTENCES))
    assert loaded.predict_labels(SENTENCES) == model.predict_labels(SENTENCES)


def test_non_linear_models_cannot_be_saved(webapps: tuple[LabelledTexts, ...], tmp_path: Path) -> None:
    forest = fit(webapps[0], IntentConfig(classifier="nearest_centroid"))
    with pytest.raises(WorkbenchError, match="not a linear classifier"):
        persistence.save(forest, tmp_path / "forest.safetensors")
    assert not list(tmp_path.iterdir())
