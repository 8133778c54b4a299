"""Intent tab: classify a sentence, see why, perturb it with typos, correct the model, train your own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from engine.errors import InputError
from engine.intent import catalog, classifiers
from engine.intent.augment import add_typos
from engine.intent.data import read_labelled
from engine.intent.model import OPTIONS, IntentConfig, IntentModel, ModelInfo, evaluate, fit
from engine.intent.plots import highlight_spans, probability_chart
from ui.common import HEAVY, AppContext, require_annotator, user_errors

INTRO = (
    "**Subword semantic hashing** (Shridhar et al. 2019): each word is padded with `#` and cut into letter "
    "trigrams (`video` → `#vi vid ide deo eo#`), weighted by TF-IDF and fed to a linear classifier, so "
    "misspelt and unseen words still share most features with known ones. One model per corpus of Braun "
    "et al. (2017) ships with the app; train your own from a CSV with `text,label` columns."
)
TRAINABLE = [name for name, spec in classifiers.SUITE.items() if spec.linear]


def _loaded(ctx: AppContext, name: str | None) -> IntentModel:
    if not name:
        raise InputError("Choose an intent model first.")
    return ctx.registry.get(name).model


def _model_info(ctx: AppContext, name: str | None) -> str:
    if not name:
        return "No intent model registered yet: train one below."
    spec = ctx.registry.spec(name)
    return f"{spec.provenance}\n\n**Intents ({len(spec.labels)}):** " + ", ".join(f"`{x}`" for x in spec.labels)


def build(ctx: AppContext) -> None:
    """Add the Intent tab to the current Blocks."""
    registry, store = ctx.registry, ctx.store
    catalog.register_models(registry)
    names = registry.names(catalog.TASK)
    defaults = IntentConfig()

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
                classify = gr.Button("Classify", variant="primary")
                classified = gr.Textbox(label="Text as classified", interactive=False, max_lines=4)
                predicted = gr.Textbox(label="Predicted intent", interactive=False, elem_id="intent-predicted")
                summary = gr.Markdown(elem_id="intent-summary")
            with gr.Column(scale=2):
                chart = gr.Plot(label="Top intents", show_label=False)
        trigrams = gr.HighlightedText(label="Trigrams behind the decision (red pushes towards the predicted intent, "
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
                        "corpus JSON. At least two intents. The optional test file gives accuracy and F1.")
            with gr.Row():
                train_file = gr.File(label="Training sentences", file_types=[".csv", ".jsonl", ".json"])
                test_file = gr.File(label="Test sentences (optional)", file_types=[".csv", ".jsonl", ".json"])
            model_name = gr.Textbox("my-intents", label="Model name")
            option_inputs: list[gr.components.Component] = []
            with gr.Row():
                for option in OPTIONS:
                    value = getattr(defaults, option.name)
                    if option.choices:
                        choices = TRAINABLE if option.name == "classifier" else list(option.choices)
                        option_inputs.append(gr.Dropdown(choices, value=value, label=option.label, info=option.help))
                    else:
                        option_inputs.append(gr.Checkbox(value=value, label=option.label, info=option.help))
            train_button = gr.Button("Train", variant="primary")
            train_status = gr.Markdown(elem_id="intent-train-status")

    @user_errors
    def predict(name: str | None, sentence: str, rate: float, seed: float | None) -> tuple[Any, ...]:
        intent_model = _loaded(ctx, name)
        sentence = sentence or ""
        if not sentence.strip():
            return "", "", "Type a sentence to classify.", None, [], gr.update(choices=list(intent_model.labels))
        used = add_typos(sentence, float(rate), int(seed or 0)) if rate else sentence
        result = intent_model.predict(used)
        lines = [f"**{result.intent}** ({result.probability_kind} {result.confidence:.2f}) by `{name}`."]
        known = sum(c.known for c in result.contributions)
        lines.append(f"{known} of {len(result.contributions)} trigrams are known to the model.")
        lines += [f"*{note}*" for note in result.notes]
        return (result.text, result.intent, "\n\n".join(lines), probability_chart(result), highlight_spans(result),
                gr.update(choices=list(intent_model.labels), value=result.intent))

    @user_errors
    def decide(name: str | None, sentence: str, guess: str, intent: str | None, annotator: str) -> str:
        who = require_annotator(annotator)
        if not sentence or not guess:
            raise InputError("Classify a sentence first, then accept or correct the prediction.")
        if not intent:
            raise InputError("Choose the correct intent in the list first.")
        saved = catalog.record_decision(store, name or "", sentence, guess, intent, who)
        verb = "Accepted" if saved.label["decision"] == "accept" else f"Corrected {guess} →"
        return f"{verb} **{intent}** for “{sentence[:80]}” (saved for {who}; undo in the Annotations tab)."

    @user_errors
    def retrain_model(name: str | None, progress: gr.Progress = gr.Progress()) -> tuple[str, dict]:
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
    def train(train_path: str | None, test_path: str | None, name: str, *values: Any,
              progress: gr.Progress = gr.Progress()) -> tuple[str, dict]:
        if not train_path:
            raise InputError("Upload a training file first (CSV with text,label columns, JSONL or corpus JSON).")
        config = IntentConfig(**{option.name: value for option, value in zip(OPTIONS, values)})
        data = read_labelled(train_path, "train", Path(train_path).name)
        test = read_labelled(test_path, "test", Path(test_path).name) if test_path else None
        info = ModelInfo(name=name or "my-intents", source=data.source)
        model_ = fit(data, config, info, lambda f, m: progress(f, desc=m))
        report = (f"Trained on {len(data):,} sentences, {len(data.intents)} intents in "
                  f"{model_.info.train_seconds:.2f} s.")
        if test is not None:
            metrics = evaluate(model_, test)
            model_.info = replace(model_.info, test={**metrics.to_json(), "source": test.source})
            report += (f" Test ({metrics.n} sentences): accuracy {metrics.accuracy:.3f}, micro-F1 "
                       f"{metrics.micro_f1:.3f}, weighted-F1 {metrics.weighted_f1:.3f}.")
        registered = catalog.save_user_model(model_, registry, info.name)
        return f"{report} Registered as **{registered}** and selected.", gr.update(
            choices=registry.names(catalog.TASK), value=registered)

    def refresh_models() -> dict:
        catalog.register_models(registry)
        return gr.update(choices=registry.names(catalog.TASK))

    classify_inputs = [model, text, typo_rate, typo_seed]
    classify_outputs = [classified, predicted, summary, chart, trigrams, correct_to]
    classify.click(predict, classify_inputs, classify_outputs, api_name="intent_predict")
    text.submit(predict, classify_inputs, classify_outputs, api_visibility="private")
    typo_rate.release(predict, classify_inputs, classify_outputs, api_visibility="private")
    model.change(lambda name: _model_info(ctx, name), model, model_info, api_name="intent_model_info")
    refresh.click(refresh_models, None, model, api_name="intent_models")
    accept.click(lambda n, s, g, a: decide(n, s, g, g, a), [model, classified, predicted, ctx.annotator],
                 feedback, api_name="intent_accept")
    correct.click(decide, [model, classified, predicted, correct_to, ctx.annotator], feedback,
                  api_name="intent_correct")
    retrain.click(retrain_model, model, [feedback, model], api_name="intent_retrain", **HEAVY)
    train_button.click(train, [train_file, test_file, model_name, *option_inputs], [train_status, model],
                       api_name="intent_train", **HEAVY)
