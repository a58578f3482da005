"""Prediction speed: the lab's evaluation against a plain `Trainer.predict` with default arguments (issue 20).

One fine-tuned model (a run folder given with --run, else a fresh 1-epoch run of the default on --train rows),
its own test split, the same machine and process; variants interleaved within each repeat:

  (a) plain `Trainer(model, TrainingArguments(output_dir), processing_class=tok).predict(test)`: transformers'
      defaults (8 rows per batch, rows in the split's order, padding per batch, fp32)
  (b) the lab's run evaluation: the lab's trainer (`lab_trainer(Trainer)`) predicting as a run does — rows
      sorted by length, 64 per batch, the run's precision (bf16 autocast where it trained in bf16)
  (c) the lab's `predict_proba` (the Evaluate tab, `ftlab evaluate`): length-sorted batches of 64, dynamic
      padding, `inference_mode`, the run's precision
  (d) (c) in fp32: what sorting and batching alone give

For each: rows/s over the prediction, and the share of test rows whose argmax equals (a)'s. Medians over
--repeats; the ratios against (a) come last (target: (c)/(a) >= 3x with >= 99.9% identical argmax).

Usage: python bench/bench_eval.py [--run RUN] [--train N] [--repeats R]
"""
import argparse, os, statistics, tempfile, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np, torch
from transformers import Trainer, TrainingArguments
from transformers.utils import logging as tl

from fine_tune_lab.config import TrainConfig
from fine_tune_lab.core import RunDir
from fine_tune_lab.evaluation import load_run_model
from fine_tune_lab.prepare import prepare
from fine_tune_lab.scores import predict_proba
from fine_tune_lab.tokens import tokenize_classification
from fine_tune_lab.trainer import lab_trainer
from fine_tune_lab.train import train

tl.set_verbosity_error()


def timed(fn):
    t = time.perf_counter(); out = fn(); return out, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="a finished classification run (default: train one)")
    ap.add_argument("--train", type=int, default=2000, help="training rows of the fresh run")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}; torch threads {torch.get_num_threads()}", flush=True)
    if a.run: run = RunDir(a.run)
    else:
        out = tempfile.mkdtemp(prefix="bench-eval-")
        run = train(TrainConfig(max_train_samples=a.train, epochs=1, output_dir=out, baseline=False, data_map=0), progress=False, quiet=True).run
    cfg = run.config()
    model, tok, _ = load_run_model(run.path)
    model.eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    precision = run.read_json("env.json", {}).get("precision", "fp32")
    test = prepare(cfg)["test"].reset_index(drop=True)
    texts = test["text"].tolist()
    ds = tokenize_classification(test, tok, cfg.max_length, {l: i for i, l in enumerate(labels)})
    order = np.argsort(ds["length"], kind="stable")
    print(f"run {run.path.name}: {len(texts):,} test rows, precision {precision}", flush=True)

    tmp = tempfile.mkdtemp(prefix="bench-eval-args-")
    def plain():
        tr = Trainer(model=model, args=TrainingArguments(output_dir=tmp, report_to=[], use_cpu=not torch.cuda.is_available()), processing_class=tok)
        return tr.predict(ds).predictions.argmax(-1)
    def lab_run():
        args = TrainingArguments(output_dir=tmp, report_to=[], per_device_eval_batch_size=cfg.eval_batch_size, bf16=precision == "bf16",
                                 use_cpu=not torch.cuda.is_available())
        pred = lab_trainer(Trainer)(model=model, args=args, processing_class=tok).predict(ds.select(order)).predictions.argmax(-1)
        back = np.empty_like(pred); back[order] = pred
        return back
    variants = {"(a) plain Trainer.predict": plain, "(b) lab run evaluation": lab_run,
                "(c) lab predict_proba": lambda: predict_proba(model, tok, texts, cfg.max_length, cfg.eval_batch_size, precision).argmax(-1),
                "(d) lab predict_proba, fp32": lambda: predict_proba(model, tok, texts, cfg.max_length, cfg.eval_batch_size, "fp32").argmax(-1)}
    secs, preds = {k: [] for k in variants}, {}
    for rep in range(a.repeats):
        for k, fn in variants.items():
            preds[k], s = timed(fn); secs[k].append(s)
        print(f"repeat {rep + 1}: " + ", ".join(f"{k.split()[0]} {s[-1]:.2f} s" for k, s in secs.items()), flush=True)
    ref = preds["(a) plain Trainer.predict"]
    print(f"\n| variant | rows/s | seconds (median of {a.repeats}) | argmax = (a) |\n|---|---|---|---|")
    med = {k: statistics.median(v) for k, v in secs.items()}
    for k in variants:
        print(f"| {k} | {len(texts) / med[k]:,.0f} | {med[k]:.2f} | {np.mean(preds[k] == ref):.4%} |")
    base = med["(a) plain Trainer.predict"]
    print("\n" + "; ".join(f"{k.split()[0]}/(a) {base / med[k]:.2f}x" for k in variants if not k.startswith("(a)")))
    c = "(c) lab predict_proba"
    met = base / med[c] >= 3 and np.mean(preds[c] == ref) >= 0.999
    print(f"target (c)/(a) >= 3x with >= 99.9% identical argmax: {'met' if met else 'NOT met'}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
