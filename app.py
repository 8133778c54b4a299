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

if TYPE_CHECKING:
    import gradio as gr

# Tab modules in display order; each has ``build(ctx: ui.common.AppContext) -> None``.
TAB_MODULES = [
    "ui.similarity",
    "ui.explain",
    "ui.intent",
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
    return parser.parse_args(argv)


def build_app() -> "gr.Blocks":
    """Build the Blocks with every tab, using the current ``engine.settings``."""
    import gradio as gr

    from engine.annotations import default_store
    from engine.jobs import default_runner
    from engine.registry import default_registry
    from ui.common import AppContext

    with gr.Blocks(title="Workbench") as demo:
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
        demo.load(lambda name: name, saved_name, annotator, api_visibility="private")
        annotator.change(lambda name: name, annotator, saved_name, api_visibility="private")
    return demo


def head_scripts() -> str:
    """The ``<head>`` JavaScript the tab modules declare (keyboard shortcuts)."""
    return "\n".join(getattr(importlib.import_module(name), "HEAD", "") for name in TAB_MODULES)


def main(argv: list[str] | None = None) -> None:
    """Parse options, configure the engine and serve the app."""
    args = parse_args(argv)
    from engine import settings

    settings.apply(data_dir=args.data_dir, device=args.device, allow_downloads=not args.offline)
    demo = build_app()
    demo.queue(default_concurrency_limit=4).launch(
        server_name=args.host,
        server_port=args.port,
        inbrowser=args.open,
        max_file_size="500mb",
        head=head_scripts(),
        footer_links=["api", "settings"],
    )


if __name__ == "__main__":
    main()
