"""Pieces every tab shares: the context handed to tab builders and user-error handling."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import gradio as gr

from engine import runtime
from engine.annotations import AnnotationStore
from engine.errors import WorkbenchError
from engine.jobs import JobRunner
from engine.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    """What a tab's ``build(ctx)`` receives: shared engine objects, the annotator box, the page."""

    registry: Registry
    store: AnnotationStore
    annotator: gr.Textbox
    jobs: JobRunner
    demo: gr.Blocks


ERROR_TOAST_S = 20  # seconds a refusal stays on screen in the browser
RELEASE_AFTER_S = 1.0  # requests longer than this give their freed memory back afterwards
log = logging.getLogger("workbench")


def _from_browser() -> bool:
    """Whether the running event was sent by the app's own page (gradio's front end marks its requests
    ``x-gradio-user: app``; gradio_client sends ``api``, the MCP server ``mcp``)."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return request is not None and (request.headers or {}).get("x-gradio-user") == "app"


def _refuse(error: Exception, where: str) -> Any:
    """In the browser: a warning toast, and every output keeps its last good value. Elsewhere: the error.

    Either way the server log gets one line, not a traceback: the user's mistake is no fault of the app.
    """
    message = error.message if isinstance(error, gr.Error) else str(error)
    log.info("refused in %s: %s", where, message.splitlines()[0] if message else "")
    if not _from_browser():
        raise gr.Error(message, duration=None, print_exception=False) from error
    gr.Warning(message, duration=ERROR_TOAST_S)
    return gr.skip()


def _after(started: float) -> None:
    """After a long request, give its freed memory back to the system (see engine.runtime.release_memory)."""
    if time.monotonic() - started > RELEASE_AFTER_S:
        runtime.release_memory()


def user_errors(fn: F) -> F:
    """Show errors meant for the user (:class:`WorkbenchError`, ``gr.Error``) as a message, not a failure.

    In the browser the message appears as a toast and the event's outputs keep their last good values
    (a failed action never turns tables, plots or dropdowns into "Error" badges). API and MCP callers
    get the error itself (``AppError`` in gradio_client), so scripts still see that the call failed.
    In the browser a refused event therefore completes: chain follow-ups with ``.then``, not ``.success``.
    Works for plain functions and generators; keeps the signature so ``gr.Progress`` still injects.
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                yield from fn(*args, **kwargs)
            except (WorkbenchError, gr.Error) as error:
                yield _refuse(error, fn.__name__)
            finally:
                _after(started)

        return generator_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return fn(*args, **kwargs)
        except (WorkbenchError, gr.Error) as error:
            return _refuse(error, fn.__name__)
        finally:
            _after(started)

    return wrapper  # type: ignore[return-value]


def require_annotator(annotator: str | None, request: gr.Request | None = None) -> str:
    """Who is annotating: the logged-in user when the app runs with ``--auth`` (whatever the box says),
    else the trimmed name typed at the top of the page; a user error asking for one when it is empty."""
    username = getattr(request, "username", None)
    if username:
        return str(username)
    if not annotator or not annotator.strip():
        raise gr.Error("Enter your annotator name at the top of the page first.")
    return annotator.strip()


def signed_in_annotator(request: gr.Request) -> Any:
    """On page load with ``--auth``: the annotator box shows the logged-in user and cannot be edited."""
    username = getattr(request, "username", None)
    return gr.Textbox(value=username, interactive=False) if username else gr.skip()


# Keyword arguments for events that run models: they share one queue so a small machine is not
# oversubscribed (two at a time), while cheap events (saving a label) run freely.
HEAVY: dict[str, Any] = {"concurrency_id": "heavy", "concurrency_limit": 2}


def shortcut_script(keys: dict[str, str]) -> str:
    """``<head>`` JavaScript that clicks the button with the given ``elem_id`` when its key is pressed.

    A key is a ``KeyboardEvent.key`` value (``"1"``, ``"u"``, ``"ArrowLeft"``) or a ``KeyboardEvent.code``
    with an optional ``"Shift+"`` (``"Shift+Digit1"``: the same physical key on every keyboard layout).
    Keys are ignored while the user types in a text field or holds Ctrl, Alt or Meta, and a button only
    answers while it is on screen (its view is the one shown).
    """
    mapping = json.dumps(keys)
    return f"""<script>
document.addEventListener("keydown", (event) => {{
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
  const ids = {mapping};
  const id = ids[(event.shiftKey ? "Shift+" : "") + event.code] || ids[event.key];
  const button = id && document.getElementById(id);
  if (!button || button.offsetParent === null) return;
  event.preventDefault();
  button.click();
}});
</script>"""
