"""Intent tab: classify a sentence, see why, perturb it with typos, correct the model, train your own."""

from __future__ import annotations

from typing import Any

import gradio as gr

from engine.errors import InputError
from engine.intent import catalog, robustness
from engine.intent.augment import add_typos
from engine.intent.model import IntentModel
from engine.intent.plots import highlight_spans, probability_chart, typo_chart
from engine.intent.selection import AUTO, CANDIDATES, DEFAULT_BUDGET_S, PIPELINES
from engine.intent.training import JOB, selection_table
from engine.jobs import Job
from ui.common import HEAVY, AppContext, require_annotator, user_errors
from ui.jobs import job_panel

INTRO = (
    "**Subword semantic hashing** (Shridhar et al. 2019): each word is padded with `#` and cut into letter "
    "trigrams (`video` → `#vi vid ide deo eo#`), weighted by TF-IDF and fed to a linear classifier, so "
    "misspelt and unseen words still share most features with known ones. One model per corpus of Braun "
    "et al. (2017) ships with the app; train your own from a CSV with `text,label` columns: by default the "
    "pipeline (trigrams, letter n-gram ranges, MiniLM sentence embeddings or a mix) is chosen by "
    "cross-validation on your training file."
)
CURVE_CHARS = 300  # the typed sentence's own typo curve uses at most this much of it (10 perturbed copies per rate)
PIPELINE_HELP = "auto: choose by cross-validation on the training file. " + "; ".join(
    f"{c.name}: {c.summary}" for c in CANDIDATES)


def _loaded(ctx: AppContext, name: str | None) -> IntentModel:
    if not name:
        raise InputError("Choose an intent model first.")
    return ctx.registry.get(name).model


def _model_info(ctx: AppContext, name: str | None) -> str:
    if not name:
        return "No intent model registered yet: train one below."
    spec = ctx.registry.spec(name)
    text = f"{spec.provenance}\n\n**Intents ({len(spec.labels)}):** " + ", ".join(f"`{x}`" for x in spec.labels)
    info = catalog.stored_info(name)
    if info is not None and info.selection:
        text += ("\n\n**How the pipeline was chosen** (cross-validation on the training file): "
                 f"{info.selection['reason']}.\n\n" + selection_table(info.selection))
    return text


