"""The explanation pipeline: segment, sample, perturb, run the model, attribute, project, score (spec 1.6-1.7).

:func:`explain` is the one verb; :class:`ExplainConfig` holds every choice and round-trips through
JSON (``to_dict``/``from_dict``), and :data:`PRESETS` name the configurations people start from.
Memory stays bounded whatever N is: masks and perturbed images exist one batch at a time
(``float32 [batch, H, W]`` and ``[batch, H, W, 3]``), and attribution works on the samples
``uint8 [N, M]`` and outputs ``[N]`` only, never on ``[N, H, W]`` pixel masks. While samples are drawn,
the split-half agreement of the map estimates how settled it is (:mod:`engine.explain.convergence`);
with ``until`` the run stops once that estimate reaches the target.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from engine.errors import InputError
from engine.explain.attributers import ATTRIBUTERS, Attributer, LimeAttributer, RiseAttributer
from engine.explain.classifier import PRECISIONS, Classifier, at_precision
from engine.explain.convergence import ConvergencePoint, map_correlation, next_check, settled_correlation
from engine.explain.evaluation import SrgResult, srg
from engine.explain.model_run import ModelRun
from engine.explain.params import Catalog, ConfigError, choice, describe, flag, number, validate_value
from engine.explain.perturbers import PERTURBERS, ColorPerturber, Perturber, SegmentMeanPerturber
from engine.explain.samplers import (
    BOTH,
    SAMPLERS,
    OrthogonalSampler,
    RandomSampler,
    Sampler,
    reference_rows,
    with_reference_rows,
)
from engine.explain.segmenters import (
    SEGMENTERS,
    SMOOTHINGS,
    GaussianSmoothing,
    GridSegmenter,
    MaskBuilder,
    NoSmoothing,
    QuickshiftSegmenter,
    Segmentation,
    Segmenter,
    SlicSegmenter,
    Smoothing,
    shift_canvas,
)

Progress = Callable[[float, str], None]  # (fraction done in 0..1, what is happening)
RISE_SHIFT = round(1 / 7, 4)  # RISE moves its 7 x 7 masks by up to one cell


def component(catalog: Catalog[Any], default: object, label: str) -> Any:
    """A config field holding one component of ``catalog`` (the UI offers every member)."""
    return field(default=default, metadata={"catalog": catalog, "label": label})


@dataclass(frozen=True)
class ExplainConfig:
    """Every choice of one explanation. The defaults are the paper's best family at a CPU-friendly N:
    SLIC superpixels, Gaussian-smoothed masks, random samples (in variance-reduced orthogonal blocks),
    RISE scores, per-pixel map, exact float32."""

    segmenter: Segmenter = component(SEGMENTERS, SlicSegmenter(), "Segmentation")
    smoothing: Smoothing = component(SMOOTHINGS, GaussianSmoothing(), "Mask smoothing")
    shift: float = number(0.0, 0.0, 0.5, "Random shift", "RISE's random mask shift, as a fraction of the image "
                          "(1/7 = one cell of a 7x7 grid); only with RISE per-pixel", step=0.01)
    sampler: Sampler = component(SAMPLERS, OrthogonalSampler(), "Sampler")
    n_samples: int = number(400, 1, 20000, "Samples N", "perturbed images (single-feature: M, set by "
                            "the segmentation); not used when running until converged", integer=True)
    until: float = number(0.0, 0.0, 0.999, "Until converged: target r", "stop once the map's estimated "
                          "correlation with its converged self (split-half) reaches this; 0 = run N samples",
                          step=0.005)
    max_samples: int = number(8000, 1, 20000, "Max samples", "budget when running until converged", integer=True)
    add_none: bool = flag(False, "Add unperturbed row", "also run the intact image")
    add_all: bool = flag(False, "Add fully perturbed row", "also run the fully perturbed image")
    perturber: Perturber = component(PERTURBERS, ColorPerturber(), "Perturbation")
    attributer: Attributer = component(ATTRIBUTERS, RiseAttributer(), "Attribution rule")
    attribution: str = choice("pixel", ["pixel", "segment"], "Map", "per pixel (through the smoothed masks) "
                              "or per segment")
    eval_perturber: Perturber = component(PERTURBERS, ColorPerturber("image-mean"), "Evaluation perturbation")
    eval_steps: int = number(10, 2, 100, "Evaluation steps K", "points on the LIF/MIF curves", integer=True)
    batch_size: int = number(32, 1, 512, "Batch", "perturbed images built at a time", integer=True)
    precision: str = choice("float32", PRECISIONS, "Precision", "float32 is exact; bfloat16 is a fast mode for GPUs "
                            "and CPUs with native bfloat16 (slightly different maps; not every network gains)")

    def __post_init__(self) -> None:
        if self.shift > 0 and not (isinstance(self.attributer, RiseAttributer) and self.attribution == "pixel"):
            raise ConfigError("Random shift moves every mask differently, so only per-pixel RISE can use it: "
                              "choose the RISE attribution rule with the per-pixel map, or set shift to 0.")

    def to_dict(self) -> dict[str, Any]:
        """JSON form: components as ``{"name": ..., <setting>: value}``, other fields as values."""
        return {f.name: describe(getattr(self, f.name)) if "catalog" in f.metadata else getattr(self, f.name)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ExplainConfig:
        """Validate and build a config; missing fields keep their defaults.

        Raises:
            ConfigError: unknown field or component, or a value out of range (the message says which).
        """
        if not isinstance(values, Mapping):
            raise ConfigError("The configuration must be a JSON object of settings.")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"Unknown configuration field(s) {', '.join(unknown)}; known: {', '.join(known)}.")
        built = {name: known[name].metadata["catalog"].make(value) if "catalog" in known[name].metadata
                 else validate_value(name, known[name].metadata["param"], value)
                 for name, value in values.items()}
        return cls(**built)

    def label(self) -> str:
        """A one-line description, e.g. for plot titles and CSV rows."""
        size = f"until r>={self.until:g} (max {self.max_samples})" if self.until else f"N={self.n_samples}"
        return (f"{self.segmenter} + {self.smoothing}{f' + shift {self.shift:g}' if self.shift else ''} | "
                f"{self.sampler} {size} | {self.perturber} | {self.attributer} | {self.attribution}"
                f"{' | bfloat16' if self.precision == 'bfloat16' else ''}")


RISE = ExplainConfig(segmenter=GridSegmenter(7, 7, bilinear=True), smoothing=NoSmoothing(), shift=RISE_SHIFT,
                     sampler=RandomSampler(0.5), n_samples=1000, attributer=RiseAttributer())
PRESETS: dict[str, ExplainConfig] = {
    "slic-smooth-pixel": ExplainConfig(),
    "rise": RISE,
    "rise-orthogonal": dataclasses.replace(RISE, sampler=OrthogonalSampler()),
    "lime": ExplainConfig(segmenter=QuickshiftSegmenter(), smoothing=NoSmoothing(), sampler=RandomSampler(0.5),
                          n_samples=1000, add_none=True, perturber=SegmentMeanPerturber(),
                          attributer=LimeAttributer(), attribution="segment"),
}
PRESET_TITLES = {"slic-smooth-pixel": "SLIC + smooth per-pixel", "rise": "RISE (original sampling)",
                 "rise-orthogonal": "RISE, orthogonal masks (fewer samples)", "lime": "LIME"}


@dataclass(frozen=True)
class ClassScore:
    """One class and the model's probability for it."""

    index: int
    label: str
    probability: float


