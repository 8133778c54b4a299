"""Attributers: per-segment scores from model outputs and samples (spec section 1.5).

``attributer(outputs [N], samples [N, M]) -> float64 [M]``: ``outputs`` are the explained class's
scores for the N perturbed images, ``samples`` say which segments each image kept (1 = kept). For
every attributer a higher score means the segment supports the class more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.explain.params import Catalog, Component, ConfigError, choice, flag, number
from engine.explain.samplers import kernel_mass

IMAGENET_TRAIN_IMAGES = 1_281_167  # Laplace correction of PDA's log modes: (p n + 1) / (n + classes)
IMAGENET_CLASSES = 1000
ENDPOINT_WEIGHT = 1e5  # Kernel SHAP's stand-in for the infinite weight of the all/none rows


class IncompatibleSamples(ConfigError):
    """The attributer cannot use these samples (e.g. CIU needs single-feature samples)."""


class Attributer(Component):
    """Base class: ``attributer(outputs [N], samples [N, M]) -> scores [M]``."""

    def __call__(self, outputs: np.ndarray, samples: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _unperturbed_output(outputs: np.ndarray, samples: np.ndarray) -> float:
    """f(x) from the rows that kept everything, or 0 when there are none (a constant shift of the scores)."""
    rows = samples.min(axis=1) == 1
    return float(outputs[rows].mean()) if rows.any() else 0.0


@dataclass(frozen=True)
class RiseAttributer(Attributer):
    """RISE: the mean output over the samples that kept the segment, ``sum_n z_nm y_n / sum_n z_nm``."""

    NAME = "rise"
    TITLE = "RISE (conditional mean)"

    def __call__(self, outputs: np.ndarray, samples: np.ndarray) -> np.ndarray:
        kept = samples.sum(axis=0, dtype=np.float64)
        totals = outputs.astype(np.float64) @ samples
        return np.where(kept > 0, totals / np.maximum(kept, 1e-12), outputs.mean())


@dataclass(frozen=True)
class LinearLimeAttributer(Attributer):
    """LIME as the paper runs it: unweighted, unregularised least squares of y on [z, 1]."""

    NAME = "lime-ls"
    TITLE = "LIME (least squares)"

    def __call__(self, outputs: np.ndarray, samples: np.ndarray) -> np.ndarray:
        design = np.column_stack([samples.astype(np.float64), np.ones(len(samples))])
        return np.linalg.lstsq(design, outputs.astype(np.float64), rcond=None)[0][:-1]


@dataclass(frozen=True)
class LimeAttributer(Attributer):
    """The lime package's default: ridge regression weighted by an exponential kernel on cosine distance."""

    NAME = "lime"
    TITLE = "LIME (kernel + ridge)"
    kernel_width: float = number(0.25, 0.01, 10.0, "Kernel width", "of sqrt(exp(-d^2 / width^2))")
    alpha: float = number(1.0, 0.0, 1000.0, "Ridge alpha")

    def __call__(self, outputs: np.ndarray, samples: np.ndarray) -> np.ndarray:
        z = samples.astype(np.float64)
        norms = np.linalg.norm(z, axis=1) * np.sqrt(z.shape[1])
        distance = 1.0 - np.divide(z.sum(axis=1), norms, out=np.zeros(len(z)), where=norms > 0)
        weights = np.sqrt(np.exp(-(distance**2) / self.kernel_width**2))
        from sklearn.linear_model import Ridge  # here: sklearn takes seconds to import

        model = Ridge(alpha=self.alpha).fit(z, outputs.astype(np.float64), sample_weight=weights)
        return np.asarray(model.coef_, dtype=np.float64)


@dataclass(frozen=True)
class KernelShapAttributer(Attributer):
    """Kernel SHAP: Shapley-kernel weighted least squares of y on [z, 1].

    Each size group s (kept segments) carries the kernel's total weight ``(M-1)/(s(M-s))``, shared by
    the rows of that size; for complete groups this is exactly the per-row weight
    ``(M-1)/(C(M,s) s (M-s))``. With both the all-kept and the none-kept row present, the efficiency
    constraint (scores sum to f(x) - f(empty)) is imposed exactly; otherwise those rows get a large weight.
    """

    NAME = "kernel-shap"
    TITLE = "Kernel SHAP"

    def __call__(self, outputs: np.ndarray, samples: np.ndarray) -> np.ndarray:
        z = samples.astype(np.float64)
        y = outputs.astype(np.float64)
        m = z.shape[1]
        kept = z.sum(axis=1)
        full, empty = kept == m, kept == 0
        inner = ~(full | empty)
        sizes, group, counts = np.unique(kept[inner], return_inverse=True, return_counts=True)
        weights = kernel_mass(m, sizes)[group] / counts[group]
        if full.any() and empty.any():
            base = y[empty].mean()
            total = y[full].mean() - base
            if m == 1 or not inner.any():
                return np.full(m, total / m)
            # Substitute phi_last = total - sum(others) and solve for the others.
            design = z[inner, :-1] - z[inner, -1:]
            target = y[inner] - base - z[inner, -1] * total
            root = np.sqrt(weights)
            rest = np.linalg.lstsq(design * root[:, None], target * root, rcond=None)[0]
            return np.append(rest, total - rest.sum())
        all_weights = np.full(len(y), ENDPOINT_WEIGHT * (weights.max() if len(weights) else 1.0))
        all_weights[inner] = weights
        root = np.sqrt(all_weights)
        design = np.column_stack([z, np.ones(len(z))])
        return np.linalg.lstsq(design * root[:, None], y * root, rcond=None)[0][:-1]


