"""Process settings for the explanation command lines; import this before torch."""

from __future__ import annotations

import os


def configure_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spinning (unless the user chose otherwise).

    On a small machine shared with other processes, spinning threads wait for a core that is busy
    elsewhere: measured here, MobileNetV2 on 2 threads fell from ~22 to ~2 images/s under load. It
    only takes effect when set before torch is imported, hence a function for the entry points.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
