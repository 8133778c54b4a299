"""Running the model on perturbed images: batch by batch, once per distinct perturbation.

:class:`ModelRun` takes samples as they are drawn and records the explained class's output for each.
When a sample repeats and the perturbed image would be the same (no random shift, no random
perturber), the earlier output is reused instead of a second forward pass. With RISE's random shift it
also keeps the running sums that give per-pixel RISE, separately for each split half.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.explain.classifier import Classifier
from engine.explain.perturbers import Perturber
from engine.explain.samplers import BOTH
from engine.explain.segmenters import MaskBuilder

Progress = Callable[[int, str], None]  # (perturbed images run so far, what is happening)
HALVES = (0, 1, BOTH)


class ModelRun:
    """The ``target`` output for every sample so far (``outputs`` ``float64 [N]``) and the forward passes spent.

    With a random shift, ``weighted_masks`` and ``mask_totals`` (``[3, H, W]``: half 0, half 1, rows in
    both) hold ``sum_n y_n mask_n`` and ``sum_n mask_n``, from which :meth:`rise_pixel_map` gives original RISE.
    """

    def __init__(self, image: np.ndarray, masks: MaskBuilder, labels: np.ndarray, classifier: Classifier,
                 target: int, perturber: Perturber, batch_size: int, rng: np.random.Generator) -> None:
        """
        Args:
            image: the model-sized image ``float32 [H, W, 3]`` in 0..1.
            masks: builds the perturbation masks of a batch of samples.
            labels: the image's segments ``[H, W]`` (for perturbers that fill segments).
            classifier: the model; ``target`` is the class whose output is recorded.
            perturber: what perturbed pixels become.
            batch_size: perturbed images built at a time.
            rng: draws random shifts and random replacements.
        """
        self.image, self.masks, self.labels, self.classifier = image, masks, labels, classifier
        self.target, self.perturber, self.batch_size, self.rng = target, perturber, batch_size, rng
        self.outputs = np.zeros(0, dtype=np.float64)
        self.model_calls = 0
        self._seen: dict[bytes, float] | None = None if masks.shifts or perturber.random else {}
        self.weighted_masks = np.zeros((3, *image.shape[:2])) if masks.shifts else None
        self.mask_totals = np.zeros((3, *image.shape[:2])) if masks.shifts else None

    def extend(self, samples: np.ndarray, halves: np.ndarray | None = None, groups: np.ndarray | None = None,
               progress: Progress | None = None) -> None:
        """Run the model for new ``samples`` ``uint8 [B, M]`` with split-half labels ``halves`` (default: both)
        and shift groups ``groups`` (default: one per sample)."""
        halves = np.full(len(samples), BOTH, np.int8) if halves is None else np.asarray(halves)
        outputs = np.empty(len(samples), dtype=np.float64)
        keys = [row.tobytes() for row in samples] if self._seen is not None else []
        if self._seen is None:
            todo = np.arange(len(samples))
        else:  # the first occurrence of every sample not run before
            first: dict[bytes, int] = {}
            for index, key in enumerate(keys):
                if key not in self._seen:
                    first.setdefault(key, index)
            todo = np.fromiter(first.values(), dtype=np.int64, count=len(first))
        for start in range(0, len(todo), self.batch_size):
            chosen = todo[start:start + self.batch_size]
            batch = self.masks(samples[chosen], self.rng, None if groups is None else groups[chosen])
            scores = self.classifier(self.perturber(self.image, batch, self.rng, self.labels))[:, self.target]
            outputs[chosen] = scores
            if self._seen is not None:
                self._seen.update((keys[index], float(score)) for index, score in zip(chosen, scores))
            if self.weighted_masks is not None and self.mask_totals is not None:
                slots = (halves[chosen][None, :] == np.array(HALVES)[:, None]).astype(np.float32)  # [3, B] one-hot
                self.weighted_masks += np.tensordot(slots * scores[None, :].astype(np.float32), batch, axes=1)
                self.mask_totals += np.tensordot(slots, batch, axes=1)
            self.model_calls += len(chosen)
            if progress:
                progress(len(self.outputs) + int(chosen[-1]) + 1, f"model on {self.model_calls} perturbed images")
        if self._seen is not None:
            outputs = np.array([self._seen[key] for key in keys], dtype=np.float64)
        self.outputs = np.concatenate([self.outputs, outputs])

    def rise_pixel_map(self, half: int | None = None) -> np.ndarray:
        """Original RISE, ``sum_n y_n M_n(p) / sum_n M_n(p)``, over all samples or over one ``half``
        (0 or 1, with the rows in both); needs a run with a random shift."""
        assert self.weighted_masks is not None and self.mask_totals is not None
        slots = [0, 1, 2] if half is None else [half, 2]
        return self.weighted_masks[slots].sum(axis=0) / np.maximum(self.mask_totals[slots].sum(axis=0), 1e-12)


def run_model(image: np.ndarray, masks: MaskBuilder, labels: np.ndarray, samples: np.ndarray,
              classifier: Classifier, target: int, perturber: Perturber, batch_size: int,
              rng: np.random.Generator) -> ModelRun:
    """The model's ``target`` output for every one of a fixed set of ``samples`` ``uint8 [N, M]``."""
    run = ModelRun(image, masks, labels, classifier, target, perturber, batch_size, rng)
    run.extend(samples)
    return run
