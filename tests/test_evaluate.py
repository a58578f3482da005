"""Evaluation: offline metrics, `ftlab eval/compare/export`, flips to the queue, samples during training, safe export."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from fine_tune_lab.cli import main
from fine_tune_lab.core import RunDir
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.evaluation import compare_runs, evaluate_run, samples, send_flips
from fine_tune_lab.scores import load_metric, metric_path, predict_proba
from fine_tune_lab.export import export_run
from fine_tune_lab.train import train


def test_metrics_match_libraries():
    import evaluate
    import sacrebleu
    from rouge_score import rouge_scorer
    from sklearn import metrics as skm
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 200).tolist(), rng.integers(0, 4, 200).tolist()
    for avg in ("macro", "micro", "weighted"):
        assert load_metric("precision").compute(predictions=p, references=y, average=avg)["precision"] == pytest.approx(skm.precision_score(y, p, average=avg))
        assert load_metric("recall").compute(predictions=p, references=y, average=avg)["recall"] == pytest.approx(skm.recall_score(y, p, average=avg))
    combo = evaluate.combine([str(metric_path("accuracy")), str(metric_path("matthews_correlation"))])
    assert combo.compute(predictions=p, references=y) == pytest.approx({"accuracy": skm.accuracy_score(y, p), "matthews_correlation": skm.matthews_corrcoef(y, p)})
    hyp = ["the cat sat on the mat today", "there is a dog in the garden", "hello world"]
    refs = [["the cat is on the mat today", "a cat sat on a mat"], ["a dog is in the garden", "there is a dog in a garden"], ["hello there world", "hi world"]]
    b = load_metric("bleu").compute(predictions=hyp, references=refs)
    sb = sacrebleu.corpus_bleu(hyp, [[r[0] for r in refs], [r[1] for r in refs]], smooth_method="none")
    assert b["bleu"] == pytest.approx(sb.score / 100) and b["translation_length"] == sb.sys_len
    assert load_metric("chrf").compute(predictions=hyp, references=refs)["score"] == pytest.approx(
        sacrebleu.corpus_chrf(hyp, [[r[0] for r in refs], [r[1] for r in refs]]).score)
    sc = rouge_scorer.RougeScorer(["rougeL"])
    r = load_metric("rouge").compute(predictions=hyp, references=[x[0] for x in refs], rouge_types=["rougeL"])
    assert r["rougeL"] == pytest.approx(np.mean([sc.score(x[0], h)["rougeL"].fmeasure for x, h in zip(refs, hyp)]))


@pytest.fixture
def two_runs(tmp_path, tiny_bert, reviews_csv):
    cfg = TrainConfig(model=tiny_bert, data=str(reviews_csv), epochs=1, output_dir=str(tmp_path / "runs"), precision="fp32",
                      run_name="a", eval_samples=4, val_size=0.2, test_size=0.3)
    a = train(cfg, progress=False, quiet=True)
    b = train(cfg.replace(run_name="b", learning_rate=3e-3, epochs=3), progress=False, quiet=True)
    return a, b


def test_eval_other_data_maps_labels_by_name(tmp_path, two_runs, reviews_csv, capsys):
    a, _ = two_runs
    df = pd.read_csv(reviews_csv).rename(columns={"review": "body", "sentiment": "tag"})
    df = df.iloc[::-1]                                      # another order: labels matched by name, not position
    df.to_csv(tmp_path / "other.csv", index=False)
    assert main(["eval", str(a.path), "--data", str(tmp_path / "other.csv"), "--text-col", "body", "--label-col", "tag"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "f1_macro" in out and "matthews_correlation" in out and "roc_auc" in out and "per class" in out
    df.assign(tag=df["tag"].replace({"neg": "negative"})).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["eval", str(a.path), "--data", str(tmp_path / "bad.csv"), "--text-col", "body", "--label-col", "tag"]) == 2
    err = capsys.readouterr().err
    assert "labels the model never learned: ['negative']" in err and "column 'tag'" in err and "neg, pos" in err


def test_eval_reproduces_run_test_accuracy(two_runs):
    a, _ = two_runs
    assert evaluate_run(a.path).metrics["accuracy"] == pytest.approx(a.results["test"]["accuracy"])


def test_compare_prints_table_and_pvalue(two_runs, capsys):
    a, b = two_runs
    assert main(["compare", str(a.path), str(b.path), "--n-boot", "300", "--send-flips"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "macro_f1" in out and "ci_low" in out and "McNemar" in out and "p = " in out
    c = compare_runs(a.path, b.path, 300)
    pa, pb = (pd.read_json(r.path / "predictions.jsonl", lines=True).set_index("row") for r in (a, b))
    right_a, right_b = pa["label"] == pa["pred"], (pb["label"] == pb["pred"]).loc[pa.index]
    assert c.mcnemar["a_wrong_b_right"] == int((~right_a & right_b).sum()) and len(c.flips) == int((right_a != right_b).sum())
    delta = c.table.set_index("metric").loc["accuracy"]
    assert delta["delta"] == pytest.approx(b.results["test"]["accuracy"] - a.results["test"]["accuracy"])
    assert delta["ci_low"] <= delta["delta"] <= delta["ci_high"]
    queued = [json.loads(l) for l in (b.path / "queues" / "flipped.jsonl").read_text().splitlines()]
    assert len(queued) == len(c.flips) and all(q["source"] == "compare" for q in queued)


def test_compare_refuses_different_data(tmp_path, tiny_bert, reviews_csv, two_runs, capsys):
    a, _ = two_runs
    c = train(TrainConfig(model=tiny_bert, data=str(reviews_csv), epochs=1, output_dir=str(tmp_path / "runs"), seed=9, precision="fp32"),
              progress=False, quiet=True)
    assert main(["compare", str(a.path), str(c.path)]) == 2
    assert "different test data" in capsys.readouterr().err


def test_samples_recorded_at_each_evaluation(two_runs, tmp_path, tiny_llama):
    _, b = two_runs
    s = samples(b.path)
    evals = sorted({r["step"] for r in b.run.metrics() if r["event"] == "eval"})      # once per evaluated step
    assert sorted(s["step"].unique().tolist()) == evals and len(s) == 4 * len(evals)
    assert s.groupby("step")["row"].apply(lambda r: sorted(set(r))).map(tuple).nunique() == 1   # the same fixed sample each time
    assert {"row", "text", "label", "pred", "confidence"} <= set(s.columns)
    lm = train(TrainConfig(task="causal-lm", model=tiny_llama, epochs=1, max_length=32, output_dir=str(tmp_path / "lm"),
                           eval_samples=2, max_train_samples=20, max_eval_samples=6), progress=False, quiet=True)
    g = samples(lm.path)
    assert sorted(g["step"].unique()) == [0, lm.results["train"]["steps"]] and len(g) == 4   # before fine-tuning, and after
    assert {"prompt", "greedy", "sampled", "decoding"} <= set(g.columns) and g["decoding"][0]["max_new_tokens"] == 32


def test_export_reloads_and_reproduces_accuracy(tmp_path, two_runs, capsys):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    a, _ = two_runs
    assert main(["export", str(a.path), "--out", str(tmp_path / "exp")]) == 0
    out = tmp_path / "exp"
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "fine_tune_lab.yaml"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    m = AutoModelForSequenceClassification.from_pretrained(out, use_safetensors=True)
    assert m.config.id2label == {0: "neg", 1: "pos"}
    preds = pd.read_json(a.path / "predictions.jsonl", lines=True)
    p = predict_proba(m, AutoTokenizer.from_pretrained(out), preds["text"].tolist())
    acc = float(np.mean([m.config.id2label[i] == l for i, l in zip(p.argmax(-1), preds["label"])]))
    assert acc == pytest.approx(a.results["test"]["accuracy"])
    card = (out / "README.md").read_text()
    for part in ("base_model:", "## Data", "| train |", "## Training", "| learning_rate |", "## Results (test split)", "| accuracy |",
                 "## Intended use and limits"):
        assert part in card, part
    assert main(["export", str(a.path), "--out", str(out)]) == 2 and "not empty" in capsys.readouterr().err


def test_export_refuses_pickled_weights_and_unfinished_runs(tmp_path, two_runs, capsys):
    a, _ = two_runs
    (a.path / "model" / "pytorch_model.bin").write_bytes(b"not really")
    assert main(["export", str(a.path), "--out", str(tmp_path / "x")]) == 2
    assert "pickled weights" in capsys.readouterr().err
    RunDir(a.path).set_status("stopped")
    assert main(["export", str(a.path), "--out", str(tmp_path / "y")]) == 2
    assert "not finished" in capsys.readouterr().err


def test_lora_export_adapter_and_merged_agree(tmp_path, tiny_bert, reviews_csv):
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    r = train(TrainConfig(model=tiny_bert, data=str(reviews_csv), epochs=1, lora=True, lora_r=4, learning_rate=5e-3,
                          output_dir=str(tmp_path), precision="fp32"), progress=False, quiet=True)
    ad, mg = export_run(r.path, tmp_path / "adapter"), export_run(r.path, tmp_path / "merged", merge=True)
    assert (ad / "adapter_config.json").exists() and not (mg / "adapter_config.json").exists()
    texts = pd.read_json(r.path / "predictions.jsonl", lines=True)["text"].tolist()
    tok = AutoTokenizer.from_pretrained(mg)
    from fine_tune_lab.models import label_kwargs
    assert "AutoPeftModelForSequenceClassification.from_pretrained(FOLDER, num_labels=len(labels)" in (ad / "README.md").read_text()
    p1 = predict_proba(AutoPeftModelForSequenceClassification.from_pretrained(ad, **label_kwargs(["neg", "pos"])).eval(), tok, texts)
    p2 = predict_proba(AutoModelForSequenceClassification.from_pretrained(mg).eval(), tok, texts)
    assert np.allclose(p1, p2, atol=1e-5)
    assert evaluate_run(r.path).metrics["accuracy"] == pytest.approx(r.results["test"]["accuracy"])


def test_evaluate_notebook_headless(tmp_path, two_runs):
    from conftest import ROOT
    from fine_tune_lab.batch import run_notebook
    a, b = two_runs
    out = run_notebook(ROOT / "nbs/tutorials/evaluate.ipynb", {"run_dir": str(b.path), "compare_with": str(a.path), "live": False,
                                                               "export_to": str(tmp_path / "exp")}, tmp_path / "o.ipynb")
    assert out.ok, out.error
    assert out.results["metrics"]["accuracy"] == pytest.approx(b.results["test"]["accuracy"])
    assert "p_value" in out.results["compare"]["mcnemar"] and (tmp_path / "exp" / "README.md").exists()


@pytest.mark.slow
def test_real_encoder_export_reproduces_accuracy(tmp_path):
    "The offline MiniLM, briefly fine-tuned (auto precision), exported and scored again: the same test accuracy."
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    r = train(TrainConfig(model="minilm", epochs=1, max_train_samples=320, max_eval_samples=200, output_dir=str(tmp_path)),
              progress=False, quiet=True)
    out = export_run(r.path, tmp_path / "exp")
    m = AutoModelForSequenceClassification.from_pretrained(out, use_safetensors=True).eval()
    preds = pd.read_json(r.path / "predictions.jsonl", lines=True)
    p = predict_proba(m, AutoTokenizer.from_pretrained(out), preds["text"].tolist(), precision=r.results["precision"])
    acc = float(np.mean([m.config.id2label[i] == l for i, l in zip(p.argmax(-1), preds["label"])]))
    assert acc == pytest.approx(r.results["test"]["accuracy"], abs=1 / len(preds))
