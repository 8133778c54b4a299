"""Labelled sentences for intent classification: reading, validating and describing them.

Accepted files (UTF-8):

- **corpus JSON** (the NLU Evaluation Corpora format): an object with ``sentences``, each with
  ``text``, ``intent`` and an optional ``training`` flag (the official train/test split);
- **JSON list** of ``{"text": ..., "label": ...}`` objects (``intent`` is accepted for ``label``);
- **JSONL**: one such object per line;
- **CSV** with a header holding ``text`` and ``label`` (or ``intent``) columns.

Every problem a person can cause (missing columns, empty text or label, one class only, a file
that is not UTF-8, too many rows) raises :class:`~engine.errors.InputError` naming the file and
the line, with what to change.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.errors import InputError

Split = Literal["train", "test", "all"]

MAX_EXAMPLES = 200_000
MAX_FILE_BYTES = 100 * 2**20
LABEL_COLUMNS = ("label", "intent")

# The three corpora of Braun et al. (SIGDIAL 2017), by short name -> file name in the corpus folder.
CORPUS_FILES = {
    "chatbot": "ChatbotCorpus.json",
    "askubuntu": "AskUbuntuCorpus.json",
    "webapplications": "WebApplicationsCorpus.json",
}


@dataclass(frozen=True)
class LabelledTexts:
    """Sentences with one intent label each, and where they came from.

    ``texts[i]`` has label ``labels[i]``; ``source`` names the file (and split) for provenance.
    """

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise InputError(f"{len(self.texts)} texts but {len(self.labels)} labels; give one label per text.")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def intents(self) -> list[str]:
        """The distinct labels, sorted."""
        return sorted(set(self.labels))

    def counts(self) -> dict[str, int]:
        """Examples per intent, sorted by intent name."""
        return dict(sorted(Counter(self.labels).items()))


def require_trainable(data: LabelledTexts) -> LabelledTexts:
    """Return ``data`` if a classifier can be trained on it, else raise a user error saying why."""
    if len(data) == 0:
        raise InputError(f"{data.source or 'The data'} holds no labelled sentences.")
    if len(data.intents) < 2:
        raise InputError(
            f"{data.source or 'The data'} has only one intent ({data.intents[0]!r}); a classifier needs at "
            "least two different labels."
        )
    return data


def _line_of_byte(raw: bytes, offset: int) -> int:
    return raw[:offset].count(b"\n") + 1


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = _line_of_byte(raw, error.start)
        raise InputError(
            f"{name}, line {line}: not UTF-8 text (byte 0x{raw[error.start]:02x}). Save the file as UTF-8 "
            "(e.g. 'Save as... CSV UTF-8' in a spreadsheet) and try again."
        ) from error


def _clean(value: Any, what: str, where: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{where}: empty {what}. Every row needs a non-empty text and label.")
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise InputError(f"{where}: the {what} must be a string, not {type(value).__name__}.")
    return " ".join(str(value).split())


def _from_record(record: Any, where: str) -> tuple[str, str]:
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected an object with 'text' and 'label', got {type(record).__name__}.")
    if "text" not in record:
        raise InputError(f"{where}: no 'text' field (fields: {', '.join(map(str, record)) or 'none'}).")
    key = next((k for k in LABEL_COLUMNS if k in record), None)
    if key is None:
        raise InputError(f"{where}: no 'label' (or 'intent') field (fields: {', '.join(map(str, record))}).")
    return _clean(record["text"], "text", where), _clean(record[key], "label", where)


def _read_csv(text: str, name: str) -> list[tuple[str, str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    label_column = next((c for c in LABEL_COLUMNS if c in header), None)
    if "text" not in header or label_column is None:
        raise InputError(
            f"{name}, line 1: the header must name a 'text' and a 'label' column; found "
            f"{', '.join(repr(h) for h in header) or 'no header'}."
        )
    reader.fieldnames = header
    rows = []
    for row in reader:
        where = f"{name}, line {reader.line_num}"
        if None in row:
            raise InputError(f"{where}: more fields than the header has columns (quote texts that contain commas).")
        if all(not (v or "").strip() for v in row.values()):
            continue  # blank line
        rows.append((_clean(row["text"], "text", where), _clean(row[label_column], "label", where)))
    return rows


def _read_jsonl(text: str, name: str) -> list[tuple[str, str]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{name}, line {number}: not valid JSON ({error.msg}).") from error
        rows.append(_from_record(record, f"{name}, line {number}"))
    return rows


def _sentence_lines(text: str, key: str, count: int) -> list[int]:
    """Best-effort line numbers of the ``count`` occurrences of ``"key":`` in a JSON text."""
    lines, position = [], 0
    needle = f'"{key}"'
    for _ in range(count):
        found = text.find(needle, position)
        if found < 0:
            break
        lines.append(text.count("\n", 0, found) + 1)
        position = found + len(needle)
    return lines + [0] * (count - len(lines))


def _read_json(text: str, name: str, split: Split) -> list[tuple[str, str]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{name}, line {error.lineno}: not valid JSON ({error.msg}).") from error
    if isinstance(document, dict) and "sentences" in document:
        sentences = document["sentences"]
        if not isinstance(sentences, list):
            raise InputError(f"{name}: 'sentences' must be a list of objects with 'text' and 'intent'.")
        has_split = any(isinstance(s, dict) and "training" in s for s in sentences)
        lines = _sentence_lines(text, "text", len(sentences))
        rows = []
        for sentence, line in zip(sentences, lines):
            if has_split and split != "all" and isinstance(sentence, dict):
                if bool(sentence.get("training")) != (split == "train"):
                    continue
            rows.append(_from_record(sentence, f"{name}, line {line}" if line else name))
        return rows
    if isinstance(document, list):
        lines = _sentence_lines(text, "text", len(document))
        return [_from_record(record, f"{name}, line {line}" if line else f"{name}, item {i + 1}")
                for i, (record, line) in enumerate(zip(document, lines))]
    raise InputError(f"{name}: expected a corpus object with 'sentences' or a list of {{text, label}} objects.")


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def read_labelled(path: str | Path, split: Split = "all", name: str | None = None) -> LabelledTexts:
    """Read labelled sentences from a corpus JSON, JSON list, JSONL or CSV file.

    Args:
        path: the file; its format is chosen by suffix (``.csv``, ``.jsonl``, ``.json``), else sniffed.
        split: for corpus JSON with ``training`` flags, which sentences to keep (other formats
            have no split and return every row).
        name: the name used in messages and provenance (default: the file name).

    Raises:
        InputError: unreadable, empty, non-UTF-8, malformed or too large file (with the line number).
    """
    path = Path(path)
    name = name or path.name
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InputError(f"{name} cannot be read: {error.strerror}.") from error
    if size > MAX_FILE_BYTES:
        raise InputError(f"{name} is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB.")
    text = _decode(path.read_bytes(), name)
    if not text.strip():
        raise InputError(f"{name} is empty; give a CSV with 'text,label' columns, JSONL or corpus JSON.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _read_csv(text, name)
    elif suffix == ".jsonl":
        rows = _read_jsonl(text, name)
    elif suffix == ".json":
        rows = _read_json(text, name, split)
    elif text.lstrip()[:1] in "[{":  # no telling suffix: one JSON document, else JSON lines
        rows = _read_json(text, name, split) if _is_json(text) else _read_jsonl(text, name)
    else:
        rows = _read_csv(text, name)
    if len(rows) > MAX_EXAMPLES:
        raise InputError(f"{name} has {len(rows):,} rows; the limit is {MAX_EXAMPLES:,}.")
    if not rows:
        which = f" in the {split} split" if split != "all" else ""
        raise InputError(f"{name} holds no labelled sentences{which}.")
    source = name if split == "all" else f"{name} ({split})"
    return LabelledTexts(tuple(t for t, _ in rows), tuple(label for _, label in rows), source)


def corpus_path(folder: str | Path, corpus: str) -> Path:
    """The file of one of the three NLU Evaluation Corpora (``chatbot``, ``askubuntu``, ``webapplications``)."""
    try:
        return Path(folder) / CORPUS_FILES[corpus.lower()]
    except KeyError:
        raise InputError(f"Unknown corpus {corpus!r}; choose one of {', '.join(CORPUS_FILES)}.") from None