@dataclass(frozen=True)
class PdaAttributer(Attributer):
    """Prediction difference analysis for multi-segment perturbations: f(x) minus the mean when m is perturbed."""

    NAME = "pda"
    TITLE = "PDA (prediction difference)"
    mode: str = choice("probdiff", ["probdiff", "infodiff", "evidence"], "Difference of",
                       "probabilities, log2 probabilities or log2 odds (Laplace-corrected)")
    divide_weight: bool = flag(False, "Divide weight", "weight each sample by 1 / number of perturbed segments")

    def _transform(self, probability: np.ndarray | float) -> np.ndarray:
        if self.mode == "probdiff":
            return np.asarray(probability, dtype=np.float64)
        corrected = (np.asarray(probability) * IMAGENET_TRAIN_IMAGES + 1) / (IMAGENET_TRAIN_IMAGES + IMAGENET_CLASSES)
        return np.log2(corrected) if self.mode == "infodiff" else np.log2(corrected / (1 - corrected))

    def __call__(self, outputs: np.ndarray, samples: np.ndarray) -> np.ndarray:
        y = outputs.astype(np.float64)
        if y.max() > 1:
            y = y / y.max()
        perturbed = 1.0 - samples.astype(np.float64)
        if self.divide_weight:
            perturbed /= np.maximum(perturbed.sum(axis=1, keepdims=True), 1.0)
        mass = perturbed.sum(axis=0)
        unperturbed = _unperturbed_output(y, samples)
        mean_when_perturbed = np.where(mass > 0, (y @ perturbed) / np.maximum(mass, 1e-12), unperturbed)
        return self._transform(unperturbed) - self._transform(mean_when_perturbed)


@dataclass(frozen=True)
class CiuAttributer(Attributer):
    """Contextual importance and utility (Främling), influence = CI x (CU - 0.5), from single-feature samples.

    Uses rows that perturb exactly one segment (with ``inverse``: keep exactly one) plus the reference
    row (all kept; with ``inverse``: none kept), taken as 0 when absent.
    """

    NAME = "ciu"
    TITLE = "CIU"
    inverse: bool = flag(False, "Inverse", "context is the fully perturbed image; needs rows keeping one segment")

    def __call__(self, outputs: np.ndarray, samples: np.ndarray) -> np.ndarray:
        y = outputs.astype(np.float64)
        m = samples.shape[1]
        changed = samples.sum(axis=1) if self.inverse else m - samples.sum(axis=1)
        if not np.isin(changed, (0, 1, m)).all():
            kind = "keep exactly one segment" if self.inverse else "perturb exactly one segment"
            raise IncompatibleSamples(f"CIU{' (inverse)' if self.inverse else ''} needs samples that {kind}; "
                                      f"use the single-feature sampler{' with inverse' if self.inverse else ''}.")
        reference_rows = changed == 0
        reference = float(y[reference_rows].mean()) if reference_rows.any() else 0.0
        single = changed == 1
        varied = samples[single] if self.inverse else 1 - samples[single]
        counts = varied.sum(axis=0)
        value = np.where(counts > 0, (y[single] @ varied) / np.maximum(counts, 1), reference)
        span = y.max() - y.min()
        if span <= 0:
            return np.zeros(m)
        importance = np.abs(value - reference) / span
        current, other = (value, reference) if self.inverse else (reference, value)
        utility = np.where(current > other, 1.0, np.where(current < other, 0.0, 0.5))
        return importance * (utility - 0.5)


ATTRIBUTERS: Catalog[Attributer] = Catalog(
    "attributer", [RiseAttributer, LinearLimeAttributer, LimeAttributer, KernelShapAttributer, PdaAttributer,
                   CiuAttributer]
)
