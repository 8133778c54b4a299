"""Cross-magnification retrieval, embedding indexes, labelling order, classifier files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.histology.classifier import load_classifier, magnification_from_name, predict, save_classifier
from engine.histology.encoders import Encoder
from engine.histology.finetune import ClassifierNet, decide
from engine.histology.index import EmbeddingIndex, diversity_order, labelling_order, projection
from engine.histology.mpcs import resize_square
from engine.histology.retrieval import cross_magnification_retrieval


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_retrieval_known_answers() -> None:
    regions = _unit(np.random.default_rng(0).normal(size=(10, 8)))
    perfect = cross_magnification_retrieval({"40X": regions, "100X": regions, "200X": regions})
    assert perfect.top1 == 1.0 and perfect.top5 == 1.0 and len(perfect.per_pair) == 6
    shuffled = cross_magnification_retrieval({"40X": regions, "100X": regions[::-1]})
    assert shuffled.top1 == 0.0 and shuffled.per_pair["40X->100X"]["top5"] == pytest.approx(0.4, abs=0.31)
    with pytest.raises(ValueError):
        cross_magnification_retrieval({"40X": regions, "100X": regions[:5]})


def test_index_neighbours_round_trip(tmp_path: Path) -> None:
    vectors = _unit(np.eye(4) + 0.1)
    index = EmbeddingIndex("demo", [f"/x/{i}.png" for i in range(4)], ["a", "a", "b", "b"], list("pqrs"),
                           ["40X", "100X", "40X", "100X"], vectors, "test encoder", 32)
    found = index.neighbours(vectors[2], 2)
    assert found[0].path == "/x/2.png" and found[0].similarity == pytest.approx(1.0)
    assert [n.path for n in index.neighbours(vectors[2], 2, exclude="/x/2.png")][0] != "/x/2.png"
    loaded = EmbeddingIndex.load(index.save(tmp_path / "demo"))
    assert loaded.paths == index.paths and np.array_equal(loaded.embeddings, vectors)
    assert projection(vectors, "pca").shape == (4, 2) and index.colour_values("class") == ["a", "a", "b", "b"]
    with pytest.raises(InputError):
        index.colour_values("size")


def test_labelling_order_moves_from_diversity_to_uncertainty() -> None:
    points = _unit(np.array([[1, 0.0], [0.99, 0.1], [0, 1.0], [0.1, 0.99], [0.7, 0.7], [0.72, 0.69]]))
    order = diversity_order(points, seed=0)
    assert sorted(order.tolist()) == list(range(6)) and order[1] in ({0, 1} if order[0] in (2, 3) else {2, 3})
    first = labelling_order(points, {})
    assert first.method.startswith("diversity") and len(first.indices) == 6
    learned = labelling_order(points, {0: "benign", 2: "malignant"})
    assert "logistic regression on 2 labels" in learned.method and set(learned.indices[:2]) == {4, 5}
    assert list(learned.margins) == sorted(learned.margins)
    assert 4 not in labelling_order(points, {0: "benign", 2: "malignant"}, exclude={4}).indices


def test_classifier_file_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    encoder = Encoder("mobilenet_v2", weights="random")
    parts = {"40X": ClassifierNet(encoder, 2).eval(), "400X": ClassifierNet(encoder, 2).eval()}
    path = save_classifier(tmp_path / "c.safetensors", parts, ["benign", "malignant"], 32, "binary", 0.3,
                           shared_encoder=True, info={"note": "test"})
    loaded = load_classifier(path)
    image = np.random.default_rng(0).random((40, 50, 3)).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(parts["400X"](torch.from_numpy(resize_square(image, 32)).permute(2, 0, 1)[None]), 1)
    result = predict(loaded, image, "400X")
    assert result.part == "400X" and result.probabilities["malignant"] == pytest.approx(float(expected[0, 1]), abs=1e-5)
    assert "RANDOM" in loaded.provenance and loaded.threshold == 0.3
    with pytest.raises(InputError, match="choose one of those magnifications"):
        predict(loaded, image, "100X")
    assert decide(np.array([[0.75, 0.25], [0.65, 0.35]]), 0.3, 1).tolist() == [0, 1]
    assert magnification_from_name("SOB_M_DC-14-2523-400-010.png") == "400X"
    assert magnification_from_name("region-003_100x.png") == "100X" and magnification_from_name("a.png") is None
