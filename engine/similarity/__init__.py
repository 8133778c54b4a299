"""Deep perceptual similarity: DPS metrics, the flaw suite and 2AFC evaluation.

The simplest call::

    from engine.similarity import MetricConfig, build_metric, compare
    metric = build_metric(MetricConfig(backbone="mobilenet_v2", comparison="spatial+sort"))
    result = compare(image_a, image_b, metric)   # images float32 [H, W, 3] in 0..1
    result.distance, result.per_entry, result.map

Images are RGB in 0..1; ImageNet normalisation happens inside. ``metric(x, y)`` on tensors
``[B, 3, H, W]`` is differentiable and can serve as a loss. See :mod:`engine.similarity.metric` for
the definitions, :mod:`engine.similarity.flaws` for the challenge images and
:mod:`engine.similarity.twoafc` for BAPPS-style scores. CLIs: ``python -m engine.similarity
compare A B`` and ``python -m engine.similarity.twoafc DIR``.
"""

from engine.similarity.compare import SimilarityResult, compare, inspect_layer
from engine.similarity.metric import (
    COMPARISONS,
    DeepPerceptualSimilarity,
    Distances,
    Embedding,
    LinearHeads,
    MetricConfig,
    build_metric,
)

__all__ = [
    "COMPARISONS", "DeepPerceptualSimilarity", "Distances", "Embedding", "LinearHeads", "MetricConfig",
    "SimilarityResult", "build_metric", "compare", "inspect_layer",
]
