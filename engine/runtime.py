"""Process-wide runtime settings, applied once before torch starts its threads.

``import engine`` calls :func:`configure`, so the app, every CLI, benchmark and test gets the same
settings without each entry point repeating them (they must be in the environment before torch is
imported: OpenMP reads them once).

- ``OMP_WAIT_POLICY=PASSIVE``: idle OpenMP threads sleep instead of spinning. On a small machine
  shared with other processes, spinning threads wait for a core that is busy elsewhere; measured on
  2 cores with one other busy process, an explanation in the app took 67-87 s instead of 5 s.
- Intra-op threads: the number of cores this process may use (its CPU affinity), at most
  ``WORKBENCH_THREADS`` when set. One user's request then never oversubscribes the machine.
- At most 4 glibc malloc arenas: the app's many worker threads otherwise each keep their own heap,
  and memory freed after a request stays resident (see :func:`release_memory`).

A value the user already set in the environment is kept.
"""

from __future__ import annotations

import os

THREADS_ENV = "WORKBENCH_THREADS"
M_ARENA_MAX = -8  # glibc's mallopt parameter number
MAX_ARENAS = 4


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask; all cores where that is unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_count() -> int:
    """Intra-op threads to use: ``WORKBENCH_THREADS`` if set, else the usable cores."""
    requested = os.environ.get(THREADS_ENV, "")
    return max(1, int(requested)) if requested.isdigit() else usable_cores()


def configure() -> None:
    """Set the OpenMP environment (before torch is imported) and torch's thread count (if it is)."""
    import sys

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OMP_NUM_THREADS", str(thread_count()))
    _glibc("mallopt", M_ARENA_MAX, MAX_ARENAS)
    if "torch" in sys.modules:  # imported before engine: OpenMP already read its settings, threads can still be set
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def release_memory() -> None:
    """Give freed heap memory back to the operating system (glibc only; a no-op elsewhere).

    After a large request (a 12000-pixel image, eight clients at once) glibc keeps the freed memory in
    its per-thread arenas, so the resident size stays at its peak; trimming returns it.
    """
    _glibc("malloc_trim", 0)


def _glibc(function: str, *arguments: int) -> None:
    """Call a glibc allocator function; silently nothing on other C libraries."""
    try:
        import ctypes

        getattr(ctypes.CDLL("libc.so.6"), function)(*arguments)
    except (OSError, AttributeError):
        pass
