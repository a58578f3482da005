"""Training throughput of the lab's default against the guide's recipe and a good-defaults Trainer.

Same data (rotten_tomatoes, the same train/test rows), same model (offline MiniLM), same hyperparameters
(lr 5e-5, batch 16, max_length 128, 1 epoch, seed 42), same machine, one process, one after the other:

  (a) the guide's recipe: tokenizer pads every text to max_length, plain `Trainer`, default collator
  (b) good defaults: `DataCollatorWithPadding` (dynamic padding), plain `Trainer`
  (c) the lab's default: `fine_tune_lab.train.train` — dynamic padding, seeded length-grouped batches,
      precision auto (bf16 where the CPU/GPU has it natively, else fp32)
  (d) the lab's default forced to fp32 — separates batching from the number format

Prints samples/s and test accuracy of each, and the ratios (c)/(a), (c)/(b), (d)/(a), (d)/(b).
Then the dashboard/callback overhead: a run of (c) with a live `TrainMonitor` attached (plots rebuilt at
every throttled event), timing every listener call; overhead = time inside the callbacks / training time.

Usage: python bench/bench_train_speed.py [--train N] [--test N]
"""
import argparse, os, time, tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np, pandas as pd, torch
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments, default_data_collator)
from transformers.utils import logging as tl

from fine_tune_lab.core import TrainConfig
from fine_tune_lab.data import load_splits
from fine_tune_lab.models import resolve_model
from fine_tune_lab.train import MetricsLog, train

tl.set_verbosity_error()


def plain_trainer(splits, pad_to_max: bool, out: Path, n_train: int):
    "The guide's recipe (pad_to_max) or good defaults (dynamic padding) with a plain Trainer."
    import datasets
    path = resolve_model("minilm")
    tok = AutoTokenizer.from_pretrained(path)
    labels = splits.labels
    def ds(df):
        enc = tok(df["text"].tolist(), truncation=True, max_length=128, padding="max_length" if pad_to_max else False)
        return datasets.Dataset.from_dict({**{k: enc[k] for k in enc.keys()}, "labels": [labels.index(l) for l in df["label"]]})
    train_ds, test_ds = ds(splits["train"]), ds(splits["test"])
    torch.manual_seed(42)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    args = TrainingArguments(str(out), num_train_epochs=1, per_device_train_batch_size=16, learning_rate=5e-5, seed=42,
                             report_to=[], save_strategy="no", disable_tqdm=True, logging_steps=50, use_cpu=not torch.cuda.is_available())
    tr = Trainer(model=model, args=args, train_dataset=train_ds,
                 data_collator=default_data_collator if pad_to_max else DataCollatorWithPadding(tok))
    t0 = time.perf_counter(); tr.train(); secs = time.perf_counter() - t0
    pred = tr.predict(test_ds)                       # a plain Trainer evaluates in order: split order
    correct = pd.Series(pred.predictions.argmax(-1) == pred.label_ids, index=splits["test"]["row"].values).sort_index()
    return n_train / secs, float(correct.mean()), secs, correct.to_numpy()


def lab(precision: str, out: Path, n_train: int, n_test: int, log=None):
    cfg = TrainConfig(model="minilm", data="rotten_tomatoes", epochs=1, max_train_samples=n_train, max_eval_samples=n_test,
                      val_size=0.1, test_size=0.1, precision=precision, output_dir=str(out), logging_steps=50)
    res = train(cfg, progress=False, quiet=True, log=log)
    secs = res.results["train"]["runtime_s"]
    p = pd.read_json(res.path / "predictions.jsonl", lines=True).sort_values("row")   # by row, as (a) and (b)
    return n_train / secs, res.results["test"]["accuracy"], secs, (p["label"] == p["pred"]).to_numpy()


def overhead(out: Path, n_train: int, n_test: int):
    "Share of training time spent inside the metrics log and a live monitor's listener."
    from fine_tune_lab.ui.train import TrainMonitor
    log = MetricsLog()
    mon = TrainMonitor(log, live=True, interval=0.5)
    spent = [0.0, 0]
    inner = mon._on_event
    def timed(kind, payload):
        t = time.perf_counter(); inner(kind, payload); spent[0] += time.perf_counter() - t; spent[1] += 1
    log.listeners = [timed]
    for name in ("record", "set_progress"):               # time the log's own work too (file appends, fsync)
        f = getattr(log, name)
        def wrap(*a, _f=f, **k):
            t = time.perf_counter(); r = _f(*a, **k); spent[0] += time.perf_counter() - t; return r
        setattr(log, name, wrap)
    sps, acc, secs, _ = lab("auto", out, n_train, n_test, log=log)
    return spent[0] / secs, spent[1], mon.redraws, secs


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--train", type=int, default=2000); ap.add_argument("--test", type=int, default=600)
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="ftlab-speed-"))
    splits = load_splits("rotten_tomatoes", max_train_samples=a.train, max_eval_samples=a.test)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu bf16: "
          f"{getattr(torch.cpu, '_is_avx512_bf16_supported', lambda: False)()}; train {len(splits['train'])}, test {len(splits['test'])}")
    rows = {}
    rows["(a) guide: pad to max_length"] = plain_trainer(splits, True, out / "a", a.train)
    rows["(b) plain Trainer + DataCollatorWithPadding"] = plain_trainer(splits, False, out / "b", a.train)
    rows["(c) lab default (auto precision)"] = lab("auto", out / "c", a.train, a.test)
    rows["(d) lab default, fp32"] = lab("fp32", out / "d", a.train, a.test)
    print(f"\n{'variant':48s} {'samples/s':>10s} {'train s':>8s} {'test acc':>9s}")
    for k, (sps, acc, secs, _) in rows.items(): print(f"{k:48s} {sps:10.1f} {secs:8.1f} {acc:9.4f}")
    s = {k[:3]: v for k, v in rows.items()}
    print(f"\nratios (samples/s): c/a {s['(c)'][0]/s['(a)'][0]:.2f}x  c/b {s['(c)'][0]/s['(b)'][0]:.2f}x  "
          f"d/a {s['(d)'][0]/s['(a)'][0]:.2f}x  d/b {s['(d)'][0]/s['(b)'][0]:.2f}x   (targets: >= 2x a, >= 1.2x b)")
    from fine_tune_lab.stats import mcnemar
    for x, y in (("(c)", "(a)"), ("(c)", "(b)"), ("(d)", "(b)")):
        m = mcnemar(s[y][3], s[x][3])   # same test rows in the same order
        print(f"accuracy {x} - {y}: {s[x][1]-s[y][1]:+.4f}  (McNemar on the {len(s[x][3])} test rows: "
              f"{m['a_wrong_b_right']} better, {m['a_right_b_wrong']} worse, p = {m['p_value']:.3f})")
    share, calls, redraws, secs = overhead(out / "e", a.train, a.test)
    print(f"\ndashboard/callback overhead: {share:.2%} of {secs:.1f} s training ({calls} listener calls, {redraws} redraws; target <= 3%)")


if __name__ == "__main__":
    main()
