"""Similarity benchmark: our DPS spatial metric against the ``lpips`` package, same weights, same run.

    python -m benchmarks.similarity [--json] [--rounds 3] [--nets alex vgg] [--threads 1] [--clock cpu|wall]

For AlexNet and VGG-16 (random init, seed 0, the same state dict copied into both) it measures pairs
per second at 64x64 and 224x224 with batches of 1 and 32 for

* ``lpips``: ``lpips.LPIPS(net, lpips=False, pnet_rand=True)`` called with ``normalize=True`` (inputs in 0..1)
  under ``torch.no_grad``;
* ours, exact: :class:`engine.similarity.DeepPerceptualSimilarity` in float32 under ``torch.inference_mode``;
* ours, fast: the same with ``precision="fast"``: the backbone runs a bfloat16 copy of its weights in
  channels-last layout, the input's normalisation, concatenation and cast are one pass, and pairs go through
  in passes sized to the CPU cache; distances are computed in float32. Only on CPUs with native bfloat16
  (float16 on CUDA); elsewhere it is the float32 path and the script says so.

Timings alternate between the implementations round by round, and each ratio is the median of the
per-round ratios, so load from other processes hits all of them alike. The default clock is the
process's CPU time with one intra-op thread: on a shared machine it counts the work done, not the
time spent waiting for a core (``--clock wall`` for wall time). Each setting also reports the largest
absolute difference between our distances and lpips' (target <= 1e-5), and the fast mode's largest
relative difference (target <= 1e-3) and whether its 2AFC decisions on the synthetic BAPPS fixture
equal the exact mode's. SqueezeNet 1.1 joins the equivalence check (not the timing).

``--json`` prints one JSON object with ``lpips_max_abs_diff`` (per backbone), ``throughput_ratio``
(ours exact / lpips, per setting), ``fast_throughput_ratio``, ``fast_max_rel_diff`` and the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from io import StringIO

import numpy as np
import torch

from engine.backbones import FeatureExtractor
from engine.similarity import lpips_format
from engine.similarity.bapps import find_sets, write_synthetic
from engine.similarity.metric import DeepPerceptualSimilarity, fast_dtype
from engine.similarity.twoafc import evaluate

NETS = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}
SIZES = (64, 224)
BATCHES = (1, 32)
MIN_SECONDS = 0.3  # repeat small calls until one timing covers at least this much


def _pair(net: str) -> tuple[torch.nn.Module, DeepPerceptualSimilarity]:
    import lpips

    torch.manual_seed(0)
    with redirect_stdout(StringIO()):
        theirs = lpips.LPIPS(net=net, pretrained=False, pnet_rand=True, lpips=False, verbose=False).eval()
    extractor = FeatureExtractor(NETS[net], weights="random", seed=0)
    extractor.trunk.load_state_dict(lpips_format.trunk_state(theirs.net.state_dict()))
    return theirs, DeepPerceptualSimilarity(extractor).eval()


def _clock(kind: str) -> Callable[[], float]:
    return time.process_time if kind == "cpu" else time.perf_counter


def _seconds_per_call(call: Callable[[], torch.Tensor], repeats: int, clock: Callable[[], float]) -> float:
    start = clock()
    for _ in range(repeats):
        call()
    return (clock() - start) / repeats


def _measure(calls: dict[str, Callable[[], torch.Tensor]], rounds: int,
             clock: Callable[[], float]) -> dict[str, list[float]]:
    """Seconds per call of each implementation, ``rounds`` alternating rounds after one warm-up call."""
    for call in calls.values():
        call()
    start = clock()
    next(iter(calls.values()))()
    repeats = max(1, int(MIN_SECONDS / max(clock() - start, 1e-4)))
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            times[name].append(_seconds_per_call(call, repeats, clock))
    return times


def _median_ratio(slow: list[float], fast: list[float]) -> float:
    return statistics.median(s / f for s, f in zip(slow, fast))


def _decisions_agree(metric: DeepPerceptualSimilarity, fast: DeepPerceptualSimilarity) -> bool:
    with tempfile.TemporaryDirectory() as folder:
        sets = [s for s in find_sets(write_synthetic(folder, count=12)) if s.kind == "2afc"]
        exact_run, fast_run = evaluate(sets, metric), evaluate(sets, fast)
    for name, columns in exact_run.distances.items():
        exact_choice = np.array(columns["d0"]) < np.array(columns["d1"])
        fast_choice = np.array(fast_run.distances[name]["d0"]) < np.array(fast_run.distances[name]["d1"])
        if not np.array_equal(exact_choice, fast_choice):
            return False
    return True


def run(nets: list[str], rounds: int, clock_kind: str) -> dict[str, object]:
    """Measure every setting; returns the JSON report."""
    clock = _clock(clock_kind)
    start_load = os.getloadavg()[0]  # other processes on the machine: reported with the ratios
    generator = torch.Generator().manual_seed(0)
    report: dict[str, object] = {}
    max_abs: dict[str, float] = {}
    ratio, fast_ratio, fast_rel, throughput, agree = {}, {}, {}, {}, {}
    for net in [*nets, "squeeze"]:
        theirs, ours = _pair(net)
        fast = DeepPerceptualSimilarity(ours.extractor, precision="fast").eval()
        timed = net in nets
        differences = []
        for size in SIZES:
            for batch in BATCHES if timed else (4,):
                x = torch.rand(batch, 3, size, size, generator=generator)
                y = torch.rand(batch, 3, size, size, generator=generator)
                with torch.no_grad():
                    reference = theirs(x, y, normalize=True).flatten()
                with torch.inference_mode():
                    exact_values, fast_values = ours(x, y), fast(x, y)
                differences.append(float((exact_values - reference).abs().max()))
                if not timed:
                    continue
                key = f"{net}_{size}px_batch{batch}"
                fast_rel[key] = float(((fast_values - exact_values).abs() / exact_values.abs()).max())

                def lpips_call(x: torch.Tensor = x, y: torch.Tensor = y) -> torch.Tensor:
                    with torch.no_grad():
                        return theirs(x, y, normalize=True)

                def exact_call(x: torch.Tensor = x, y: torch.Tensor = y) -> torch.Tensor:
                    with torch.inference_mode():
                        return ours(x, y)

                def fast_call(x: torch.Tensor = x, y: torch.Tensor = y) -> torch.Tensor:
                    with torch.inference_mode():
                        return fast(x, y)

                times = _measure({"lpips": lpips_call, "exact": exact_call, "fast": fast_call}, rounds, clock)
                ratio[key] = _median_ratio(times["lpips"], times["exact"])
                fast_ratio[key] = _median_ratio(times["lpips"], times["fast"])
                throughput[key] = {name: batch / statistics.median(values) for name, values in times.items()}
                print(f"{key:24} lpips {throughput[key]['lpips']:8.1f} pairs/s | exact x{ratio[key]:.2f} "
                      f"| fast x{fast_ratio[key]:.2f} | max abs diff {differences[-1]:.1e}", file=sys.stderr)
        max_abs[NETS[net]] = max(differences)
        if timed:
            agree[NETS[net]] = _decisions_agree(ours, fast)
    dtype = fast_dtype("cpu")
    report.update({
        "lpips_max_abs_diff": max_abs,
        "throughput_ratio": ratio,
        "fast_throughput_ratio": fast_ratio,
        "fast_max_rel_diff": max(fast_rel.values()) if fast_rel else None,
        "fast_max_rel_diff_per_setting": fast_rel,
        "fast_identical_2afc_decisions": agree,
        "fast_dtype": str(dtype or torch.float32).replace("torch.", ""),
        "fast_note": ("backbone in bfloat16 (native on this CPU), distances in float32" if dtype else
                      "this CPU has no native bfloat16 (no avx512_bf16/amx_bf16 flag): oneDNN would emulate it "
                      "and run slower, so the fast mode is the float32 path here"),
        "pairs_per_second": throughput,
        "clock": f"{clock_kind} time, {torch.get_num_threads()} intra-op thread(s)",
        "load_average_1min": {"start": start_load, "end": os.getloadavg()[0]},
        "targets": {"throughput_ratio": ">= 1.2", "lpips_max_abs_diff": "<= 1e-5",
                    "fast_throughput_ratio": ">= 2", "fast_max_rel_diff": "<= 1e-3"},
    })
    return report


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.similarity``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.similarity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds per setting (default 3)")
    parser.add_argument("--nets", nargs="+", choices=["alex", "vgg"], default=["alex", "vgg"])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for every implementation (default 1)")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="process CPU time (default) or wall")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    report = run(args.nets, args.rounds, args.clock)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"clock: {report['clock']}; load average {json.dumps(report['load_average_1min'])}; "
              f"fast mode: {report['fast_note']}")
        print(f"{'setting':24} {'ours/lpips':>10} {'fast/lpips':>10} {'fast rel diff':>13}")
        for key, value in report["throughput_ratio"].items():  # type: ignore[attr-defined]
            print(f"{key:24} {value:10.2f} {report['fast_throughput_ratio'][key]:10.2f} "  # type: ignore[index]
                  f"{report['fast_max_rel_diff_per_setting'][key]:13.1e}")  # type: ignore[index]
        print("max |ours - lpips|:", json.dumps(report["lpips_max_abs_diff"]))
        print("fast mode keeps every 2AFC decision:", json.dumps(report["fast_identical_2afc_decisions"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