def class_label(classifier: Classifier, index: int) -> str:
    """The name of output ``index`` (``class <index>`` when the model has no names)."""
    return classifier.labels[index] if index < len(classifier.labels) else f"class {index}"


MIN_SIDE = 8  # smaller images carry too little to classify or to cut into segments


def prepare(image: np.ndarray, classifier: Classifier) -> np.ndarray:
    """``image`` as ``float32 [h, w, 3]`` at the model's input size (resized without cropping, as the paper).

    Raises:
        InputError: not an RGB image ``[H, W, 3]`` with values in 0..1.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise InputError(f"Expected an RGB image [H, W, 3]; got shape {image.shape}. Load files with "
                         "engine.images.load_image.")
    if min(image.shape[:2]) < MIN_SIDE:
        raise InputError(f"The image is {image.shape[1]}x{image.shape[0]} pixels; classifying and explaining need "
                         f"at least {MIN_SIDE} pixels on each side.")
    if not np.issubdtype(image.dtype, np.floating) or image.min() < 0 or image.max() > 1:
        raise InputError("Expected pixel values as floats in 0..1; load files with engine.images.load_image.")
    image = image.astype(np.float32, copy=False)
    if classifier.input_size is None or image.shape[:2] == tuple(classifier.input_size):
        return image
    height, width = classifier.input_size
    shrinking = height * width < image.shape[0] * image.shape[1]
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.clip(resized, 0.0, 1.0)


def top_classes(probabilities: np.ndarray, classifier: Classifier, top: int = 5) -> list[ClassScore]:
    """The ``top`` most probable classes, best first."""
    order = np.argsort(-probabilities, kind="stable")[:top]
    return [ClassScore(int(i), class_label(classifier, int(i)), float(probabilities[i])) for i in order]


def classify(image: np.ndarray, classifier: Classifier, top: int = 5) -> list[ClassScore]:
    """The model's ``top`` classes for ``image`` (any size; resized like :func:`explain` does)."""
    return top_classes(classifier(prepare(image, classifier)[None])[0], classifier, top)


