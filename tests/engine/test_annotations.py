"""engine.annotations: durable, append-only, concurrent-safe, exportable."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.annotations import AnnotationStore, content_hash
from engine.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def store(tmp_path: Path) -> AnnotationStore:
    return AnnotationStore(tmp_path / "annotations.sqlite")


def test_add_then_read_back(store: AnnotationStore) -> None:
    saved = store.add("intent", content_hash("book a train"), {"intent": "FindConnection"}, "ada",
                      source="chatbot", payload={"text": "book a train"}, lead_time_s=1.5)
    [read] = store.annotations("intent")
    assert read == saved
    assert read.label == {"intent": "FindConnection"} and read.payload == {"text": "book a train"}
    assert read.annotator == "ada" and read.lead_time_s == 1.5 and not read.undone


def test_content_hash_is_stable_and_shape_aware() -> None:
    assert content_hash("abc") == content_hash(b"abc")
    flat = np.zeros(6, dtype=np.uint8)
    assert content_hash(flat) == content_hash(np.zeros(6, dtype=np.uint8))
    assert content_hash(flat) != content_hash(flat.reshape(2, 3))


def test_undo_marks_latest_of_that_annotator_only(store: AnnotationStore) -> None:
    store.add("t", "item1", "a", "ada")
    store.add("t", "item2", "b", "ada")
    store.add("t", "item3", "c", "bob")
    undone = store.undo("t", "ada")
    assert undone is not None and undone.content_hash == "item2" and undone.undone
    assert [a.label for a in store.annotations("t")] == ["a", "c"]
    assert len(store.annotations("t", include_undone=True)) == 3  # nothing is deleted
    store.undo("t", "ada")
    assert store.undo("t", "ada") is None
    assert [a.annotator for a in store.annotations("t")] == ["bob"]


def test_relabel_supersedes_but_annotators_stay_separate(store: AnnotationStore) -> None:
    store.add("t", "x", "cat", "ada")
    store.add("t", "x", "dog", "bob")
    store.add("t", "x", "fox", "ada")
    current = {a.annotator: a.label for a in store.current_labels("t")}
    assert current == {"ada": "fox", "bob": "dog"}
    [count] = store.counts()
    assert (count.task, count.items, count.annotations, count.annotators, count.undone) == ("t", 1, 3, 2, 0)


def test_bad_input_is_refused_without_writing(store: AnnotationStore) -> None:
    with pytest.raises(InputError, match="annotator"):
        store.add("t", "x", "label", "  ")
    with pytest.raises(InputError, match="JSON"):
        store.add("t", "x", {1, 2}, "ada")
    assert store.annotations(include_undone=True) == []


def _write_many(path: str, annotator: str, count: int) -> None:
    target = AnnotationStore(path)
    for index in range(count):
        target.add("race", f"item{index % 7}", index, annotator)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    AnnotationStore(path)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, f"annotator{n}", 60)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    rows = AnnotationStore(path).annotations("race")
    assert len(rows) == 240 and len({r.uid for r in rows}) == 240
    for n in range(4):
        assert sorted(r.label for r in rows if r.annotator == f"annotator{n}") == list(range(60))


def test_sigkill_mid_stream_loses_no_acknowledged_row(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    writer = textwrap.dedent(f"""
        import sys
        from engine.annotations import AnnotationStore
        store = AnnotationStore({str(path)!r})
        for index in range(100000):
            saved = store.add("stream", f"item{{index}}", index, "writer")
            print(saved.uid, flush=True)  # acknowledged only after add() returned
    """)
    process = subprocess.Popen([sys.executable, "-c", writer], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    acknowledged = []
    assert process.stdout is not None
    for line in process.stdout:
        acknowledged.append(line.strip())
        if len(acknowledged) == 150:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    stored = {a.uid for a in AnnotationStore(path).annotations("stream")}
    assert set(acknowledged) <= stored


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_import_round_trip(store: AnnotationStore, tmp_path: Path, fmt: str) -> None:
    store.add("sim", "h1", {"choice": "p1"}, "ada", source="a.png", payload={"order": [1, 0]}, lead_time_s=0.8)
    store.add("sim", "h2", "p0", "bob", source="ü, \"quoted\"\nnewline")
    store.add("intent", "h3", "None", "ada")
    store.undo("intent", "ada")
    exported = tmp_path / f"export.{fmt}"
    assert store.export(exported, fmt) == 3
    fresh = AnnotationStore(tmp_path / "fresh.sqlite")
    assert fresh.import_file(exported).added == 3
    key = lambda a: a.uid  # noqa: E731
    original = sorted((a.to_record() for a in store.annotations(include_undone=True)), key=lambda r: r["uid"])
    copied = sorted((a.to_record() for a in fresh.annotations(include_undone=True)), key=lambda r: r["uid"])
    assert copied == original
    again = fresh.import_file(exported)
    assert (again.added, again.skipped) == (0, 3)
    assert sorted(map(key, fresh.annotations(include_undone=True))) == sorted(map(key, store.annotations(
        include_undone=True)))


def test_import_reports_bad_line_and_imports_nothing(store: AnnotationStore, tmp_path: Path) -> None:
    store.add("t", "h", "ok", "ada")
    good = tmp_path / "good.jsonl"
    store.export(good, "jsonl")
    bad = tmp_path / "bad.jsonl"
    record = json.loads(good.read_text())
    record["uid"] = "another"
    del record["annotator"]
    bad.write_text(good.read_text() + json.dumps(record) + "\n")
    target = AnnotationStore(tmp_path / "target.sqlite")
    with pytest.raises(InputError, match="line 2.*annotator"):
        target.import_file(bad)
    assert target.annotations(include_undone=True) == []
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="UTF-8"):
        target.import_file(binary)
