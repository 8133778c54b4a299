"""The Intent tab through its API: classify, odd inputs, typos, corrections, retraining, training from CSV."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from engine.annotations import default_store
from tests.conftest import wait_for_job


def classify(client, text: str, model: str = "intent:webapplications", rate: float = 0.0,  # type: ignore[no-untyped-def]
             threshold: float = 0.0):
    return client.predict(model, text, rate, 0, threshold, api_name="/intent_predict")


def test_classify_shows_intent_chart_and_trigrams(client) -> None:  # type: ignore[no-untyped-def]
    used, intent, summary, chart, trigrams, correct_to, typo_plot = classify(client,
                                                                            "How do I delete my Facebook account?")
    assert used == "How do I delete my Facebook account?"
    assert intent == "Delete Account" == correct_to["value"]
    assert len(correct_to["choices"]) == 8
    assert "Delete Account" in summary and "n-grams are known" in summary and "probability" in summary
    assert "How the pipeline was chosen" in client.predict("intent:webapplications", api_name="/intent_model_info")
    assert chart is not None and typo_plot is not None
    tokens = [span["token"] for span in trigrams]
    assert tokens[0] in ("#ho", "how") and "delete" in "".join(tokens)
    scores = [span["class_or_confidence"] for span in trigrams if span["class_or_confidence"] is not None]
    assert max(abs(s) for s in scores) == pytest.approx(1.0)


def test_empty_huge_emoji_and_non_latin_text_get_an_answer(client) -> None:  # type: ignore[no-untyped-def]
    _, intent, summary, _, trigrams, _, _ = classify(client, "   ")
    assert intent == "" and "Type a sentence" in summary and not trigrams
    _, intent, summary, _, trigrams, _, _ = classify(client, "delete my account " * 6_000)
    assert intent == "Delete Account" and "first 5,000 characters" in summary
    assert "more" in trigrams[-1]["token"]
    for text in ("😀🙃", "Как удалить аккаунт", "如何删除帐户"):
        _, intent, summary, _, _, _, _ = classify(client, text, threshold=0.9)
        assert intent == "out_of_scope" and "below the threshold" in summary


def test_typo_slider_perturbs_the_sentence_but_keeps_the_intent(client) -> None:  # type: ignore[no-untyped-def]
    used, intent, *_ = classify(client, "How do I delete my Facebook account?", rate=0.5)
    assert used != "How do I delete my Facebook account?" and len(used.split()) == 7
    assert intent == "Delete Account"


def test_correct_then_retrain_registers_a_model_that_learnt_it(client) -> None:  # type: ignore[no-untyped-def]
    text = "move my playlists to another streaming service"
    used, predicted, *_ = classify(client, text)
    target = "Export Data" if predicted != "Export Data" else "Sync Accounts"
    with pytest.raises(AppError, match="annotator"):
        client.predict("intent:webapplications", used, predicted, target, "", api_name="/intent_correct")
    message = client.predict("intent:webapplications", used, predicted, target, "tester", api_name="/intent_correct")
    assert "Corrected" in message and target in message
    message = client.predict("intent:webapplications", used, predicted, "tester", api_name="/intent_accept")
    assert "Accepted" in message
    labels = [a.label for a in default_store().annotations("intent", annotator="tester")]
    assert [label["decision"] for label in labels][-2:] == ["correct", "accept"]
    # the acceptance is the standing decision now; correct once more so that the correction stands
    client.predict("intent:webapplications", used, predicted, target, "tester", api_name="/intent_correct")
    message, update = client.predict("intent:webapplications", api_name="/intent_retrain")
    new_model = update["value"]
    assert new_model in [choice[0] for choice in update["choices"]]
    assert new_model.startswith("intent:webapplications-corrected") and "Retrained" in message
    assert classify(client, text, model=new_model)[1] == target


def test_train_from_csv_upload_runs_as_a_job_then_use_the_model(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = [("book a table for two", "restaurant"), ("reserve dinner tonight", "restaurant"),
            ("table for four at eight", "restaurant"), ("what's the weather", "weather"),
            ("will it rain tomorrow", "weather"), ("is it sunny outside", "weather")]
    train = tmp_path / "mine.csv"
    train.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    job_id = client.predict(handle_file(str(train)), None, "dinner-or-rain", "char-2-4", 30, 0,
                            api_name="/intent_train")
    job = wait_for_job(client, job_id)
    assert job["state"] == "done" and job["kind"] == "intent-train", job.get("error")
    model = job["result"]["name"]
    assert model.startswith("intent:dinner-or-rain") and "6 sentences, 2 intents" in job["result"]["report"]
    assert "calibrated probability" in job["result"]["report"]
    assert model in [choice[0] for choice in client.predict(api_name="/intent_models")["choices"]]
    assert classify(client, "will it rain", model=model)[1] == "weather"
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,intent\nhi,greet\n")
    failed = wait_for_job(client, client.predict(handle_file(str(bad)), None, "bad", "auto", 30, 0,
                                                 api_name="/intent_train"))
    assert failed["state"] == "failed" and "line 1" in failed["error"]
