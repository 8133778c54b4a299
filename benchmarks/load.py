"""Load benchmark: N concurrent gradio_client users of a running Workbench app, for S seconds.

    python -m benchmarks.load --url http://127.0.0.1:7860 --clients 16 --seconds 60 --json

Each client connects on its own and calls, in turn, intent prediction (``/intent_predict``), a
similarity comparison (``/similarity_compare``) and an explanation (``/explain_run``), starting at a
different one per client, until S seconds have passed; calls still running then may finish within
``--grace`` seconds, after which they count as errors. Settings are cheap so that 16 clients are a
realistic load: 64x64 images, MobileNetV2, an explanation of 24 samples on 16 segments. Parameters
are filled from the app's own ``view_api()`` (every default kept, required ones set here), so the
benchmark follows the endpoints as they evolve.

Printed (``--json``: one object): ``requests`` (calls finished), ``errors`` (calls that raised,
timed out or returned an error), ``p50_ms``/``p95_ms`` (latency of the successful calls) and
``rss_mb_max`` (the largest resident memory of the server process, sampled every 0.2 s; the process
is found by the port it listens on, or given with ``--pid``). Error messages go to stderr. Only
loopback addresses may be targeted: this tool loads a server, so it refuses any other host.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from PIL import Image

from engine.errors import InputError, command_line

CALLS = ("/intent_predict", "/similarity_compare", "/explain_run")
SENTENCES = ("How do I upgrade to the latest release?", "my wifi stops working after suspend",
             "where can I find the installer", "the screen stays black after login")
CHEAP_EXPLANATION = {"n_samples": 24, "eval_steps": 2, "batch_size": 24, "segmenter": {"n_segments": 16}}
SAMPLE_EVERY_S = 0.2


def loopback_port(url: str) -> int:
    """The port of ``url``; raises :class:`InputError` unless its host is a loopback address."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError(f"{url!r} is not an http(s) URL such as http://127.0.0.1:7860.")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parsed.hostname, None)}
    except socket.gaierror:
        raise InputError(f"Cannot resolve {parsed.hostname!r}.") from None
    if not all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses):
        raise InputError(f"Refusing to load {parsed.hostname!r}: only loopback addresses (127.0.0.1, ::1, "
                         "localhost) may be targeted.")
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def listening_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` on this machine (Linux ``/proc``), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A = LISTEN
                inodes.add(fields[9])
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            if any(link.readlink().name.removeprefix("socket:[").rstrip("]") in inodes
                   for link in (process / "fd").iterdir()):
                return int(process.name)
        except OSError:  # the process ended or is not ours to read
            continue
    return None


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MiB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class MemoryWatch:
    """Samples a process's resident memory in a background thread; ``peak`` is the largest seen."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.peak: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.pid is not None and not self._stop.is_set():
            value = rss_mb(self.pid)
            if value is not None:
                self.peak = max(self.peak or 0.0, value)
            self._stop.wait(SAMPLE_EVERY_S)

    def __enter__(self) -> "MemoryWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def sample_images(folder: Path) -> tuple[str, str]:
    """Two related 64x64 RGB PNGs (a smooth pattern and a noisier copy)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64] / 63.0
    base = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x * y)], axis=-1)
    paths = []
    for index, noise in enumerate((0.0, 0.08)):
        pixels = np.clip(base + noise * rng.standard_normal(base.shape), 0, 1)
        path = folder / f"load-{index}.png"
        Image.fromarray((pixels * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths[0], paths[1]


def _cheap_config(default: object) -> str | None:
    """The explanation settings text with fewer samples and segments (None if the default is not JSON)."""
    try:
        config = json.loads(str(default))
    except ValueError:
        return None
    for key, value in CHEAP_EXPLANATION.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        elif key in config:
            config[key] = value
    return json.dumps(config)


def call_arguments(api: dict[str, Any], images: tuple[str, str], sentence: str) -> dict[str, dict[str, Any]]:
    """Keyword arguments for each call in :data:`CALLS`: the app's defaults, plus inputs and cheap settings."""
    from gradio_client import handle_file

    chosen = {"path": handle_file(images[0]), "path_a": handle_file(images[0]), "path_b": handle_file(images[1]),
              "sentence": sentence}
    arguments = {}
    for name in CALLS:
        if name not in api:
            raise InputError(f"The app has no endpoint {name}; is this a Workbench app?")
        values: dict[str, Any] = {}
        for parameter in api[name]["parameters"]:
            key = parameter["parameter_name"]
            values[key] = chosen.get(key, parameter["parameter_default"])
            if key.startswith("config") and (cheap := _cheap_config(parameter["parameter_default"])) is not None:
                values[key] = cheap
        arguments[name] = values
    return arguments


@dataclass
class Tally:
    """What the clients saw, shared between their threads."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    succeeded: Counter[str] = field(default_factory=Counter)  # successful calls per endpoint
    lock: threading.Lock = field(default_factory=threading.Lock)

    def success(self, name: str, latency_ms: float) -> None:
        with self.lock:
            self.latencies_ms.append(latency_ms)
            self.succeeded[name] += 1

    def failure(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def run_client(url: str, index: int, stop_at: float, give_up_at: float, images: tuple[str, str],
               tally: Tally) -> None:
    """One user: its own connection, calls in turn until ``stop_at``; a call still running at
    ``give_up_at`` is cancelled and counted as an error."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, download_files=False)
        arguments = call_arguments(client.view_api(print_info=False, return_format="dict")["named_endpoints"],
                                   images, SENTENCES[index % len(SENTENCES)])
    except Exception as error:  # the connection itself failed: one error for this client
        tally.failure(f"client {index} could not connect: {type(error).__name__}: {error}")
        return
    step = index
    while time.monotonic() < stop_at:
        name = CALLS[step % len(CALLS)]
        step += 1
        start = time.monotonic()
        job = client.submit(api_name=name, **arguments[name])
        try:
            job.result(timeout=max(0.1, give_up_at - start))
            tally.success(name, (time.monotonic() - start) * 1000)
        except Exception as error:  # AppError, timeout, connection loss: all are failed requests
            job.cancel()
            tally.failure(f"{name}: {type(error).__name__}: {str(error)[:300]}")
    client.close()


def run(url: str, clients: int, seconds: float, grace: float, pid: int | None = None) -> dict[str, Any]:
    """Drive the app at ``url`` with ``clients`` concurrent users for ``seconds``.

    Returns the printed summary plus ``succeeded`` (successful calls per endpoint) and ``error_messages``.
    """
    port = loopback_port(url)
    pid = pid if pid is not None else listening_pid(port)
    tally = Tally()
    with tempfile.TemporaryDirectory() as folder, MemoryWatch(pid) as memory:
        images = sample_images(Path(folder))
        stop_at = time.monotonic() + seconds
        threads = [threading.Thread(target=run_client, args=(url, index, stop_at, stop_at + grace, images, tally),
                                    daemon=True) for index in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, stop_at + grace + 10 - time.monotonic()))
        for thread in threads:
            if thread.is_alive():
                tally.failure("a client did not finish within the grace period")
    with tally.lock:
        latencies, errors, succeeded = list(tally.latencies_ms), list(tally.errors), dict(tally.succeeded)
    return {
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1) if latencies else None,
        "p95_ms": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
        "rss_mb_max": round(memory.peak, 1) if memory.peak is not None else None,
        "succeeded": succeeded,
        "error_messages": errors,
    }


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.load``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True,
                        help="the running app, on a loopback address (e.g. http://127.0.0.1:7860)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long clients keep calling (default 60)")
    parser.add_argument("--grace", type=float, default=180.0,
                        help="seconds a call still running at the end may take before it counts as an error")
    parser.add_argument("--pid", type=int, default=None, help="the server's process id (default: found by port)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 256 or not 0 < args.seconds <= 3600 or args.grace < 0:
        raise InputError("Use 1 to 256 clients, 0 to 3600 seconds and a non-negative grace period.")
    summary = run(args.url, args.clients, args.seconds, args.grace, args.pid)
    for message in sorted(set(summary["error_messages"]))[:20]:
        print(f"error: {message}", file=sys.stderr)
    report = {key: summary[key] for key in ("requests", "errors", "p50_ms", "p95_ms", "rss_mb_max")}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.clients} clients, {args.seconds:g} s against {args.url}: " +
              ", ".join(f"{key} {value}" for key, value in report.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
