"""Classifiers as the explainer sees them: images ``float32 [B, H, W, 3]`` in 0..1 in, scores ``[B, classes]`` out.

:class:`TorchClassifier` wraps any image classifier from :mod:`engine.registry`: it normalises with the
model's own input spec (perturbation happens before, in 0..1), runs batches under
``torch.inference_mode`` and returns softmax probabilities, the paper's output. It computes in exact
float32 unless asked for the bfloat16 fast mode (:func:`at_precision`), so a seeded result does not
depend on the processor. On the CPU it runs a frozen TorchScript copy of the network (convolution and
batch norm folded, oneDNN kernels), which gives the same outputs to ~1e-5 and runs 1.5-2x faster
(benchmarks/explain.py). The bfloat16 fast mode runs a frozen copy with bfloat16 weights on the CPU (the
fastest bfloat16 variant measured; eager autocast was slower than the frozen float32 copy) and autocast
on a GPU; on a CPU without native bfloat16 instructions (AVX512-BF16 or AMX) it would be emulated and
slower, so there it stays in float32 and says so in the provenance.
:class:`FunctionClassifier` wraps a plain NumPy function (toy models, tests).
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from engine.errors import WorkbenchError
from engine.registry import InputSpec, Registry

PRECISIONS = ("float32", "bfloat16")


class Classifier(Protocol):
    """What the explainer needs from a model."""

    labels: Sequence[str]
    input_size: tuple[int, int] | None  # (height, width) the model expects; None = any
    provenance: str

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Scores ``[B, classes]`` for images ``float32 [B, H, W, 3]`` in 0..1."""
        ...


@dataclass
class FunctionClassifier:
    """A classifier made from a NumPy function ``images [B, H, W, 3] -> scores [B, classes]``."""

    function: Callable[[np.ndarray], np.ndarray]
    labels: Sequence[str]
    input_size: tuple[int, int] | None = None
    provenance: str = "NumPy function"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.function(images), dtype=np.float64)


@lru_cache(maxsize=1)
def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (avx512_bf16 or amx_bf16 in /proc/cpuinfo)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


Forward = Callable[[torch.Tensor], torch.Tensor]
_frozen: weakref.WeakKeyDictionary[nn.Module, dict[bool, Forward]] = weakref.WeakKeyDictionary()
_frozen_lock = threading.Lock()


def inference_module(module: nn.Module, bfloat16: bool = False) -> Forward:
    """A frozen, inference-optimised TorchScript copy of ``module`` (built once per module and precision), or
    the module itself where TorchScript cannot handle it. With ``bfloat16`` the copy has bfloat16 weights and
    takes float32 inputs (cast on the way in); outputs are then bfloat16."""
    with _frozen_lock:
        copies = _frozen.setdefault(module, {})
        if bfloat16 not in copies:
            copies[bfloat16] = _freeze(module, bfloat16)
        return copies[bfloat16]


def _freeze(module: nn.Module, bfloat16: bool) -> Forward:
    try:
        with torch.inference_mode():
            source = copy.deepcopy(module).to(torch.bfloat16).eval() if bfloat16 else module.eval()
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(source)))
    except Exception:  # not scriptable: eager is correct, only slower
        if not bfloat16:
            return module

        def autocast(inputs: torch.Tensor) -> torch.Tensor:
            with torch.autocast(inputs.device.type, dtype=torch.bfloat16):
                return module(inputs)

        return autocast
    return (lambda inputs: frozen(inputs.to(torch.bfloat16))) if bfloat16 else frozen


class TorchClassifier:
    """A torch image classifier returning softmax probabilities ``float32 [B, classes]``."""

    def __init__(self, module: nn.Module, input_spec: InputSpec, labels: Sequence[str], provenance: str,
                 batch_size: int | None = None, optimise: bool = True, bfloat16: bool = False) -> None:
        """
        Args:
            module: the network, in eval mode, on the configured device.
            input_spec: size and normalisation the network expects.
            labels: class names, one per output.
            provenance: where the weights came from (shown with every result).
            batch_size: images per forward pass; default 4 on the CPU (measured fastest for MobileNetV2
                on this project's 2-core machines: larger batches fall out of cache) and 64 on a GPU.
            optimise: run a frozen TorchScript copy (CPU only).
            bfloat16: the fast mode: bfloat16 weights and activations (on a CPU only with native bfloat16; see
                the module docstring).
        """
        self.module = module
        self.labels = list(labels)
        self.input_size = input_spec.size
        self.model_provenance = provenance
        self.device = next(module.parameters()).device
        on_cpu = self.device.type == "cpu"
        self.batch_size = batch_size or (4 if on_cpu else 64)
        self.optimise = optimise
        self.requested_bfloat16 = bfloat16
        self.bfloat16 = bfloat16 and (native_bfloat16() or not on_cpu)
        self.inference = inference_module(module, self.bfloat16) if optimise and on_cpu else module
        self._autocast = self.bfloat16 and self.inference is module  # eager network (GPU, or not optimised)
        self._input_spec = input_spec
        self._mean = torch.tensor(input_spec.mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(input_spec.std, device=self.device).view(1, 3, 1, 1)

    @property
    def provenance(self) -> str:
        """Where the weights came from, and the arithmetic (bfloat16 fast mode or float32)."""
        if self.bfloat16:
            return f"{self.model_provenance} · bfloat16 fast mode"
        if self.requested_bfloat16:
            return f"{self.model_provenance} · float32 (bfloat16 asked for, but this CPU has no native bfloat16)"
        return self.model_provenance

    def at_precision(self, bfloat16: bool) -> TorchClassifier:
        """This classifier computing in exact float32 or in the bfloat16 fast mode (itself if unchanged)."""
        if bfloat16 == self.requested_bfloat16:
            return self
        return TorchClassifier(self.module, self._input_spec, self.labels, self.model_provenance, self.batch_size,
                               self.optimise, bfloat16)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        outputs = []
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._autocast):
            for start in range(0, len(images), self.batch_size):
                chunk = torch.from_numpy(np.asarray(images[start:start + self.batch_size], np.float32))
                pixels = chunk.to(self.device).permute(0, 3, 1, 2)
                logits = self.inference((pixels - self._mean) / self._std)
                outputs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.labels)), np.float32)


def at_precision(classifier: Classifier, precision: str) -> Classifier:
    """``classifier`` computing in ``precision`` (one of :data:`PRECISIONS`).

    Raises:
        WorkbenchError: the bfloat16 fast mode asked of a model that is not a torch network.
    """
    if isinstance(classifier, TorchClassifier):
        return classifier.at_precision(precision == "bfloat16")
    if precision == "bfloat16":
        raise WorkbenchError(f"The bfloat16 fast mode needs a torch network; {classifier.provenance} computes in "
                             "its own precision. Choose float32.")
    return classifier


def from_registry(registry: Registry, name: str) -> TorchClassifier:
    """The registry's model ``name`` as a classifier (loads it on first use).

    Raises:
        WorkbenchError: unknown name, missing weights (with how to add them), or not an image classifier.
    """
    spec = registry.spec(name)
    if spec.task != "image-classification" or spec.input_spec.kind != "image":
        raise WorkbenchError(f"{name!r} is a {spec.task} model; choose an image classifier.")
    loaded = registry.get(name)
    if not isinstance(loaded.model, nn.Module):
        raise WorkbenchError(f"{name!r} is not a torch network; it cannot be explained here.")
    return TorchClassifier(loaded.model, spec.input_spec, spec.labels, loaded.provenance)
