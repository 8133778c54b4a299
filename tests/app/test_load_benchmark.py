"""benchmarks.load against the in-process app: concurrent clients, no errors, memory of the server, loopback only."""

from __future__ import annotations

import json
import os
from urllib.parse import urlparse

import pytest

from benchmarks import load


def test_three_clients_exercise_every_endpoint_without_errors(app_url: str) -> None:
    summary = load.run(app_url, clients=3, seconds=2, grace=240)  # each client starts with a different call
    assert summary["errors"] == 0, summary["error_messages"]
    assert set(summary["succeeded"]) == set(load.CALLS)
    assert summary["requests"] == sum(summary["succeeded"].values()) >= 3
    assert 0 < summary["p50_ms"] <= summary["p95_ms"]
    assert summary["rss_mb_max"] > 50  # the server is this test process, found by the port it listens on


def test_the_server_is_found_by_its_port(app_url: str) -> None:
    assert load.listening_pid(load.loopback_port(app_url)) == os.getpid()
    assert load.listening_pid(1) is None  # nobody listens on port 1


@pytest.mark.parametrize("url", ["http://192.0.2.7:7860", "http://[2001:db8::1]:7860", "ftp://127.0.0.1/"])
def test_only_loopback_addresses_are_targeted(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert load.main(["--url", url, "--clients", "1", "--seconds", "1"]) == 2
    assert "error:" in capsys.readouterr().err


def test_json_output_has_exactly_the_contract_keys(app_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    port = urlparse(app_url).port
    assert load.main(["--url", f"http://localhost:{port}", "--clients", "1", "--seconds", "0.5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["requests", "errors", "p50_ms", "p95_ms", "rss_mb_max"]
    assert report["errors"] == 0 and report["requests"] >= 1
