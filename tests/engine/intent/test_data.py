"""Reading labelled sentences: the three formats, the official split, and clear errors with line numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import InputError
from engine.intent.data import corpus_path, read_labelled, require_trainable
from tests.engine.intent.conftest import CORPORA


@pytest.mark.parametrize(("corpus", "train", "test", "intents"), [
    ("chatbot", 100, 106, 2), ("askubuntu", 53, 109, 5), ("webapplications", 30, 59, 8),
])
def test_official_split_counts(corpus: str, train: int, test: int, intents: int) -> None:
    path = corpus_path(CORPORA, corpus)
    assert len(read_labelled(path, "train")) == train
    assert len(read_labelled(path, "test")) == test
    assert len(read_labelled(path, "train").intents) == intents


def test_csv_jsonl_and_json_list_give_the_same_data(tmp_path: Path) -> None:
    rows = [("How do I upgrade?", "update"), ('Printer, "HP" setup', "printer")]
    csv_file = tmp_path / "a.csv"
    csv_file.write_text('text,label\nHow do I upgrade?,update\n"Printer, ""HP"" setup",printer\n\n')
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "intent": label}) + "\n" for t, label in rows))
    listing = tmp_path / "a.json"
    listing.write_text(json.dumps([{"text": t, "label": label} for t, label in rows]))
    for path in (csv_file, jsonl, listing):
        data = read_labelled(path)
        assert list(zip(data.texts, data.labels)) == rows, path.name


@pytest.mark.parametrize(("name", "content", "message"), [
    ("cols.csv", "sentence,intent\nhello,greet\n", r"cols.csv, line 1: the header must name a 'text'"),
    ("empty_label.csv", "text,label\nhello,greet\nbye,\n", r"line 3: empty label"),
    ("empty_text.csv", "text,label\nhello,greet\n   ,bye\n", r"line 3: empty text"),
    ("bad.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label"\n', r"bad.jsonl, line 2: not valid JSON"),
    ("nolabel.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n', r"line 2: no 'label'"),
    ("empty.csv", "", r"empty.csv is empty"),
    ("shifted.csv", "text,label\na,b,c\n", r"line 2: more fields"),
])
def test_bad_files_name_the_line_and_the_fix(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_labelled(path)


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\nhello,greet\ncaf\u00e9 au lait,order\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1.csv, line 3: not UTF-8"):
        read_labelled(path)


def test_one_class_cannot_be_trained(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("text,label\nhello,greet\nhi,greet\n")
    with pytest.raises(InputError, match="only one intent"):
        require_trainable(read_labelled(path))
