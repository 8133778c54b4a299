"""Flaw suite view of the Perceptual similarity tab: the challenge images and the pass-count grid."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from engine import settings
from engine.backbones import BACKBONES
from engine.errors import InputError
from engine.similarity.flaws import HEADERS, challenge_images, run_flaw_suite
from engine.similarity.metric import COMPARISONS, shared_extractor
from engine.similarity.plots import flaw_plot
from ui.common import HEAVY, user_errors
from ui.sessions import session_folder

EXPLANATION = (
    "96x96 challenge images drawn in code: an object **translated** 48 px, six images **rotated** by 22-180 degrees, "
    "eleven binary patterns **inverted**, and **colour stains** (an object on a coloured area vs. the same object on "
    "white vs. the coloured area without the object). A pair passes when the changed image is at least as close to "
    "its original as each of 7 references (black, white, gray, red, green, blue, noise); a colour-stain triplet "
    "passes when the object on white is closer than the coloured area without it. Each image goes through each "
    "backbone once; all comparison functions reuse those features."
)


def build(arch: gr.Dropdown, weights: gr.Radio) -> None:
    """Add the Flaw suite view; ``arch`` and ``weights`` are the tab's backbone and weights controls."""
    with gr.Tab("Flaw suite", id="sim-flaws"):
        gr.Markdown(EXPLANATION)
        with gr.Row():
            extra = gr.CheckboxGroup(list(BACKBONES), value=[], label="Also run these backbones", scale=3)
            comparisons = gr.CheckboxGroup(list(COMPARISONS), value=list(COMPARISONS), label="Comparison functions",
                                           scale=3)
            norms = gr.CheckboxGroup(["on", "off"], value=["on", "off"], label="Channel normalisation", scale=1)
        with gr.Row():
            run = gr.Button("Run the flaw suite", variant="primary", elem_id="sim-flaws-run")
            show = gr.Button("Show the challenge images")
        status = gr.Markdown(elem_id="sim-flaws-status")
        table = gr.Dataframe(headers=HEADERS, interactive=False, label="Passed / total per category",
                             elem_id="sim-flaws-table")
        plot = gr.Plot(label="Pass fraction per configuration", show_label=False)
        raw = gr.File(label="Every raw distance (JSON)", interactive=False)
        gallery = gr.Gallery(label="Challenge images", columns=10, height=420, visible=False)

    @user_errors
    def run_suite(chosen: str, more: list[str], picked: list[str], norm_values: list[str], weights_kind: str,
                  request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        """The paper's flaw suite (translate, rotate, invert, colour stain): pass counts per comparison function.

        Args:
            chosen: the backbone chosen above.
            more: other backbones to run too.
            picked: the comparison functions to test.
            norm_values: "on" and/or "off" (channel normalisation).
            weights_kind: "pretrained" or "random".
        """
        if not picked or not norm_values:
            raise InputError("Tick at least one comparison function and one normalisation setting.")
        arches = list(dict.fromkeys([chosen, *(more or [])]))
        progress(0.0, desc="loading backbones")
        extractors = [shared_extractor(a, weights_kind, device=settings.current().device) for a in arches]
        report = run_flaw_suite(extractors, [c for c in COMPARISONS if c in picked],
                                [n == "on" for n in ("on", "off") if n in norm_values],
                                progress=lambda fraction, message: progress(fraction, desc=message))
        path = session_folder(request, "flaws") / "flaw_suite.json"
        path.write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
        labels = "  \n".join(f"*Weights:* {label}" for label in report.provenance.values())
        warning = "\n\n**RANDOM backbone: pass counts mean nothing.**" if "RANDOM" in labels else ""
        return f"{labels}{warning}", report.table(), flaw_plot(report), str(path)

    def show_images() -> dict:
        """The challenge images the suite distorts."""
        images = challenge_images().images
        return gr.update(value=[(pixels, name) for name, pixels in images.items()], visible=True)

    run.click(run_suite, [arch, extra, comparisons, norms, weights], [status, table, plot, raw],
              api_name="similarity_flaws", **HEAVY)
    show.click(show_images, None, gallery, api_name="similarity_challenge_images")
