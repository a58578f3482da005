"""End-to-end training runs: tiny random models for the mechanics, the real offline encoder for learning."""
import json

import pandas as pd
import pytest

from fine_tune_lab.cli import main
from fine_tune_lab.core import RunDir
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.train import resume, train


def test_cli_train_tiny_classifier(capsys, tmp_path, tiny_bert, reviews_csv):
    code = main(["train", "--model", tiny_bert, "--data", str(reviews_csv), "--epochs", "1", "--batch-size", "8",
                 "--output-dir", str(tmp_path / "runs"), "--run-name", "t1", "--quiet", "--logging-steps", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "accuracy" in out and "macro_f1" in out and "test" in out
    run = RunDir(tmp_path / "runs" / "t1")
    assert run.status == "finished"
    cfg = run.config()
    assert (cfg.text_col, cfg.label_col) == (None, None)  # inferred, config keeps what the user gave
    data = run.read_json("data.json")
    assert (data["text_col"], data["label_col"]) == ("review", "sentiment")
    assert data["labels"] == ["neg", "pos"] and len(data["hash"]) == 64
    assert sum(data["sizes"].values()) == 120
    res = run.read_json("results.json")
    assert 0 <= res["test"]["accuracy"] <= 1
    preds = pd.read_json(run / "predictions.jsonl", lines=True)
    assert len(preds) == data["sizes"]["test"]
    assert set(preds["pred"]) <= {"neg", "pos"}
    assert (run / "model" / "config.json").exists() and (run / "model" / "tokenizer.json").exists()
    saved = json.loads((run / "model" / "config.json").read_text())
    assert saved["id2label"] == {"0": "neg", "1": "pos"}
    env = run.read_json("env.json")
    assert env["versions"]["torch"] and env["versions"]["transformers"]
    events = [r["event"] for r in run.metrics()]
    assert "train" in events and "eval" in events and events[-1] == "test"


def test_run_names_never_overwrite(tmp_path, tiny_bert, reviews_csv):
    cfg = TrainConfig(model=tiny_bert, data=str(reviews_csv), epochs=1, output_dir=str(tmp_path), run_name="same",
                      max_train_samples=16)
    a = train(cfg, progress=False, quiet=True)
    b = train(cfg, progress=False, quiet=True)
    assert a.path.name == "same" and b.path.name == "same-2"
    assert (a.path / "model").exists() and (b.path / "model").exists()


def test_same_seed_same_result(tmp_path, tiny_bert, reviews_csv):
    cfg = TrainConfig(model=tiny_bert, data=str(reviews_csv), epochs=1, output_dir=str(tmp_path), max_train_samples=32)
    a = train(cfg, progress=False, quiet=True).results
    b = train(cfg, progress=False, quiet=True).results
    assert a["train"]["loss"] == b["train"]["loss"]
    assert a["test"] == b["test"]


def test_resume_adds_epochs(tmp_path, tiny_bert, reviews_csv):
    cfg = TrainConfig(model=tiny_bert, data=str(reviews_csv), epochs=1, output_dir=str(tmp_path), run_name="r")
    first = train(cfg, progress=False, quiet=True)
    second = resume(first.path, epochs=2, progress=False, quiet=True)
    assert second.path == first.path
    assert second.results["train"]["steps"] == 2 * first.results["train"]["steps"]
    assert RunDir(first.path).config().epochs == 2


def test_resume_refuses_other_data(tmp_path, tiny_bert, reviews_csv):
    from fine_tune_lab.core import ConfigError
    first = train(TrainConfig(model=tiny_bert, data=str(reviews_csv), epochs=1, output_dir=str(tmp_path)), progress=False, quiet=True)
    with pytest.raises(ConfigError, match="cannot change data"):
        resume(first.path, data="rotten_tomatoes")


def test_causal_lm_reports_perplexity_before_and_after(capsys, tmp_path, tiny_llama):
    code = main(["train", "--task", "causal-lm", "--model", tiny_llama, "--epochs", "2", "--max-length", "64",
                 "--learning-rate", "3e-3", "--output-dir", str(tmp_path), "--run-name", "lm", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "before" in out and "after" in out and "perplexity" in out
    res = RunDir(tmp_path / "lm").read_json("results.json")
    assert res["after"]["perplexity"] < res["before"]["perplexity"]


def test_failed_run_is_marked(tmp_path, tiny_bert, reviews_csv, monkeypatch):
    import fine_tune_lab.train as T
    def boom(*a, **k): raise RuntimeError("disk full")
    monkeypatch.setattr(T.Run, "finish", boom)
    with pytest.raises(RuntimeError):
        train(TrainConfig(model=tiny_bert, data=str(reviews_csv), epochs=1, output_dir=str(tmp_path), run_name="f"), progress=False, quiet=True)
    st = RunDir(tmp_path / "f").read_json("status.json")
    assert st["state"] == "failed" and "disk full" in st["message"]


@pytest.mark.slow
def test_real_encoder_learns(tmp_path):
    "The offline MiniLM, a few dozen steps on real reviews: the training loss falls and test accuracy beats chance."
    cfg = TrainConfig(model="minilm", data="rotten_tomatoes", epochs=1, max_train_samples=960, max_eval_samples=200,
                      batch_size=16, logging_steps=1, output_dir=str(tmp_path), learning_rate=1e-4)
    res = train(cfg, progress=False, quiet=True)
    losses = [r["loss"] for r in res.run.metrics() if r["event"] == "train" and "loss" in r]
    first, last = sum(losses[:15]) / 15, sum(losses[-15:]) / 15
    assert last < first - 0.05, losses
    assert res.results["test"]["accuracy"] > 0.6


@pytest.mark.slow
def test_real_decoder_converts_and_trains(tmp_path):
    "The offline SmolLM2 GGUF converts to a trainable folder and a few steps lower held-out perplexity."
    cfg = TrainConfig(task="causal-lm", epochs=1, max_length=64, batch_size=4, max_train_samples=16,
                      max_eval_samples=4, output_dir=str(tmp_path), learning_rate=1e-4)
    res = train(cfg, progress=False, quiet=True)
    assert res.results["after"]["perplexity"] < res.results["before"]["perplexity"]


def test_predictions_line_up_with_their_rows(tmp_path, tiny_bert):
    "Each stored prediction carries its own row's text and label (transformers 5 length-groups eval batches in a shuffled order)."
    rows = [(f"a {'wonderful' if i % 2 else 'terrible'} film {i}" + " and more" * (i % 9), "pos" if i % 2 else "neg") for i in range(150)]
    src = pd.DataFrame(rows, columns=["text", "label"])
    src.to_csv(tmp_path / "d.csv", index=False)
    r = train(TrainConfig(model=tiny_bert, data=str(tmp_path / "d.csv"), epochs=1, output_dir=str(tmp_path / "runs"), test_size=0.3),
              progress=False, quiet=True)
    p = pd.read_json(r.path / "predictions.jsonl", lines=True)
    assert len(p) == 45
    assert (src.loc[p["row"], "text"].values == p["text"].values).all() and (src.loc[p["row"], "label"].values == p["label"].values).all()
    assert (p["label"] == p["pred"]).mean() == pytest.approx(r.results["test"]["accuracy"])