def segment(image: np.ndarray, config: ExplainConfig) -> Segmentation:
    """The configured segmentation of ``image``, smoothed as configured."""
    return config.smoothing(config.segmenter(image))


def draw_samples(config: ExplainConfig, n_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Samples ``uint8 [N, M]`` from the configured sampler, with the requested reference rows."""
    samples = config.sampler(n_segments, config.n_samples, rng)
    return with_reference_rows(samples, config.add_none, config.add_all)


def random_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """Independent generators for sampling, perturbing and evaluating, all from one seed (so changing
    the perturber does not change the samples)."""
    sample, perturb, evaluate = np.random.SeedSequence(seed).spawn(3)
    return np.random.default_rng(sample), np.random.default_rng(perturb), np.random.default_rng(evaluate)


@dataclass
class Attribution:
    """Everything before scoring: segments, samples ``uint8 [N, M]``, outputs ``[N]``, per-segment scores
    ``[M]``, both maps ``float64 [h, w]``, the forward passes spent on perturbed images, and how settled
    the map became as samples were added (``converged``: the ``until`` target was reached)."""

    segmentation: Segmentation
    samples: np.ndarray
    outputs: np.ndarray
    scores: np.ndarray
    segment_map: np.ndarray
    pixel_map: np.ndarray
    model_calls: int
    convergence: list[ConvergencePoint]
    converged: bool


class AttributionRun:
    """One attribution in progress: iterate it to draw and run samples a block at a time.

    Each step yields a :class:`ConvergencePoint`, the split-half estimate of how settled the map is
    (:mod:`engine.explain.convergence`); iteration ends after N samples, or with ``config.until`` once the
    estimate reaches the target (or after ``config.max_samples``). :meth:`result` attributes the samples
    run so far, so a caller may look at the map after any step. With a random shift, the segmentation
    covers the image reflected outwards (:func:`shift_canvas`); the result's segmentation is its window
    over the image, and the per-pixel map is original RISE.
    """

    def __init__(self, pixels: np.ndarray, classifier: Classifier, config: ExplainConfig, target: int,
                 sample_rng: np.random.Generator, perturb_rng: np.random.Generator,
                 progress: Progress | None = None, step: int | None = None) -> None:
        """
        Args:
            pixels: the model-sized image ``float32 [h, w, 3]`` in 0..1 (see :func:`prepare`).
            classifier: the model; ``target`` is the class explained.
            config: every choice.
            sample_rng: draws the samples; ``perturb_rng`` draws random shifts and replacements.
            progress: called with (fraction of the sample budget done, message).
            step: check every ``step`` samples (default: at the sampler's design blocks, about 10% apart).
        """
        self.config = config
        self.step = step
        if config.shift > 0:
            canvas, (top, left) = shift_canvas(pixels, config.shift)
            whole = segment(canvas, config)
            self.segments = whole.crop(top, left, *pixels.shape[:2])
            masks = MaskBuilder(whole, window=pixels.shape[:2])
        else:
            self.segments = segment(pixels, config)
            masks = MaskBuilder(self.segments)
        self.stream = config.sampler.stream(self.segments.n_segments, sample_rng)
        self.stream.include(reference_rows(self.segments.n_segments, config.add_none, config.add_all))
        self.budget = len(self.stream.rows) + (config.max_samples if config.until else config.n_samples)
        self.run = ModelRun(pixels, masks, self.segments.labels, classifier, target, config.perturber,
                            config.batch_size, perturb_rng)
        self.history: list[ConvergencePoint] = []
        self.converged = False
        self._report = progress or (lambda fraction, message: None)

    def __iter__(self) -> Iterator[ConvergencePoint]:
        stream, run = self.stream, self.run
        while not (self.converged or len(stream.rows) >= self.budget or stream.complete) or not self.history:
            stream.grow(min(len(stream.rows) + self.step, self.budget) if self.step else
                        next_check(len(stream.rows), stream.unit, self.budget))
            start = len(run.outputs)
            if start == len(stream.rows):
                return
            run.extend(stream.rows[start:], stream.halves[start:], stream.groups[start:],
                       lambda done, message: self._report(done / self.budget, message))
            self.history.append(ConvergencePoint(len(stream.rows), run.model_calls, self.settledness()))
            self._report(len(stream.rows) / self.budget, f"r = {self.history[-1].r:.3f} after {len(stream.rows)} "
                         "samples")
            self.converged = bool(self.config.until) and self.history[-1].r >= self.config.until
            yield self.history[-1]

    def settledness(self) -> float:
        """The estimated correlation of the map so far with the converged map, from its two split halves."""
        halves, outputs = self.stream.halves[:len(self.run.outputs)], self.run.outputs
        sizes = [int((halves == half).sum()) for half in (0, 1)]
        if min(sizes) == 0:
            return settled_correlation(float("nan"), *sizes)
        maps = []
        for half in (0, 1):
            if self.run.weighted_masks is not None:
                maps.append(self.run.rise_pixel_map(half))
            else:
                rows = (halves == half) | (halves == BOTH)
                scores = self.config.attributer(outputs[rows], self.stream.rows[:len(halves)][rows])
                maps.append(self.segments.project(scores, per_pixel=self.config.attribution == "pixel"))
        return settled_correlation(map_correlation(*maps), *sizes)

    def result(self) -> Attribution:
        """Attribute the samples run so far."""
        samples, outputs = self.stream.rows[:len(self.run.outputs)], self.run.outputs
        scores = self.config.attributer(outputs, samples)
        pixel_map = self.run.rise_pixel_map() if self.run.weighted_masks is not None else \
            self.segments.project(scores, per_pixel=True)
        return Attribution(self.segments, samples, outputs, scores, self.segments.project(scores, per_pixel=False),
                           pixel_map, self.run.model_calls, list(self.history), self.converged)


def attribute(pixels: np.ndarray, classifier: Classifier, config: ExplainConfig, target: int,
              sample_rng: np.random.Generator, perturb_rng: np.random.Generator,
              progress: Progress | None = None) -> Attribution:
    """Segment the model-sized ``pixels``, sample, run the model for ``target`` and attribute
    (the whole of an :class:`AttributionRun`)."""
    running = AttributionRun(pixels, classifier, config, target, sample_rng, perturb_rng, progress)
    for _ in running:
        pass
    return running.result()


@dataclass
class Explanation:
    """One explained prediction. Maps are ``float64 [h, w]`` at the model's input size; higher = more support."""

    image: np.ndarray  # float32 [h, w, 3] in 0..1, the model-sized image that was perturbed
    target: int
    label: str
    probability: float
    top_classes: list[ClassScore]
    segmentation: Segmentation
    samples: np.ndarray  # uint8 [N, M]
    outputs: np.ndarray  # [N] the target's output per sample
    scores: np.ndarray  # [M] per-segment attribution
    segment_map: np.ndarray
    pixel_map: np.ndarray
    evaluation: SrgResult
    config: ExplainConfig
    seed: int
    model_calls: int  # forward passes: classifying, distinct perturbed images, scoring
    seconds: float
    provenance: str
    convergence: list[ConvergencePoint] = field(default_factory=list)  # how settled the map got, block by block
    converged: bool = False  # the ``until`` target was reached

    @property
    def settled_r(self) -> float | None:
        """The last estimate of the map's correlation with its converged self (None when there is none, e.g.
        all samples fell into one half)."""
        last = self.convergence[-1].r if self.convergence else math.nan
        return None if math.isnan(last) else last

    @property
    def attribution_map(self) -> np.ndarray:
        """The map the configuration asked for (per pixel or per segment), the one that was scored."""
        return self.pixel_map if self.config.attribution == "pixel" else self.segment_map

    def notes(self) -> list[str]:
        """What the configuration's automatic or approximate settings came to on this image."""
        notes = []
        sigma_for = getattr(self.config.smoothing, "sigma_for", None)
        if sigma_for is not None:
            automatic = " (automatic: 70/sqrt(M) px at 224 px)" if not self.config.smoothing.sigma else ""
            notes.append(f"Mask smoothing used sigma = {sigma_for(self.segmentation):.1f} px{automatic}.")
        asked = getattr(self.config.segmenter, "n_segments", None)
        if asked is not None and self.segmentation.n_segments != asked:
            notes.append(f"{self.config.segmenter.TITLE} made {self.segmentation.n_segments} segments for the "
                         f"{asked} asked: superpixels follow the image's colours, so their number is approximate.")
        return notes

    def map_at(self, height: int, width: int) -> np.ndarray:
        """The attribution map resized to ``[height, width]`` (e.g. the original image's size)."""
        interpolation = cv2.INTER_LINEAR if self.config.attribution == "pixel" else cv2.INTER_NEAREST
        return cv2.resize(self.attribution_map.astype(np.float32), (width, height), interpolation=interpolation)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly facts: class, scores of the map, cost, seed and configuration."""
        return {
            "target": self.target, "label": self.label, "probability": self.probability,
            **self.evaluation.summary(), "n_segments": self.segmentation.n_segments,
            "n_samples": int(len(self.samples)), "model_calls": self.model_calls, "seconds": self.seconds,
            "settled_r": self.settled_r, "converged": self.converged, "seed": self.seed, "provenance": self.provenance,
            "config": self.config.to_dict(), "notes": self.notes(),
        }


def explain(image: np.ndarray, classifier: Classifier, config: ExplainConfig | None = None,
            target: int | None = None, seed: int = 0, progress: Progress | None = None) -> Explanation:
    """Explain ``classifier``'s output for class ``target`` (default: its top class) on ``image``.

    Args:
        image: ``float32 [H, W, 3]`` in 0..1, any size (resized to the model's input size).
        classifier: e.g. :func:`engine.explain.classifier.from_registry`.
        config: every choice; default :class:`ExplainConfig` (SLIC + smoothing + per-pixel RISE).
        target: class index to explain; None explains the most probable class.
        seed: seeds sampling, random shifts and random perturbations (same seed, same result).
        progress: called with (fraction done, message) while the model runs.

    With ``config.until`` the number of samples is not fixed: the run stops once the map's estimated
    correlation with its converged self reaches the target, or after ``config.max_samples``.

    Raises:
        InputError: a malformed image or a class index out of range.
        ConfigError: settings that do not work together (e.g. CIU with random samples).
    """
    config = config or ExplainConfig()
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    classifier = at_precision(classifier, config.precision)
    pixels = prepare(image, classifier)
    sample_rng, perturb_rng, evaluation_rng = random_streams(seed)
    report(0.0, "classifying")
    probabilities = classifier(pixels[None])[0]
    if target is None:
        target = int(np.argmax(probabilities))
    elif not 0 <= target < len(probabilities):
        raise InputError(f"Class {target} does not exist; the model has classes 0..{len(probabilities) - 1}.")
    report(0.02, "segmenting")
    found = attribute(pixels, classifier, config, target, sample_rng, perturb_rng,
                      lambda fraction, message: report(0.05 + 0.85 * fraction, message))
    report(0.9, "scoring the map (LIF/MIF)")
    chosen = found.pixel_map if config.attribution == "pixel" else found.segment_map
    evaluation = srg(pixels, chosen, classifier, target, config.eval_perturber, config.eval_steps, evaluation_rng,
                     found.segmentation.labels)
    report(1.0, "done")
    return Explanation(
        image=pixels, target=target, label=class_label(classifier, target), probability=float(probabilities[target]),
        top_classes=top_classes(probabilities, classifier), segmentation=found.segmentation, samples=found.samples,
        outputs=found.outputs, scores=found.scores, segment_map=found.segment_map, pixel_map=found.pixel_map,
        evaluation=evaluation, config=config, seed=seed, model_calls=1 + found.model_calls + 2 * config.eval_steps - 2,
        seconds=time.perf_counter() - started, provenance=classifier.provenance, convergence=found.convergence,
        converged=found.converged,
    )
