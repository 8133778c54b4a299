"""Class names of a classifier: typed in, read from a ``labels.json`` sidecar, or numbered.

A fine-tuned classifier's weights say how many classes it has but not what they are called. The
names come from, in this order: names typed by the user, a labels file given with the checkpoint,
a sidecar found beside the checkpoint (``<stem>.labels.json`` or ``labels.json``). Without any,
classes are numbered (``class 0``, ``class 1``, ...) and callers say so plainly.

Accepted files: a JSON list of names (index = class), a JSON object mapping ``"0".."N-1"`` to names
(Hugging Face's ``id2label``), such an object or list under ``labels``, ``classes``, ``names`` or
``id2label``, or a text file with one name per line.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.errors import InputError

MAX_LABELS_FILE_BYTES = 5 * 2**20
MAX_LABEL_CHARS = 200
NESTED_KEYS = ("labels", "classes", "names", "id2label")
ACCEPTED = ("a JSON list of names, a JSON object mapping \"0\"..\"N-1\" to names (id2label), either under "
            "'labels', 'classes', 'names' or 'id2label', or a text file with one name per line")


def numbered(count: int) -> list[str]:
    """``["class 0", ..., "class {count-1}"]``: names for classes nobody named."""
    return [f"class {index}" for index in range(count)]


def parse_names(text: str) -> list[str]:
    """Names typed in a text box: one per line, or comma-separated on a single line; blanks dropped."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) == 1 and "," in lines[0]:
        lines = [part.strip() for part in lines[0].split(",")]
    return [line for line in lines if line]


def _names_from_json(value: object, name: str) -> list[str]:
    if isinstance(value, dict):
        nested = next((value[key] for key in NESTED_KEYS if key in value), None)
        if nested is not None:
            return _names_from_json(nested, name)
        try:
            by_index = {int(key): label for key, label in value.items()}
        except (TypeError, ValueError):
            raise InputError(f"{name}: the keys of its JSON object must be class indices (\"0\", \"1\", ...); "
                             f"accepted: {ACCEPTED}.") from None
        if sorted(by_index) != list(range(len(by_index))):
            raise InputError(f"{name}: its class indices must run from 0 to {len(by_index) - 1} without gaps.")
        value = [by_index[index] for index in range(len(by_index))]
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise InputError(f"{name} does not hold class names; accepted: {ACCEPTED}.")
    return [label.strip() for label in value]


def read_names(path: str | Path) -> list[str]:
    """Class names from a labels file (see the module docstring for the accepted forms).

    Raises:
        InputError: the file is missing, too large, not UTF-8, not valid JSON (for ``.json``), or holds
            something other than class names.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Labels file {path.name} does not exist.")
    if path.stat().st_size > MAX_LABELS_FILE_BYTES:
        raise InputError(f"Labels file {path.name} is larger than {MAX_LABELS_FILE_BYTES // 2**20} MB.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"Labels file {path.name} is not UTF-8 text; accepted: {ACCEPTED}.") from None
    if path.suffix.lower() != ".json":
        return [line.strip() for line in text.splitlines() if line.strip()]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"Labels file {path.name} is not valid JSON (line {error.lineno}: {error.msg}); "
                         f"accepted: {ACCEPTED}.") from None
    return _names_from_json(value, f"Labels file {path.name}")


def sidecar(checkpoint: str | Path) -> Path | None:
    """A labels file beside ``checkpoint``: ``<stem>.labels.json``, else ``labels.json``, else None."""
    checkpoint = Path(checkpoint)
    for candidate in (checkpoint.with_name(f"{checkpoint.stem}.labels.json"), checkpoint.with_name("labels.json")):
        if candidate.is_file():
            return candidate
    return None


def validate(names: list[str], count: int, source: str) -> list[str]:
    """``names`` if there is one non-empty, reasonably short name per class.

    Raises:
        InputError: a count different from ``count``, an empty name or one over 200 characters.
    """
    if len(names) != count:
        raise InputError(f"{source} names {len(names)} classes, but the checkpoint's classifier has {count} outputs.")
    for index, label in enumerate(names):
        if not label or len(label) > MAX_LABEL_CHARS or not label.isprintable():
            raise InputError(f"{source}: class {index}'s name must be 1 to {MAX_LABEL_CHARS} printable characters.")
    return names
