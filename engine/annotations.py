"""The annotation store every tab writes to: SQLite in WAL mode, append-only, exportable.

An *item* is what was judged, identified by its task and a content hash (plus a free-text source
and a JSON payload such as file names or the order in which candidates were shown). An
*annotation* is one decision by one annotator: a JSON label, the time it was made and how long it
took. Rows are only ever added; undo marks an annotator's latest decision as undone, so nothing is
lost and the history stays auditable. A later decision on the same item by the same annotator
supersedes the earlier one in :meth:`AnnotationStore.current_labels`.

Durability: every write is its own ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``, so
a call that returned has reached the disk; a process killed afterwards loses nothing. Each call
opens a short-lived connection, so the store is safe to share between threads and processes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engine.errors import InputError
from engine.sqlite import SqliteFile

EXPORT_FIELDS = (
    "uid", "task", "content_hash", "source", "payload", "label", "annotator",
    "created_at", "lead_time_s", "undone_at",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    task TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    UNIQUE (task, content_hash)
);
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    item_id INTEGER NOT NULL REFERENCES items(id),
    label TEXT NOT NULL,
    annotator TEXT NOT NULL,
    created_at REAL NOT NULL,
    lead_time_s REAL,
    undone_at REAL
);
CREATE INDEX IF NOT EXISTS annotations_by_item ON annotations (item_id, annotator, id);
CREATE INDEX IF NOT EXISTS annotations_by_annotator ON annotations (annotator, id);
"""

_SELECT = """
SELECT a.uid, i.task, i.content_hash, i.source, i.payload, a.label, a.annotator,
       a.created_at, a.lead_time_s, a.undone_at, a.id
FROM annotations a JOIN items i ON i.id = a.item_id
"""


@dataclass(frozen=True)
class Annotation:
    """One stored decision. ``label`` and ``payload`` are decoded JSON values."""

    uid: str
    task: str
    content_hash: str
    source: str
    payload: Any
    label: Any
    annotator: str
    created_at: float
    lead_time_s: float | None
    undone_at: float | None
    id: int = 0

    @property
    def undone(self) -> bool:
        """Whether this decision was taken back."""
        return self.undone_at is not None

    def to_record(self) -> dict[str, Any]:
        """The exported form (CSV/JSONL): everything but the local row id."""
        record = asdict(self)
        record.pop("id")
        return record


@dataclass(frozen=True)
class TaskCount:
    """How much has been annotated for one task."""

    task: str
    items: int
    annotations: int
    annotators: int
    undone: int


@dataclass(frozen=True)
class ImportResult:
    """Outcome of :meth:`AnnotationStore.import_file`."""

    added: int
    skipped: int


def content_hash(content: bytes | str | np.ndarray) -> str:
    """A stable sha256 identifying an item's content (bytes, text, or an array with its shape)."""
    digest = hashlib.sha256()
    if isinstance(content, np.ndarray):
        digest.update(f"{content.dtype.str}{content.shape}".encode())
        digest.update(np.ascontiguousarray(content).tobytes())
    elif isinstance(content, str):
        digest.update(content.encode("utf-8"))
    else:
        digest.update(content)
    return digest.hexdigest()


