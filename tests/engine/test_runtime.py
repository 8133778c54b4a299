"""engine.runtime: every entry point gets the same thread settings before torch starts its threads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import os, torch; print(os.environ['OMP_WAIT_POLICY'], os.environ['OMP_NUM_THREADS'], torch.get_num_threads())"


def settings_after(first_import: str, extra_env: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS",
                                                              "WORKBENCH_THREADS")}
    result = subprocess.run([sys.executable, "-c", f"import {first_import}; {PROBE}"], cwd=ROOT, check=True,
                            capture_output=True, text=True, env={**env, **extra_env}, timeout=120)
    return result.stdout.split()


@pytest.mark.parametrize("entry_point", ["app", "trainers.contexts"])
def test_entry_points_sleep_idle_threads_and_use_the_usable_cores(entry_point: str) -> None:
    from engine.runtime import usable_cores

    cores = str(usable_cores())
    assert settings_after(entry_point, {}) == ["PASSIVE", cores, cores]


def test_thread_count_and_wait_policy_can_be_chosen() -> None:
    assert settings_after("engine", {"WORKBENCH_THREADS": "1"}) == ["PASSIVE", "1", "1"]
    assert settings_after("engine", {"OMP_WAIT_POLICY": "ACTIVE"})[0] == "ACTIVE"
