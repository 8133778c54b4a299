"""Per-session state and files kept on the server, keyed by gradio's session hash.

The browser holds nothing but gradio's own opaque session id: values a page used to carry (a 2AFC
queue, the facts behind a rating) live here, so they cannot be forged by editing what the page sends.
Every session also gets its own folder for exports and unpacked uploads, removed when the page closes
(``demo.unload``); the least recently used sessions are dropped past a bound, for API clients that
never unload.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import gradio as gr

from engine import settings

T = TypeVar("T")
MAX_SESSIONS = 512
SESSION_FOLDER_TTL_S = 24 * 3600


def session_id(request: gr.Request | None) -> str:
    """The caller's session hash ("local" for direct calls without a request, e.g. in tests)."""
    return getattr(request, "session_hash", None) or "local"


class SessionValues(Generic[T]):
    """One value per session, made by ``factory`` on first use; least recently used dropped past ``limit``."""

    def __init__(self, factory: Callable[[], T], limit: int = MAX_SESSIONS) -> None:
        self._factory = factory
        self._limit = limit
        self._values: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()
        _ALL.append(self)

    def get(self, request: gr.Request | None) -> T:
        """The caller's value (created on first use)."""
        key = session_id(request)
        with self._lock:
            if key not in self._values:
                self._values[key] = self._factory()
            self._values.move_to_end(key)
            while len(self._values) > self._limit:
                self._values.popitem(last=False)
            return self._values[key]

    def set(self, request: gr.Request | None, value: T) -> None:
        """Replace the caller's value."""
        self.get(request)
        with self._lock:
            self._values[session_id(request)] = value

    def drop(self, request: gr.Request | None) -> None:
        """Forget the caller's value (the page was closed)."""
        with self._lock:
            self._values.pop(session_id(request), None)


_ALL: list[SessionValues] = []  # type: ignore[type-arg]


def forget_session(request: gr.Request) -> None:
    """Drop every value and file of a session whose page closed (wire it to ``demo.unload``)."""
    for values in _ALL:
        values.drop(request)
    remove_session_folder(request)


def sessions_root() -> Path:
    """Where per-session folders live (inside the data folder, so the app may serve them)."""
    return settings.current().data_dir / "sessions"


def session_folder(request: gr.Request | None, name: str = "") -> Path:
    """A new empty folder for this session (``name`` is a fixed label chosen by the code, not the user)."""
    root = sessions_root() / session_id(request).replace("/", "_")
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-" if name else "", dir=root))


def remove_session_folder(request: gr.Request | None) -> None:
    """Delete everything the session wrote (called when its page closes)."""
    shutil.rmtree(sessions_root() / session_id(request).replace("/", "_"), ignore_errors=True)


def remove_stale_session_folders(max_age_s: float = SESSION_FOLDER_TTL_S) -> int:
    """Delete session folders untouched for ``max_age_s`` (left by pages that never unloaded); returns how many."""
    root = sessions_root()
    removed = 0
    if root.is_dir():
        for folder in root.iterdir():
            if folder.is_dir() and time.time() - folder.stat().st_mtime > max_age_s:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    return removed
