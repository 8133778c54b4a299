"""Embedding indexes of image folders: nearest neighbours, 2-D views, and the order in which to label patches.

An :class:`EmbeddingIndex` holds one unit-length feature vector per image of a folder (any layout
:mod:`engine.histology.dataset` reads, or just images), with each image's class, patient and magnification when
known, and the provenance of the encoder that made it. It is saved as ``index.safetensors`` + ``index.json`` in
its own folder. Neighbours are by cosine similarity. The 2-D view is PCA (fast, deterministic) or t-SNE.

Active learning (:func:`labelling_order`): with labels for at least two classes, a logistic regression on the
embeddings scores every unlabelled patch and the least certain come first (smallest margin between the two most
probable classes); with a classifier, its probabilities are used instead; before any of that, patches are ordered
for diversity (farthest-point traversal), so the first labels cover the folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from engine.errors import InputError
from engine.histology.dataset import Dataset, read_dataset
from engine.histology.encoders import Encoder, load_tensors, save_tensors
from engine.histology.finetune import ImageCache
from engine.histology.retrieval import embed
from engine.images import IMAGE_SUFFIXES
from engine.paths import inside

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOUR_BY = ("class", "patient", "magnification")


@dataclass(frozen=True)
class Neighbour:
    """One image found near a query: its path, cosine similarity and what is known about it."""

    path: str
    similarity: float
    label: str
    patient: str
    magnification: str


@dataclass
class EmbeddingIndex:
    """Unit features ``float32 [N, D]`` of N images and their metadata."""

    name: str
    paths: list[str]
    labels: list[str]
    patients: list[str]
    magnifications: list[str]
    embeddings: np.ndarray
    provenance: str
    image_size: int
    encoder_file: str = ""  # the encoder that made it ("" = ImageNet MobileNetV2), to embed queries alike

    def __len__(self) -> int:
        return len(self.paths)

    def neighbours(self, query: np.ndarray, k: int = 8, exclude: str | None = None) -> list[Neighbour]:
        """The ``k`` images most similar to the unit vector ``query`` ``[D]`` (``exclude``: a path to skip)."""
        similarity = self.embeddings @ np.asarray(query, np.float32)
        order = [i for i in np.argsort(-similarity, kind="stable") if self.paths[i] != exclude][:k]
        return [Neighbour(self.paths[i], float(similarity[i]), self.labels[i], self.patients[i],
                          self.magnifications[i]) for i in order]

    def colour_values(self, colour_by: str) -> list[str]:
        """Each image's class, patient or magnification."""
        if colour_by not in COLOUR_BY:
            raise InputError(f"Colour by one of {', '.join(COLOUR_BY)}, not {colour_by!r}.")
        return {"class": self.labels, "patient": self.patients, "magnification": self.magnifications}[colour_by]

    def save(self, folder: Path) -> Path:
        """Write ``index.safetensors`` and ``index.json`` into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        save_tensors({"embeddings": torch.from_numpy(self.embeddings)}, folder / "index.safetensors",
                     {"name": self.name})
        record = {k: v for k, v in asdict(self).items() if k != "embeddings"}
        (folder / "index.json").write_text(json.dumps(record), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> EmbeddingIndex:
        """Read an index written by :meth:`save`.

        Raises:
            InputError: missing or damaged files.
        """
        try:
            record = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"No readable index in {folder.name} ({error}).") from error
        tensors, _ = load_tensors(folder / "index.safetensors")
        index = cls(**record, embeddings=tensors["embeddings"].numpy())
        if len(index.embeddings) != len(index.paths):
            raise InputError(f"The index in {folder.name} is damaged (embeddings and paths differ in number).")
        return index


def index_folder(root: Path, name: str) -> Path:
    """The folder of the index called ``name`` under ``root`` (the name is validated)."""
    return inside(root, name, what="index name")


def collection(source: str | Path) -> Dataset:
    """The images of a folder or CSV with their metadata; a folder in no known layout is read as plain images
    (class, patient and magnification then empty or read from BreakHis-style names)."""
    try:
        return read_dataset(source, check=None)
    except InputError:
        path = Path(source)
        if not path.is_dir():
            raise
    from engine.histology.dataset import Sample, parse_file_name

    samples = []
    for file in sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        parts = parse_file_name(file.name) or {}
        relative = file.relative_to(path).as_posix()
        samples.append(Sample(file, relative, parts.get("label", ""), parts.get("subtype", ""),
                              parts.get("magnification", ""), parts.get("patient", file.parent.name),
                              parts.get("group", file.parent.name), ""))
    if not samples:
        raise InputError(f"{path} holds no image ({', '.join(IMAGE_SUFFIXES)}).")
    return Dataset(path.resolve(), "folders", samples)


def build_index(source: str | Path, encoder: Encoder, name: str, image_size: int = 96, limit: int = 5000,
                progress: Callable[[int, int], None] | None = None, encoder_file: str = "") -> EmbeddingIndex:
    """Embed the images of ``source`` (at most ``limit``) with ``encoder`` (loaded from ``encoder_file``, recorded
    so queries are embedded alike).

    Raises:
        InputError: no images, or more than ``limit``.
    """
    dataset = collection(source)
    if len(dataset.samples) > limit:
        raise InputError(f"{len(dataset.samples)} images are more than the {limit} an index holds; index a smaller "
                         "folder.")
    images = ImageCache(image_size)
    rows = []
    step = 64
    for start in range(0, len(dataset.samples), step):
        chunk = dataset.samples[start:start + step]
        rows.append(embed(encoder, [images(s.path) for s in chunk]))
        if progress is not None:
            progress(start + len(chunk), len(dataset.samples))
    samples = dataset.samples
    return EmbeddingIndex(name, [str(s.path) for s in samples], [s.label for s in samples],
                          [s.patient for s in samples], [s.magnification for s in samples],
                          np.concatenate(rows).astype(np.float32), encoder.provenance, image_size, encoder_file)


def index_names(root: Path) -> list[str]:
    """Names of the indexes saved under ``root``, sorted."""
    return sorted(p.parent.name for p in root.glob("*/index.json"))


def embed_image(encoder: Encoder, pixels: np.ndarray, size: int) -> np.ndarray:
    """The unit feature ``[D]`` of one image ``float32 [H, W, 3]`` in 0..1 seen at ``size`` x ``size``."""
    return embed(encoder, [pixels], size)[0]


def projection(embeddings: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``float64 [N, 2]`` 2-D coordinates of ``[N, D]`` embeddings by PCA or t-SNE (perplexity capped for small N)."""
    if len(embeddings) < 3:
        raise InputError("A 2-D view needs at least 3 images.")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(embeddings)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30, max(2, (len(embeddings) - 1) // 3)))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(embeddings)
    raise InputError(f"Unknown projection {method!r}; use pca or tsne.")


def embedding_figure(points: np.ndarray, values: Sequence[str], title: str, highlight: int | None = None) -> Figure:
    """A scatter plot of ``points`` ``[N, 2]`` coloured by ``values`` (one legend entry per value, at most 20)."""
    from engine.plotting import colormap, new_figure

    figure = new_figure(6.5, 5)
    axes = figure.add_subplot()
    distinct = sorted(set(values), key=lambda v: (v == "", v))
    colours = colormap("tab20").colors
    for number, value in enumerate(distinct):
        mask = np.array([v == value for v in values])
        axes.scatter(points[mask, 0], points[mask, 1], s=14, color=colours[number % len(colours)], alpha=0.8,
                     label=(value or "unknown") if number < 20 else None)
    if highlight is not None:
        axes.scatter(*points[highlight], s=160, facecolors="none", edgecolors="black", linewidths=1.5, label="query")
    axes.legend(fontsize=7, loc="best", markerscale=1.2, ncol=1 if len(distinct) <= 10 else 2)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title, fontsize=9)
    return figure