class AnnotationStore:
    """Append-only annotation storage in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self._db = SqliteFile(path, _SCHEMA)
        self.path = self._db.path
        self._connect = self._db.connect
        self._write = self._db.write

    @staticmethod
    def _item_id(connection: sqlite3.Connection, task: str, content_hash_: str, source: str,
                 payload: Any, created_at: float) -> int:
        connection.execute(
            "INSERT OR IGNORE INTO items (task, content_hash, source, payload, created_at) VALUES (?, ?, ?, ?, ?)",
            (task, content_hash_, source, json.dumps(payload), created_at),
        )
        row = connection.execute(
            "SELECT id FROM items WHERE task = ? AND content_hash = ?", (task, content_hash_)
        ).fetchone()
        return int(row[0])

    def add(self, task: str, content_hash: str, label: Any, annotator: str, source: str = "",
            payload: Any = None, lead_time_s: float | None = None) -> Annotation:
        """Store one decision durably and return it.

        Args:
            task: the task kind, e.g. ``"similarity-2afc"`` or ``"intent"``.
            content_hash: identifies the item (see :func:`content_hash`).
            label: any JSON-serialisable value.
            annotator: who decided; must not be empty.
            source: where the item came from (file name, corpus, URL).
            payload: JSON data needed to reconstruct the item or the decision context.
            lead_time_s: seconds the annotator took, if known.
        """
        if not task or not content_hash:
            raise InputError("An annotation needs a task and an item hash.")
        if not annotator or not annotator.strip():
            raise InputError("Enter an annotator name before annotating.")
        try:
            label_json = json.dumps(label)
            json.dumps(payload)
        except (TypeError, ValueError) as error:
            raise InputError(f"Label and payload must be JSON values: {error}") from error
        now = time.time()
        uid = uuid.uuid4().hex
        with self._write() as connection:
            item_id = self._item_id(connection, task, content_hash, source, payload or {}, now)
            cursor = connection.execute(
                "INSERT INTO annotations (uid, item_id, label, annotator, created_at, lead_time_s)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (uid, item_id, label_json, annotator.strip(), now, lead_time_s),
            )
            row_id = int(cursor.lastrowid or 0)
        return self._by_id(row_id)

    def _by_id(self, row_id: int) -> Annotation:
        with self._connect() as connection:
            row = connection.execute(_SELECT + " WHERE a.id = ?", (row_id,)).fetchone()
        return _decode(row)

    def undo(self, task: str, annotator: str) -> Annotation | None:
        """Take back ``annotator``'s latest not-yet-undone decision in ``task``; None if there is none."""
        with self._write() as connection:
            row = connection.execute(
                "SELECT a.id FROM annotations a JOIN items i ON i.id = a.item_id"
                " WHERE i.task = ? AND a.annotator = ? AND a.undone_at IS NULL ORDER BY a.id DESC LIMIT 1",
                (task, annotator.strip()),
            ).fetchone()
            if row is None:
                return None
            connection.execute("UPDATE annotations SET undone_at = ? WHERE id = ?", (time.time(), row[0]))
        return self._by_id(int(row[0]))

    def annotations(self, task: str | None = None, annotator: str | None = None, include_undone: bool = False,
                    limit: int | None = None, newest_first: bool = False) -> list[Annotation]:
        """Stored decisions, filtered by task and annotator, oldest first unless ``newest_first``."""
        clauses, parameters = [], []
        if task is not None:
            clauses.append("i.task = ?")
            parameters.append(task)
        if annotator is not None:
            clauses.append("a.annotator = ?")
            parameters.append(annotator)
        if not include_undone:
            clauses.append("a.undone_at IS NULL")
        query = _SELECT + (" WHERE " + " AND ".join(clauses) if clauses else "")
        query += " ORDER BY a.id " + ("DESC" if newest_first else "ASC")
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self._connect() as connection:
            return [_decode(row) for row in connection.execute(query, parameters)]

    def current_labels(self, task: str) -> list[Annotation]:
        """Each annotator's latest standing decision per item of ``task`` (what training should use)."""
        latest: dict[tuple[str, str], Annotation] = {}
        for annotation in self.annotations(task):
            latest[(annotation.content_hash, annotation.annotator)] = annotation
        return list(latest.values())

    def counts(self) -> list[TaskCount]:
        """Per task: items, standing decisions, distinct annotators and undone decisions."""
        query = """
        SELECT i.task, COUNT(DISTINCT i.id), SUM(a.undone_at IS NULL), COUNT(DISTINCT a.annotator),
               SUM(a.undone_at IS NOT NULL)
        FROM annotations a JOIN items i ON i.id = a.item_id GROUP BY i.task ORDER BY i.task
        """
        with self._connect() as connection:
            return [TaskCount(str(t), int(n), int(a or 0), int(p), int(u or 0))
                    for t, n, a, p, u in connection.execute(query)]

    def export(self, path: str | Path, fmt: Literal["csv", "jsonl"] = "jsonl", task: str | None = None) -> int:
        """Write every decision (undone ones included, flagged) to ``path``; returns the row count."""
        records = [a.to_record() for a in self.annotations(task, include_undone=True)]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "jsonl":
            text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        elif fmt == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
            writer.writeheader()
            for record in records:
                writer.writerow({**record, "payload": json.dumps(record["payload"]),
                                 "label": json.dumps(record["label"])})
            text = buffer.getvalue()
        else:
            raise InputError(f"Unknown export format {fmt!r}: use 'csv' or 'jsonl'.")
        path.write_text(text, encoding="utf-8")
        return len(records)

    def import_file(self, path: str | Path) -> ImportResult:
        """Add the decisions of a CSV or JSONL export; rows whose ``uid`` is already stored are skipped.

        The whole file is validated first, so a bad row (reported with its line number) imports nothing.
        """
        records = list(_read_records(Path(path)))
        added = skipped = 0
        with self._write() as connection:
            for record in records:
                if connection.execute("SELECT 1 FROM annotations WHERE uid = ?", (record["uid"],)).fetchone():
                    skipped += 1
                    continue
                item_id = self._item_id(connection, record["task"], record["content_hash"], record["source"],
                                        record["payload"], record["created_at"])
                connection.execute(
                    "INSERT INTO annotations (uid, item_id, label, annotator, created_at, lead_time_s, undone_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (record["uid"], item_id, json.dumps(record["label"]), record["annotator"],
                     record["created_at"], record["lead_time_s"], record["undone_at"]),
                )
                added += 1
        return ImportResult(added, skipped)


