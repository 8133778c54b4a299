"""Workbench: vision and language research as inspectable software (Gradio app).

``python app.py`` is the entry point locally and on Hugging Face Spaces. Each tab is built by one
module in ``ui/`` (a ``build(ctx)`` function, optionally a ``HEAD`` string of JavaScript for
keyboard shortcuts); ``build_app()`` puts them together.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported anywhere

import argparse  # noqa: E402
import importlib  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import engine  # noqa: E402,F401  (process-wide runtime settings, before torch starts threads)

if TYPE_CHECKING:
    import gradio as gr

# Tab modules in display order; each has ``build(ctx: ui.common.AppContext) -> None``.
TAB_MODULES = [
    "ui.similarity",
    "ui.explain",
    "ui.intent",
    "ui.histology",
    "ui.video",
    "ui.autoencoders",
    "ui.models",
    "ui.jobs",
    "ui.annotations",
]

ON_SPACES = bool(os.environ.get("SPACE_ID"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of ``python app.py``."""
    parser = argparse.ArgumentParser(prog="python app.py", description="Run the Workbench app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if ON_SPACES else "127.0.0.1"),
                        help="interface to listen on (default 127.0.0.1; 0.0.0.0 on Spaces)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port to listen on (default 7860)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder for annotations, user models and exports (default ./data)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None,
                        help="where models run (default: cuda when available, else cpu)")
    network = parser.add_mutually_exclusive_group()
    network.add_argument("--offline", dest="offline", action="store_true", default=not ON_SPACES,
                         help="never download pretrained weights (the default, except on Spaces)")
    network.add_argument("--online", dest="offline", action="store_false",
                         help="let missing pretrained weights download once from their official address")
    parser.add_argument("--open", action="store_true", help="open the app in a browser window on start")
    parser.add_argument("--auth", action="append", metavar="USER:PASSWORD", type=_credentials,
                        help="require a login (repeat for several users); the annotator is then the logged-in "
                             "user. Also read from WORKBENCH_AUTH (comma-separated USER:PASSWORD pairs)")
    parser.add_argument("--folders", action="append", type=Path, metavar="DIR",
                        help="a folder whose datasets and slides users may name by path in the tabs (repeatable). "
                             "Default: any folder when the app listens on 127.0.0.1 without --auth; otherwise only "
                             "DATA_DIR/datasets, so a shared app reads nothing else of this machine")
    parser.add_argument("--mcp", action="store_true", help="also serve the public endpoints as MCP tools "
                                                           "(gradio's MCP server at /gradio_api/mcp/)")
    args = parser.parse_args(argv)
    if args.auth is None and os.environ.get("WORKBENCH_AUTH"):
        args.auth = [_credentials(pair) for pair in os.environ["WORKBENCH_AUTH"].split(",") if pair.strip()]
    if args.auth and args.mcp:
        parser.error("--mcp cannot be combined with a login: gradio's MCP server does not check it, so every tool "
                     "would be open to anyone who reaches the port. Serve MCP on a private address instead.")
    return args


def _credentials(text: str) -> tuple[str, str]:
    user, separator, password = text.strip().partition(":")
    if not separator or not user or not password:
        raise argparse.ArgumentTypeError(f"expected USER:PASSWORD, got {text!r}")
    return user, password


def build_app() -> "gr.Blocks":
    """Build the Blocks with every tab, using the current ``engine.settings``."""
    import gradio as gr

    from engine.annotations import default_store
    from engine.jobs import default_runner
    from engine.registry import default_registry
    from ui.common import AppContext, signed_in_annotator
    from ui.sessions import forget_session

    with gr.Blocks(title="Workbench", delete_cache=(3600, 6 * 3600)) as demo:
        with gr.Row():
            gr.Markdown("# Workbench\nResearch methods for images and text as tools you can inspect.")
            annotator = gr.Textbox(label="Annotator", placeholder="your name (saved with every decision)",
                                   elem_id="annotator", scale=0, min_width=240)
        context = AppContext(registry=default_registry(), store=default_store(), annotator=annotator,
                             jobs=default_runner(), demo=demo)
        with gr.Tabs():
            for name in TAB_MODULES:
                importlib.import_module(name).build(context)
        saved_name = gr.BrowserState("", storage_key="workbench-annotator")
        # In the browser, at once: a name typed before the saved one arrives is kept, never overwritten.
        demo.load(None, saved_name, annotator, js=RESTORE_ANNOTATOR_JS)
        annotator.change(lambda name: name, annotator, saved_name, api_visibility="private")
        demo.load(signed_in_annotator, None, annotator, api_visibility="private")
        demo.unload(forget_session)
    return demo


RESTORE_ANNOTATOR_JS = """(saved) => {
  const box = document.querySelector('#annotator textarea, #annotator input');
  return box && box.value.trim() ? box.value : saved;
}"""


def name_tools_after_endpoints(demo: "gr.Blocks") -> None:
    """Name each public endpoint's function after its ``api_name``: gradio's MCP server names tools after
    functions, which are often generic (``judge``, ``run_side``) or repeated."""
    for block_fn in demo.fns.values():
        if block_fn.api_name and block_fn.fn is not None and block_fn.api_visibility == "public":
            block_fn.fn.__name__ = str(block_fn.api_name)


def head_scripts() -> str:
    """The ``<head>`` JavaScript the tab modules declare (keyboard shortcuts)."""
    return "\n".join(getattr(importlib.import_module(name), "HEAD", "") for name in TAB_MODULES)


def main(argv: list[str] | None = None) -> None:
    """Parse options, configure the engine and serve the app."""
    args = parse_args(argv)
    from engine import settings

    current = settings.apply(data_dir=args.data_dir, device=args.device, allow_downloads=not args.offline)
    shared = bool(args.auth) or args.host not in ("127.0.0.1", "localhost", "::1")
    if args.folders or (shared and current.folder_roots is None):
        current = settings.apply(folder_roots=args.folders or [current.data_dir / "datasets"])
    from ui.sessions import remove_stale_session_folders

    remove_stale_session_folders()
    demo = build_app()
    if args.mcp:
        name_tools_after_endpoints(demo)
    demo.queue(default_concurrency_limit=4).launch(
        server_name=args.host,
        server_port=args.port,
        inbrowser=args.open,
        max_file_size="500mb",
        head=head_scripts(),
        footer_links=["api", "settings"],
        auth=args.auth,
        mcp_server=args.mcp,
        allowed_paths=served_paths(current.data_dir),
    )


def served_paths(data_dir: Path) -> list[str]:
    """The folders of the data dir whose files the app may send to a browser: what it wrote for a
    session (exports, unpacked uploads) and job outputs; never the annotation database itself."""
    return [str(data_dir / "sessions"), str(data_dir / "jobs")]


if __name__ == "__main__":
    main()
