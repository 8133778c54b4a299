"""Perturbation-based explanations of image classifiers (RISE family), after Pihlgren & Främling.

``engine.explain.pipeline.explain(image, classifier, config) -> Explanation`` segments the image,
samples keep/perturb patterns, perturbs, runs the model in batches, attributes per segment, projects
to a per-segment or per-pixel map and scores it with LIF/MIF/SRG. The parts are small configurable
classes collected in catalogs (``segmenters``, ``samplers``, ``perturbers``, ``attributers``);
``pipeline.PRESETS`` names ready-made configurations; ``evaluation`` holds the metrics,
``classifier`` adapts registry models (exact float32, or a bfloat16 fast mode on request),
``model_run`` runs the model once per distinct perturbed image, and ``convergence`` estimates from the
samples' two halves how settled a map is (for "until converged").

This package file imports nothing, so that the command-line entry points (``python -m engine.explain``,
``python -m engine.explain.study``) can configure OpenMP before torch loads.
"""