def build(ctx: AppContext) -> None:
    """Add the Intent tab to the current Blocks."""
    registry, store = ctx.registry, ctx.store
    catalog.register_models(registry)
    ctx.jobs.when_done(JOB.name, lambda job: catalog.register_folder(registry, (job.result or {})["folder"]))
    names = registry.names(catalog.TASK)

    with gr.Tab("Intent", id="intent"):
        gr.Markdown(INTRO)
        with gr.Row():
            model = gr.Dropdown(names, value=names[0] if names else None, label="Model", scale=4,
                                elem_id="intent-model")
            refresh = gr.Button("Refresh list", scale=1)
        model_info = gr.Markdown(_model_info(ctx, names[0] if names else None), elem_id="intent-model-info")
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label="Sentence", lines=2, max_lines=6, elem_id="intent-text",
                                  placeholder="e.g. How do I upgrade from 12.04 to 14.04?")
                with gr.Row():
                    typo_rate = gr.Slider(0, 1, value=0, step=0.05,
                                          label="Typo rate (share of words given a keyboard typo)")
                    typo_seed = gr.Number(0, precision=0, label="Typo seed", minimum=0)
                    threshold = gr.Slider(0, 0.95, value=0, step=0.05, label="Out-of-scope threshold",
                                          info="answer out_of_scope below this probability (0: never)")
                classify = gr.Button("Classify", variant="primary")
                classified = gr.Textbox(label="Text as classified", interactive=False, max_lines=4)
                predicted = gr.Textbox(label="Predicted intent", interactive=False, elem_id="intent-predicted")
                summary = gr.Markdown(elem_id="intent-summary")
            with gr.Column(scale=2):
                chart = gr.Plot(label="Top intents", show_label=False)
                typo_plot = gr.Plot(label="Typo robustness", show_label=False)
        trigrams = gr.HighlightedText(label="Subwords behind the decision (red pushes towards the predicted intent, "
                                            "blue away; grey: unknown to the model)", elem_id="intent-trigrams")
        with gr.Accordion("Correct the model", open=True):
            with gr.Row():
                accept = gr.Button("Accept prediction")
                correct_to = gr.Dropdown([], label="Correct intent", allow_custom_value=False, scale=2)
                correct = gr.Button("Save correction")
                retrain = gr.Button("Retrain with corrections", variant="secondary")
            feedback = gr.Markdown(elem_id="intent-feedback")
        with gr.Accordion("Train a model on your sentences", open=False):
            gr.Markdown("A CSV with `text,label` columns, JSONL (`{\"text\": ..., \"label\": ...}` per line) or "
                        "corpus JSON. At least two intents. The optional test file gives accuracy, F1 and the "
                        "typo-robustness curve; it is never used to choose the pipeline.")
            with gr.Row():
                train_file = gr.File(label="Training sentences", file_types=[".csv", ".jsonl", ".json"])
                test_file = gr.File(label="Test sentences (optional)", file_types=[".csv", ".jsonl", ".json"])
            with gr.Row():
                model_name = gr.Textbox("my-intents", label="Model name")
                pipeline = gr.Dropdown(list(PIPELINES), value=AUTO, label="Pipeline", info=PIPELINE_HELP)
                budget = gr.Slider(10, 600, value=DEFAULT_BUDGET_S, step=10, label="Time budget for choosing (s)")
                train_threshold = gr.Slider(0, 0.95, value=0, step=0.05, label="Out-of-scope threshold of the model")
            train_button = gr.Button("Train", variant="primary", elem_id="intent-train")
            panel = job_panel(label="Training progress")
            train_status = gr.Markdown(elem_id="intent-train-status")

    @user_errors
    def predict(name: str | None, sentence: str, rate: float, seed: float | None,
                oos: float | None = 0.0) -> tuple[Any, ...]:
        """Classify a sentence with model ``name`` after adding keyboard typos to a share ``rate`` (0..1) of
        its words (seeded by ``seed``); below probability ``oos`` (0..1) the answer is out_of_scope.
        Returns the text classified, the intent, a summary, the probability chart, the subword spans, the
        intent choices for corrections and the typo-robustness plot."""
        intent_model = _loaded(ctx, name)
        sentence = sentence or ""
        curves = intent_model.info.typo_curve
        if not sentence.strip():
            return ("", "", "Type a sentence to classify.", None, [], gr.update(choices=list(intent_model.labels)),
                    typo_chart(curves, None, float(rate or 0)))
        used = add_typos(sentence, float(rate), int(seed or 0)) if rate else sentence
        result = intent_model.predict(used, float(oos or 0.0))
        lines = [f"**{result.intent}** ({result.probability_kind} {result.confidence:.2f}) by `{name}`."]
        known = sum(c.known for c in result.contributions)
        lines.append(f"{known} of {len(result.contributions)} subword n-grams are known to the model.")
        lines += [f"*{note}*" for note in result.notes]
        own = robustness.sentence_curve(intent_model.predict_labels, sentence[:CURVE_CHARS])
        choice = result.intent if result.intent in intent_model.labels else result.top(1)[0][0]
        return (result.text, result.intent, "\n\n".join(lines), probability_chart(result), highlight_spans(result),
                gr.update(choices=list(intent_model.labels), value=choice), typo_chart(curves, own, float(rate)))

    @user_errors
    def decide(name: str | None, sentence: str, guess: str, intent: str | None, annotator: str,
               request: gr.Request) -> str:
        """Save the correct intent of a classified sentence (a correction when it differs from the guess).

        Args:
            name: the model that classified it.
            sentence: the sentence as classified.
            guess: the model's predicted intent.
            intent: the correct intent.
            annotator: your name (ignored when the app requires a login).
        """
        who = require_annotator(annotator, request)
        if not sentence or not guess:
            raise InputError("Classify a sentence first, then accept or correct the prediction.")
        if not intent:
            raise InputError("Choose the correct intent in the list first.")
        saved = catalog.record_decision(store, name or "", sentence, guess, intent, who)
        verb = "Accepted" if saved.label["decision"] == "accept" else f"Corrected {guess} →"
        return f"{verb} **{intent}** for “{sentence[:80]}” (saved for {who}; undo in the Annotations tab)."

    @user_errors
    def accept_prediction(name: str | None, sentence: str, guess: str, annotator: str, request: gr.Request) -> str:
        """Confirm the model's prediction for a classified sentence (saved as a decision)."""
        return decide(name, sentence, guess, guess, annotator, request)

    @user_errors
    def retrain_model(name: str | None, progress: gr.Progress = gr.Progress()) -> tuple[str, dict]:
        """Retrain the model with every standing correction and accepted prediction; registers the new model."""
        base = _loaded(ctx, name)
        corrections = catalog.standing_corrections(store, base.labels)
        new_name = catalog.corrected_name(name or "model")
        model_ = catalog.retrain_with_corrections(base, corrections, new_name,
                                                  lambda f, m: progress(f, desc=m))
        registered = catalog.save_user_model(model_, registry, new_name)
        message = (f"Retrained in {model_.info.train_seconds:.2f} s on {len(model_.training):,} sentences "
                   f"({len(corrections)} standing decisions); now using **{registered}**.")
        return message, gr.update(choices=registry.names(catalog.TASK), value=registered)

    @user_errors
    def train(train_path: str | None, test_path: str | None, name: str, chosen: str, budget_s: float,
              oos: float) -> str:
        """Start a training job on an uploaded file (CSV text,label / JSONL / corpus JSON) with an optional
        test file; ``chosen`` is ``auto`` or a candidate pipeline, ``budget_s`` the seconds for choosing,
        ``oos`` the model's out-of-scope threshold. Returns the job id (follow it with /jobs_list)."""
        if not train_path:
            raise InputError("Upload a training file first (CSV with text,label columns, JSONL or corpus JSON).")
        if chosen not in PIPELINES:
            raise InputError(f"Choose a pipeline: {', '.join(PIPELINES)}.")
        params = {"name": name or "my-intents", "pipeline": chosen, "budget_s": float(budget_s),
                  "oos_threshold": float(oos or 0.0), "seed": 0, "has_test": bool(test_path)}
        return ctx.jobs.submit(JOB, params, inputs=[p for p in (train_path, test_path) if p]).id

    def show_result(job: Job) -> list[Any]:
        result = job.result or {}
        return [f"{result['report']}\n\nRegistered as **{result['name']}** and selected.",
                gr.update(choices=registry.names(catalog.TASK), value=result["name"])]

    def refresh_models() -> dict:
        """The intent models on disk (models trained elsewhere appear after this)."""
        catalog.register_models(registry)
        return gr.update(choices=registry.names(catalog.TASK))

    classify_inputs = [model, text, typo_rate, typo_seed, threshold]
    classify_outputs = [classified, predicted, summary, chart, trigrams, correct_to, typo_plot]
    classify.click(predict, classify_inputs, classify_outputs, api_name="intent_predict", **HEAVY)
    text.submit(predict, classify_inputs, classify_outputs, api_visibility="private")
    typo_rate.release(predict, classify_inputs, classify_outputs, api_visibility="private")
    def model_info_of(name: str | None) -> str:
        """How a model was trained and chosen, and how it scored."""
        return _model_info(ctx, name)

    model.change(model_info_of, model, model_info, api_name="intent_model_info")
    refresh.click(refresh_models, None, model, api_name="intent_models")
    accept.click(accept_prediction, [model, classified, predicted, ctx.annotator], feedback, api_name="intent_accept")
    correct.click(decide, [model, classified, predicted, correct_to, ctx.annotator], feedback,
                  api_name="intent_correct")
    retrain.click(retrain_model, model, [feedback, model], api_name="intent_retrain", **HEAVY)
    train_button.click(train, [train_file, test_file, model_name, pipeline, budget, train_threshold], panel.job_id,
                       api_name="intent_train")
    panel.follow(ctx, JOB.name, show_result, [train_status, model])