def _decode(row: tuple[Any, ...]) -> Annotation:
    uid, task, hash_, source, payload, label, annotator, created, lead, undone, row_id = row
    return Annotation(uid, task, hash_, source, json.loads(payload), json.loads(label), annotator,
                      created, lead, undone, row_id)


def _optional_float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def _read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Parse and validate an export file, raising InputError with the line number of a bad row."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{path.name} is not UTF-8 text: {error}") from error
    if path.suffix.lower() == ".csv":
        rows: Iterator[tuple[int, Any]] = ((n + 2, row) for n, row in enumerate(csv.DictReader(io.StringIO(text))))
        json_fields = ("payload", "label")
    elif path.suffix.lower() in (".jsonl", ".json"):
        rows = ((n + 1, line) for n, line in enumerate(text.splitlines()) if line.strip())
        json_fields = ()
    else:
        raise InputError(f"{path.name}: import a .csv or .jsonl annotation export.")
    for line_number, raw in rows:
        try:
            record = json.loads(raw) if isinstance(raw, str) else dict(raw)
            for name in json_fields:
                record[name] = json.loads(record[name])
            missing = [f for f in EXPORT_FIELDS if f not in record]
            if missing:
                raise ValueError(f"missing fields {', '.join(missing)}")
            if not record["uid"] or not record["task"] or not record["content_hash"] or not record["annotator"]:
                raise ValueError("uid, task, content_hash and annotator must not be empty")
            record["created_at"] = float(record["created_at"])
            record["lead_time_s"] = _optional_float(record["lead_time_s"])
            record["undone_at"] = _optional_float(record["undone_at"])
            record["source"] = str(record["source"] or "")
        except (ValueError, TypeError, KeyError) as error:
            raise InputError(f"{path.name}, line {line_number}: {error}") from error
        yield record


def default_store() -> AnnotationStore:
    """The store in the configured data folder (``$WORKBENCH_DATA_DIR/annotations.sqlite``)."""
    from engine import settings

    return AnnotationStore(settings.current().data_dir / "annotations.sqlite")