def margins(probabilities: np.ndarray) -> np.ndarray:
    """``[N]`` difference between the two largest class probabilities of each row (small = uncertain)."""
    ordered = np.sort(probabilities, axis=1)
    return ordered[:, -1] - ordered[:, -2]


def diversity_order(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """Farthest-point traversal of ``[N, D]`` unit embeddings from a seeded start: each next index is the one
    farthest (in cosine distance) from all chosen so far."""
    count = len(embeddings)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    order = [int(np.random.default_rng(seed).integers(count))]
    distance = 1 - embeddings @ embeddings[order[0]]
    for _ in range(count - 1):
        distance[order] = -np.inf
        following = int(np.argmax(distance))
        order.append(following)
        distance = np.minimum(distance, 1 - embeddings @ embeddings[following])
    return np.asarray(order)


@dataclass(frozen=True)
class LabellingOrder:
    """Unlabelled indices, most useful to label first, how they were ordered, and each one's margin (or NaN)."""

    indices: np.ndarray
    method: str
    margins: np.ndarray


def labelling_order(embeddings: np.ndarray, labels: Mapping[int, str], probabilities: np.ndarray | None = None,
                    seed: int = 0, exclude: Collection[int] = ()) -> LabellingOrder:
    """The unlabelled rows of ``embeddings`` ``[N, D]`` in the order to label them.

    Args:
        embeddings: unit features of every patch.
        labels: index -> class of the patches labelled so far.
        probabilities: ``[N, C]`` of a loaded classifier, when there is one (used before the labels).
        seed: seeds the diversity order's start.
        exclude: indices not to offer (e.g. skipped in this session).
    """
    unlabelled = np.array([i for i in range(len(embeddings)) if i not in labels and i not in exclude], dtype=np.int64)
    if len(unlabelled) == 0:
        return LabellingOrder(unlabelled, "everything is labelled", np.zeros(0))
    if probabilities is None and len(set(labels.values())) >= 2:
        from sklearn.linear_model import LogisticRegression

        known = np.array(sorted(labels))
        model = LogisticRegression(max_iter=500).fit(embeddings[known], [labels[i] for i in known])
        probabilities = model.predict_proba(embeddings)
        method = f"uncertainty of a logistic regression on {len(known)} labels"
    elif probabilities is not None:
        method = "uncertainty of the loaded classifier"
    else:
        local = diversity_order(embeddings[unlabelled], seed)
        return LabellingOrder(unlabelled[local], "diversity (label two classes to switch to uncertainty)",
                              np.full(len(unlabelled), np.nan))
    found = margins(probabilities[unlabelled])
    order = np.argsort(found, kind="stable")
    return LabellingOrder(unlabelled[order], method, found[order])


def similarity_scorer(encoder: Encoder, query: np.ndarray, size: int) -> Callable[[np.ndarray], np.ndarray]:
    """Tiles ``float32 [B, S, S, 3]`` -> cosine similarity ``[B]`` of their features to ``query``'s (a tile
    ``float32 [H, W, 3]``), all seen at ``size`` x ``size`` pixels."""
    target = embed(encoder, [query], size)[0]

    def score(tiles: np.ndarray) -> np.ndarray:
        return embed(encoder, list(tiles), size) @ target

    return score
