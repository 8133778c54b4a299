"""Reading checkpoints in the layout of the ``lpips`` package (without depending on it).

LPIPS stores its trunk as ``net.slice{k}.{index}.{param}``, where ``index`` is the module's index
in torchvision's ``features`` (the slices only group them), and its calibrated heads as
``lin{k}.model.{0|1}.weight`` (``[1, C, 1, 1]``; ``1`` when dropout precedes the convolution).
"""

from __future__ import annotations

import re

import torch

_TRUNK_KEY = re.compile(r"^(?:net\.)?slice\d+\.(\d+\..+)$")


def trunk_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The torchvision ``features`` state dict inside an LPIPS trunk state (``net.sliceK.I.weight -> I.weight``).

    Keys that are not trunk parameters (heads, scaling buffers) are left out.
    """
    converted = {}
    for key, value in state.items():
        match = _TRUNK_KEY.match(key)
        if match:
            converted[match.group(1)] = value
    return converted


def head_vectors(state: dict[str, torch.Tensor], count: int) -> list[torch.Tensor] | None:
    """The first ``count`` LPIPS heads as flat per-channel vectors, or None if one is missing."""
    vectors = []
    for index in range(count):
        found = next((state[key] for key in (f"lin{index}.model.1.weight", f"lin{index}.model.0.weight")
                      if key in state), None)
        if found is None:
            return None
        vectors.append(found.detach().float().flatten())
    return vectors
